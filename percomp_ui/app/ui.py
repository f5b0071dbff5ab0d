"""The Gradio layer: components, events and their API names. Callbacks only translate between
components and :mod:`.views` / :mod:`.workbench`; every image goes out as PNG.

API (``gradio_client``): ``/load_sample``, ``/upload``, ``/set_roi_source``, ``/paint``,
``/set_model``, ``/set_bpp``, ``/set_alpha``, ``/set_codecs`` (all re-render, step by step: the
ROI slot first, then the other learned slots, the classical codecs at the same rate, the maps and
every number), ``/show`` (bit map, compare and zoom choices), ``/roi_to_brush`` and ``/rd_curves``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from ..classical import available_codecs
from ..errors import InputError, PercompError
from ..roi.mask import DEFAULT_ALPHA, check_alpha
from .sessions_tab import add_sessions_tabs
from .sweep import rd_sweep
from .views import Tab, View, chart, view
from .workbench import (
    APP_MAX_PIXELS, BASE, DEFAULT_BPP, DEFAULT_CODECS, ORIGINAL, ROI, CodecPool, Session, Settings, Snapshot,
    finish, mask_layer, painted_mask, roi_sources, sample_images, update,
)

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_SAMPLE = "kodim04.png"  # a Kodak portrait: the auto ROI finds the face
DEFAULT_SESSIONS_DIR = Path.home() / ".local" / "share" / "percomp" / "sessions"
CONCURRENCY = 2  # events computed at once; each uses every core through torch / the codec libraries
MAX_FILE_SIZE = "64mb"
BPP_RANGE = (0.05, 2.0, 0.01)
ALPHA_RANGE = (0.1, 5.0, 0.05)
ZOOMS = [1, 2, 4, 8]
CHART_INTERVAL_S = 1.5  # redraw the R-D chart at most this often while points come in (a redraw costs ~0.3 s)
PANEL_HEIGHT = 340  # pixels: the analysis panels, the editor and the gallery
COMPARE_HEIGHT = 600
CSS = "#status {min-height: 3em} .numbers table {font-size: 0.85em}"


def error_message(error: Exception) -> str:
    """The one line a user sees: the message of a percomp error, or the kind of an internal fault
    (whose traceback goes to the server log, never to the page)."""
    if isinstance(error, PercompError):
        return str(error)
    log.error("workbench callback failed", exc_info=error)
    return f"internal error: {type(error).__name__}: {error}"


def settings_from(model: str, source: str, bpp: float, alpha: float, codecs: list[str] | None) -> Settings:
    """Component values → :class:`Settings`, with one-line errors for values an API client may send."""
    try:
        bpp, alpha = float(bpp), float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"bpp and α must be numbers (got {bpp!r}, {alpha!r})") from None
    if not 0 < bpp <= 24:
        raise InputError(f"target bpp must be in (0, 24] (got {bpp:g})")
    return Settings(model, source, check_alpha(alpha), bpp, tuple(codecs or ()))


def build_app(zoo: Path | None = None, *, device: str | None = None, precision: str = "auto",
              samples: Path = ASSETS, max_pixels: int = APP_MAX_PIXELS, default_sample: str = DEFAULT_SAMPLE,
              default_codecs: tuple[str, ...] = DEFAULT_CODECS,
              sessions_dir: Path = DEFAULT_SESSIONS_DIR, refine_steps: int = 0) -> gr.Blocks:
    """The workbench, then the subjective-session tabs (Rate, Organise, Results on ``sessions_dir``),
    as a queued ``gr.Blocks`` (call ``.launch()``); models come from ``zoo``, the classical codecs
    ticked at first are ``default_codecs`` (those available here); ``refine_steps`` > 0 refines the
    latent of every learned encode (slower: ~1 s a step at 768×512 on 2 CPU cores)."""
    pool = CodecPool(zoo, device, precision, refine_steps)
    models = pool.zoo.names(BASE)
    if not models:
        raise InputError(f"no BASE model in the zoo {zoo or 'checkpoints/'}: nothing to show")
    sample_files = sample_images(samples)
    first_sample = default_sample if default_sample in sample_files else next(iter(sample_files), None)
    codecs = list(available_codecs())

    def tab_of(tab: Tab | None) -> Tab:
        """This browser tab's state, made on its first request."""
        return tab if tab is not None else Tab(Session(pool, max_pixels))

    with gr.Blocks(title="percomp workbench", css=CSS, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# percomp workbench\n{pool.describe()}")
        state = gr.State(None, delete_callback=lambda tab: tab.close() if tab is not None else None,
                         time_to_live=4 * 3600)
        with gr.Tabs():
            with gr.Tab("Workbench"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        sample = gr.Dropdown(list(sample_files), value=first_sample, label="Sample image",
                                             elem_id="sample")
                        upload = gr.File(label="…or upload an image", file_count="single", type="filepath",
                                         elem_id="upload")
                        source = gr.Radio(roi_sources(), value="auto", label="ROI source", elem_id="source")
                        model = gr.Dropdown(models, value=models[0], label="Model", elem_id="model")
                        bpp = gr.Slider(*BPP_RANGE[:2], value=DEFAULT_BPP, step=BPP_RANGE[2], elem_id="bpp",
                                        label="Target bpp (every file's real size ≤ target)")
                        alpha = gr.Slider(*ALPHA_RANGE[:2], value=DEFAULT_ALPHA, step=ALPHA_RANGE[2], elem_id="alpha",
                                          label="α (seed 003; smaller = more bits to the ROI)")
                        ticked = gr.CheckboxGroup(codecs, value=[c for c in default_codecs if c in codecs],
                                                  label="Classical codecs at the same rate", elem_id="codecs")
                        status = gr.Markdown(elem_id="status")
                    with gr.Column(scale=2):
                        editor = gr.ImageEditor(label="Paint the ROI (switches the source to 'painted')",
                                                type="numpy", format="png", sources=(), transforms=(),
                                                layers=False, image_mode="RGBA", elem_id="editor", height=PANEL_HEIGHT,
                                                brush=gr.Brush(colors=["#ff6000"], color_mode="fixed",
                                                               default_size=24))
                        to_brush = gr.Button("Start the brush from the current ROI", size="sm")
                with gr.Row(equal_height=True):
                    saliency = gr.Image(label="ROI source map", format="png", interactive=False, elem_id="saliency",
                                        height=PANEL_HEIGHT)
                    overlay = gr.Image(label="Smoothed ROI mask RM_2D (click: zoom centre)", format="png",
                                       interactive=False, elem_id="overlay", height=PANEL_HEIGHT)
                    bits = gr.Image(label="Bit allocation (bits per pixel, real likelihoods)", format="png",
                                    interactive=False, elem_id="bits", height=PANEL_HEIGHT)
                    flip = gr.Image(label="FLIP error of the right-hand reconstruction", format="png",
                                    interactive=False, elem_id="flip", height=PANEL_HEIGHT)
                with gr.Row():
                    bits_of = gr.Radio([ROI], value=ROI, label="Bits of", elem_id="bits-of", scale=1)
                    bits_caption = gr.Markdown(elem_id="bits-caption")
                gallery = gr.Gallery(label="Reconstructions at the target rate", format="png", columns=6,
                                     object_fit="contain", height=PANEL_HEIGHT, elem_id="gallery")
                numbers = gr.Dataframe(label="Numbers (bpp from real bytes)", interactive=False, wrap=True,
                                       elem_id="numbers", elem_classes="numbers")
                with gr.Row():
                    left = gr.Dropdown([ORIGINAL], value=ORIGINAL, label="Left", elem_id="left")
                    right = gr.Dropdown([ORIGINAL, ROI], value=ROI, label="Right", elem_id="right")
                    zoom_factor = gr.Radio(ZOOMS, value=1, label="Zoom (click the ROI mask to choose where)",
                                           elem_id="zoom")
                slider = gr.ImageSlider(label="Compare (drag the handle)", format="png", elem_id="slider",
                                        height=COMPARE_HEIGHT, max_height=COMPARE_HEIGHT)
                rd = gr.Image(label="R-D curves of this image (★ = current operating points)", format="png",
                              interactive=False, elem_id="rd")
                downloads = gr.File(label="Downloads: streams, PNG reconstructions, numbers (JSON)",
                                    file_count="multiple", interactive=False, elem_id="downloads")
            add_sessions_tabs(sessions_dir, zoo)

        view_inputs = [bits_of, left, right, zoom_factor]
        outputs = [state, status, source, editor, saliency, overlay, bits_of, bits, bits_caption, flip, gallery,
                   numbers, left, right, slider, downloads]

        def values(tab: Tab, v: View, source_value: str, editor_value: dict | None) -> list[Any]:
            """A view as one value per output; ``gr.skip()`` where the view leaves a panel as it is."""
            keep = lambda value: gr.skip() if value is None else value  # noqa: E731
            text = lambda path: None if path is None else str(path)  # noqa: E731 - Gradio takes str paths
            compare = v.compare
            pair = None if compare.pair is None else tuple(map(str, compare.pair))
            files = None if v.downloads is None else [str(p) for p in v.downloads]
            return [tab, v.status, source_value, keep(editor_value), text(v.saliency), text(v.overlay),
                    gr.update(choices=v.bits_choices, value=v.bits_of), keep(text(v.bits)), keep(v.bits_caption),
                    keep(text(v.flip)), [(str(p), caption) for p, caption in v.gallery],
                    {"headers": v.headers, "data": v.rows},
                    gr.update(choices=compare.choices, value=compare.left),
                    gr.update(choices=compare.choices, value=compare.right), keep(pair), keep(files)]

        def unchanged(tab: Tab | None) -> list[Any]:
            """Every panel as it is. A generator must yield this rather than nothing: Gradio would
            send empty values for a generator that ends without a yield."""
            return [tab if tab is not None else gr.skip()] + [gr.skip()] * (len(outputs) - 1)

        def failed(tab: Tab, error: Exception) -> list[Any]:
            """A one-line message in the status panel and a toast; every other panel stays as it was."""
            message = error_message(error)
            gr.Warning(message)
            return [tab, f"⚠ {message}"] + [gr.skip()] * (len(outputs) - 2)

        def run(tab: Tab | None, model_name: str, source_name: str, target: float, alpha_value: float,
                codec_names: list[str] | None, shown: list[Any],
                image: tuple[str | Path, str] | None = None) -> Iterator[list[Any]]:
            """Open ``image`` when given, then render the settings step by step: the learned slots, ROI
            first (:func:`update`), then the classical codecs, the maps and the slow numbers
            (:func:`finish`). A newer request of this tab stops it at its next step. The painted ROI
            is the tab's last brush strokes (:func:`paint`): only that event reads the editor, whose
            value the browser must export first (seconds, and now and then never)."""
            tab = tab_of(tab)
            generation = tab.begin()
            try:
                new_editor = None
                if image is not None:
                    loaded = tab.session.open(*image)
                    tab.zoom_centre, tab.painted = None, None
                    new_editor = {"background": loaded.rgb, "layers": [], "composite": None}
                    source_name = "auto" if source_name == "painted" else source_name
                settings = settings_from(model_name, source_name, target, alpha_value, codec_names)
                painted = tab.painted

                def steps() -> Iterator[tuple[Snapshot, bool]]:
                    quick = None
                    for quick in update(tab.session, settings, painted):
                        yield quick, False
                    for snapshot in finish(tab.session, settings, quick):
                        yield snapshot, True

                for snapshot, detailed in steps():
                    if not tab.store(generation, settings, snapshot):  # a newer request of this tab took over
                        yield unchanged(tab)
                        return
                    panels = view(tab, snapshot, shown[0], shown[1], shown[2], int(shown[3]), detailed=detailed)
                    yield values(tab, panels, settings.source, new_editor)
                    new_editor = None  # the brush editor gets a new image once
                tab.finished(generation)
            except Exception as error:  # noqa: BLE001 - see failed()
                yield failed(tab, error)

        def refresh(tab: Tab | None, model_name: str, source_name: str, target: float, alpha_value: float,
                    codec_names: list[str], bits_choice: str, left_choice: str, right_choice: str,
                    factor: int) -> Iterator[list[Any]]:
            yield from run(tab, model_name, source_name, target, alpha_value, codec_names,
                           [bits_choice, left_choice, right_choice, factor])

        def paint(tab: Tab | None, model_name: str, source_name: str, target: float, alpha_value: float,
                  codec_names: list[str], editor_value: dict | None, bits_choice: str, left_choice: str,
                  right_choice: str, factor: int) -> Iterator[list[Any]]:
            strokes = painted_mask((editor_value or {}).get("layers"))
            if strokes is None:  # a new image, or an emptied layer
                yield unchanged(tab)
                return
            tab = tab_of(tab)
            tab.painted = strokes
            yield from run(tab, model_name, "painted", target, alpha_value, codec_names,
                           [bits_choice, left_choice, right_choice, factor])

        def load_sample(tab: Tab | None, name: str, model_name: str, source_name: str, target: float,
                        alpha_value: float, codec_names: list[str], bits_choice: str, left_choice: str,
                        right_choice: str, factor: int) -> Iterator[list[Any]]:
            path = sample_files.get(name)
            if path is None:
                yield failed(tab_of(tab),
                             InputError(f"unknown sample {name!r} (samples: {', '.join(sample_files) or 'none'})"))
                return
            yield from run(tab, model_name, source_name, target, alpha_value, codec_names,
                           [bits_choice, left_choice, right_choice, factor], image=(path, name))

        def upload_image(tab: Tab | None, file: str | None, model_name: str, source_name: str, target: float,
                         alpha_value: float, codec_names: list[str], bits_choice: str, left_choice: str,
                         right_choice: str, factor: int) -> Iterator[list[Any]]:
            if not file:
                yield unchanged(tab)
                return
            yield from run(tab, model_name, source_name, target, alpha_value, codec_names,
                           [bits_choice, left_choice, right_choice, factor], image=(file, Path(file).name))

        def show(tab: Tab | None, bits_choice: str, left_choice: str, right_choice: str,
                 factor: int) -> Iterator[list[Any]]:
            """Redraw the bit map, compare view and FLIP map for new choices; nothing is re-encoded."""
            if tab is None or tab.snapshot is None:
                yield unchanged(tab)
                return
            try:
                panels = view(tab, tab.snapshot, bits_choice, left_choice, right_choice, int(factor), detailed=True)
                yield values(tab, panels, tab.settings.source, None)
            except Exception as error:  # noqa: BLE001 - see failed()
                yield failed(tab, error)

        def set_zoom_centre(tab: Tab | None, bits_choice: str, left_choice: str, right_choice: str, factor: int,
                            event: gr.SelectData) -> Iterator[list[Any]]:
            if tab is None or tab.snapshot is None or not isinstance(event.index, (list, tuple)):
                yield unchanged(tab)
                return
            height, width = tab.session.rgb.shape[:2]
            tab.zoom_centre = (event.index[0] / width, event.index[1] / height)
            yield from show(tab, bits_choice, left_choice, right_choice, max(int(factor), 2))

        def roi_to_brush(tab: Tab | None) -> Any:
            if tab is None or tab.snapshot is None:
                return gr.skip()
            return {"background": tab.session.rgb, "layers": [mask_layer(tab.snapshot.masks.smoothed)],
                    "composite": None}

        def sweep(tab: Tab | None, progress: gr.Progress = gr.Progress()) -> Iterator[Any]:
            """The R-D curves of the current image and settings, redrawn after every point."""
            generation = None if tab is None else tab.claim_sweep()
            if generation is None:
                yield gr.skip()
                return
            drawn = 0.0
            try:
                for step in rd_sweep(tab.session, tab.settings, tab.snapshot.masks):
                    if not tab.current(generation):  # the settings changed: a new sweep follows
                        yield gr.skip()
                        return
                    progress(step.done / max(step.total, 1), desc=f"R-D curves: {step.done}/{step.total} points")
                    if step.done == step.total or time.monotonic() - drawn >= CHART_INTERVAL_S:
                        yield chart(tab, step.curves)
                        drawn = time.monotonic()
            except Exception as error:  # noqa: BLE001 - see failed()
                gr.Warning(f"R-D curves stopped: {error_message(error)}")
                yield gr.skip()

        image_inputs = [model, source, bpp, alpha, ticked] + view_inputs
        settings_inputs = [state] + image_inputs
        # Two queues: "work" renders (an update, or a redraw of the view choices), "sweep" the R-D
        # curves; a tab's slow sweep never holds up another tab's slider. A new setting starts at
        # once ("multiple") and the update it replaces stops at its next step (Tab.current).
        work = dict(outputs=outputs, concurrency_id="work", trigger_mode="multiple")
        redraw = dict(outputs=outputs, concurrency_id="work", trigger_mode="always_last")
        events = [
            demo.load(load_sample, [state, sample] + image_inputs, api_name=False, **work),
            sample.input(load_sample, [state, sample] + image_inputs, api_name="load_sample", **work),
            upload.upload(upload_image, [state, upload] + image_inputs, api_name="upload", **work),
            source.input(refresh, settings_inputs, api_name="set_roi_source", **work),
            editor.input(paint, [state, model, source, bpp, alpha, ticked, editor] + view_inputs, api_name="paint",
                         **work),
            model.input(refresh, settings_inputs, api_name="set_model", **work),
            bpp.release(refresh, settings_inputs, api_name="set_bpp", **work),
            alpha.release(refresh, settings_inputs, api_name="set_alpha", **work),
            ticked.input(refresh, settings_inputs, api_name="set_codecs", **work),
        ]
        for component in view_inputs:
            component.input(show, [state] + view_inputs, api_name="show" if component is bits_of else False, **redraw)
        overlay.select(set_zoom_centre, [state] + view_inputs, api_name=False, **redraw)
        to_brush.click(roi_to_brush, [state], [editor], api_name="roi_to_brush")
        # Each update is followed by one sweep of its image and settings, whichever chain asks
        # first (Gradio also runs the chain after events that changed nothing): see Tab.claim_sweep.
        for index, event in enumerate(events):
            event.then(sweep, [state], [rd], api_name="rd_curves" if index == 0 else False,
                       concurrency_id="sweep", concurrency_limit=1, trigger_mode="multiple")
    demo.queue(default_concurrency_limit=CONCURRENCY)
    return demo

