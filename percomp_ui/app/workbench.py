"""The workbench without gradio: which reconstructions exist, one session's image and caches, and
the numbers and pictures of every panel.

.. code-block:: none

    image ─► masks(source, painted)            cached per (source, painted digest)
          ─► prepare(model)                    cached per model: the analysis transform g_a
          ─► render(slot, bpp, masks)          cached per (condition, bpp, mask): real bytes ≤ bpp
          ─► quick / full metrics, bit map     cached per (result, mask)

An α change therefore re-runs only the ROI slot's rate search and synthesis; a bpp change reuses
g_a and the masks; a new mask leaves the BASE and classical bytes alone and only re-measures them.
Models are loaded once per process (:class:`CodecPool`, read-only afterwards, shared by all
sessions); everything else lives in one :class:`Session` per browser tab.
"""
from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..classical import available_codecs
from ..codec import LearnedCodec, PreparedImage
from ..conditions import Condition, Rendered, render
from ..container import Stream
from ..errors import InputError
from ..hardware import describe_device
from ..images import LoadedImage, load_image
from ..metrics import flip_map, lpips_available, lpips_distance, ms_ssim_rgb, psnr_rgb
from ..roi.mask import DEFAULT_ALPHA, RoiMasks, RoiRequest, roi_masks
from ..roi.metrics import region_metrics, region_psnr, roi_region
from ..roi.sources import SALIENCY_WEIGHTS_ENV, SOURCE_NAMES
from ..zoo import SEED000_FAMILY, list_cards
from .files import digest
from .visuals import gray_map, heat_map, robust_max, roi_overlay

APP_MAX_PIXELS = 4_000_000  # an interactive CPU session; `--max-pixels` raises it
MIN_SIDE = 8  # below this the classical codecs and most metrics have nothing to work with
DEFAULT_CODECS = ("jpeg", "webp", "avif", "heic")
DEFAULT_BPP = 0.5
CACHE_ENTRIES = 16  # results per session; maps and masks (1.5 MB each at 768×512) keep fewer
BASE, ROI, SEED000, HIFIC = "BASE", "ROI", "seed-000 choice", "HiFiC"
ORIGINAL = "Original"
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg")


def default_device() -> str:
    """``cuda`` when a CUDA GPU is usable, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


# -- the zoo -----------------------------------------------------------------------------------

def model_role(card: dict[str, Any]) -> str:
    """What a zoo model is for, from its card: ``"roi": true`` marks a dedicated ROI checkpoint,
    ``"family": "seed-000"`` a seed-000 perceptual fine-tune, ``"family": "hific"`` a HiFiC-style
    model; anything else is a BASE-style model the user can pick."""
    if card.get("roi") is True:
        return ROI
    return {SEED000_FAMILY: SEED000, "hific": HIFIC}.get(card.get("family"), BASE)


@dataclass(frozen=True)
class Zoo:
    """The zoo's models grouped by role, and their cards."""

    cards: dict[str, dict[str, Any]]

    @classmethod
    def scan(cls, directory: Path | None = None) -> "Zoo":
        return cls({card["name"]: card for card in list_cards(directory)})

    def names(self, role: str) -> list[str]:
        return [name for name, card in self.cards.items() if model_role(card) == role]

    def summary(self, name: str) -> str:
        """``name`` with its Kodak bpp span and PSNR span from the card, when the card has them."""
        results = self.cards[name].get("results_kodak", {}).get("results", {})
        bpp, psnr = results.get("bpp") or [], [p for p in results.get("psnr-rgb") or [] if p is not None]
        if not bpp or not psnr:
            return name
        return f"{name} (Kodak {min(bpp):.2f}–{max(bpp):.2f} bpp, {min(psnr):.1f}–{max(psnr):.1f} dB)"


def roi_sources() -> list[str]:
    """The ROI sources offered: all but ``dnn``, which only when its weights file is configured."""
    return [s for s in SOURCE_NAMES if s != "dnn" or os.environ.get(SALIENCY_WEIGHTS_ENV, "").strip()]


def sample_images(folder: Path) -> dict[str, Path]:
    """File name → path of the sample images in ``folder``, sorted by name."""
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in SAMPLE_SUFFIXES and p.is_file()}


class CodecPool:
    """Zoo models loaded once per process and shared read-only by every session.

    ``decode_lock`` serialises entropy *decoding* (the bit maps): the codec decodes in one forked
    worker per process, reached over one pipe, which two threads must not talk to at once.
    """

    def __init__(self, zoo_dir: Path | None = None, device: str | None = None, precision: str = "auto",
                 refine_steps: int = 0) -> None:
        self.zoo_dir, self.device, self.precision = zoo_dir, device or default_device(), precision
        self.refine_steps = refine_steps  # latent refinement of every learned encode (nn/refine.py)
        self.zoo = Zoo.scan(zoo_dir)
        self._codecs: dict[str, LearnedCodec] = {}
        self._load_lock = threading.Lock()
        self.decode_lock = threading.Lock()

    def codec(self, name: str) -> LearnedCodec:
        with self._load_lock:
            if name not in self._codecs:
                self._codecs[name] = LearnedCodec.from_zoo(name, self.zoo_dir, self.device, precision=self.precision,
                                                           refine_steps=self.refine_steps)
            return self._codecs[name]

    def describe(self) -> str:
        """One line: device, precision of the transforms, latent refinement, and each model with its
        Kodak numbers."""
        device = describe_device(self.device)
        models = "; ".join(self.zoo.summary(name) for name in self.zoo.cards) or "none"
        refine = f" · latents refined: {self.refine_steps} steps" if self.refine_steps else ""
        return f"device: {device} · precision: {self.precision}{refine} · models: {models}"


# -- what is shown ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Everything that decides which bytes are produced (the view choices are not part of it)."""

    model: str
    source: str = "auto"
    alpha: float = DEFAULT_ALPHA
    target_bpp: float = DEFAULT_BPP
    codecs: tuple[str, ...] = DEFAULT_CODECS


@dataclass(frozen=True)
class Slot:
    """One reconstruction panel: a title and the condition(s) it is made from (seed-000: one is picked)."""

    title: str
    candidates: tuple[Condition, ...]

    @property
    def learned(self) -> bool:
        return self.candidates[0].learned


def slots(zoo: Zoo, settings: Settings) -> list[Slot]:
    """BASE, ROI, the seed-000 choice and HiFiC when the zoo has them, then the ticked classical codecs."""
    roi_model = next(iter(zoo.names(ROI)), settings.model)
    shown = [Slot(BASE, (Condition(settings.model),)),
             Slot(ROI, (Condition(roi_model, settings.source, settings.alpha),))]
    if zoo.names(SEED000):
        shown.append(Slot(SEED000, tuple(Condition(name) for name in zoo.names(SEED000))))
    shown += [Slot(f"{HIFIC} {name}", (Condition(name),)) for name in zoo.names(HIFIC)]
    usable = available_codecs()
    shown += [Slot(Condition(name).label, (Condition(name),)) for name in settings.codecs if name in usable]
    return shown


@dataclass(frozen=True, eq=False)
class Result:
    """A slot rendered at the target rate: the real file, its reconstruction, and the stream it came from."""

    slot: str
    rendered: Rendered
    stream: Stream | None  # learned codecs: for the bit map

    @property
    def label(self) -> str:
        condition = self.rendered.condition
        return condition.label if self.slot == condition.label else f"{self.slot} · {condition.label}"

    @property
    def key(self) -> str:
        return f"{self.rendered.condition.key}|{digest(self.rendered.data)}"


class Lru:
    """A small thread-safe least-recently-used mapping."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        """The cached value, or ``make()`` stored (computed outside the lock: a slow encode must not
        block the session's other caches)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def get(self, key: Any) -> Any:
        """The value under ``key`` (now the most recent), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def painted_mask(layers: Sequence[np.ndarray] | None) -> np.ndarray | None:
    """The brush strokes of an image editor's layers as one H×W uint8 mask (alpha, max over layers);
    None when nothing is painted."""
    strokes = [layer[..., 3] for layer in layers or () if layer is not None and layer.ndim == 3 and layer.shape[2] == 4]
    if not strokes or len({s.shape for s in strokes}) != 1:
        return None
    mask = np.max(np.stack(strokes), axis=0)
    return mask if mask.any() else None


def mask_layer(smoothed: np.ndarray, colour: tuple[int, int, int] = (255, 96, 0)) -> np.ndarray:
    """RM_2D as an RGBA brush layer (colour everywhere, alpha = the mask) to correct by hand."""
    layer = np.empty((*smoothed.shape, 4), np.uint8)
    layer[..., :3] = colour
    layer[..., 3] = np.clip(np.rint(smoothed * 255), 0, 255).astype(np.uint8)
    return layer


class Session:
    """One browser tab: its image and everything computed from it."""

    def __init__(self, pool: CodecPool, max_pixels: int = APP_MAX_PIXELS) -> None:
        self.pool, self.max_pixels = pool, max_pixels
        self.image: LoadedImage | None = None
        self.name = ""
        self.digest = ""
        # every zoo model's analysis of the current image: one update renders them all (BASE, ROI,
        # four seed-000 candidates), so a smaller cache would evict the ROI model's before the next α
        self._prepared = Lru(max(4, len(pool.zoo.cards)))
        self._masks = Lru(4)
        self._results = Lru()
        self._metrics = Lru(4 * CACHE_ENTRIES)
        self._bit_maps = Lru(8)
        self._flip_maps = Lru(8)
        self.rd_cache = Lru(512)  # R-D points (three numbers each), filled by :mod:`.sweep`

    # -- the image ------------------------------------------------------------------------------
    def open(self, source: str | Path, name: str) -> LoadedImage:
        """Load an image file (any format ``load_image`` reads); InputError for anything unusable,
        naming the file by ``name`` (an upload's server-side path means nothing to the user)."""
        try:
            image = load_image(source, self.max_pixels)
        except InputError as error:
            raise InputError(str(error).replace(os.fspath(source), name, 1)) from None
        height, width = image.rgb.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise InputError(f"{name}: {width}x{height} is too small to compare codecs (at least "
                             f"{MIN_SIDE} pixels a side)")
        self.image, self.name, self.digest = image, name, digest(image.rgb)
        for cache in (self._prepared, self._masks, self._results, self._metrics, self._bit_maps, self._flip_maps,
                      self.rd_cache):
            cache.clear()
        return image

    @property
    def rgb(self) -> np.ndarray:
        if self.image is None:
            raise InputError("no image yet: pick a sample or upload one")
        return self.image.rgb

    # -- cached steps ---------------------------------------------------------------------------
    def masks(self, source: str, painted: np.ndarray | None = None) -> RoiMasks:
        if source != "painted":
            painted = None
        key = (self.digest, source, None if painted is None else digest(painted))
        return self._masks.get_or_make(key, lambda: roi_masks(self.rgb, source, painted))

    def prepared(self, model: str) -> PreparedImage:
        return self._prepared.get_or_make((self.digest, model), lambda: self.pool.codec(model).prepare(self.rgb))

    def render(self, slot: Slot, target_bpp: float, masks: RoiMasks) -> Result:
        """The slot at the largest real size ≤ ``target_bpp``; the seed-000 choice keeps the candidate
        with the highest PSNR. InputError when the target is outside what a codec can reach."""
        rendered = [self._render(condition, target_bpp, masks) for condition in slot.candidates]
        best = max(rendered, key=lambda r: psnr_rgb(self.rgb, r[0].reconstruction))
        return Result(slot.title, *best)

    def _render(self, condition: Condition, target_bpp: float, masks: RoiMasks) -> tuple[Rendered, Stream | None]:
        mask_key = digest(masks.smoothed) if condition.roi != "none" else None
        key = (self.digest, condition.key, float(target_bpp), mask_key)
        return self._results.get_or_make(key, lambda: self._encode(condition, target_bpp, masks))

    def _encode(self, condition: Condition, target_bpp: float, masks: RoiMasks) -> tuple[Rendered, Stream | None]:
        if not condition.learned:
            return render(self.rgb, condition, target_bpp), None
        codec = self.pool.codec(condition.codec)
        roi = None if condition.roi == "none" else RoiRequest(masks.smoothed, condition.alpha)
        encoded = codec.encode_to_bpp(self.prepared(condition.codec), target_bpp, roi)
        rendered = Rendered(condition, encoded.data, codec.reconstruct(encoded), encoded.bpp, ".pcmp")
        return rendered, encoded.stream

    def bit_map(self, result: Result) -> np.ndarray:
        """Bits per pixel of a learned result, from the real likelihoods of its coded symbols."""
        if result.stream is None:
            raise InputError(f"{result.label} has no per-pixel likelihoods (only learned codecs do)")
        codec = self.pool.codec(result.stream.model_name)

        def make() -> np.ndarray:
            with self.pool.decode_lock:
                return codec.bit_map(result.stream)

        return self._bit_maps.get_or_make(result.key, make)

    def quick_metrics(self, result: Result, masks: RoiMasks) -> dict[str, Any]:
        """Bytes, bpp and the PSNRs: milliseconds, shown with the first reconstruction."""
        def make() -> dict[str, Any]:
            reconstruction, region = result.rendered.reconstruction, roi_region(masks.mask)
            return {
                "bytes": len(result.rendered.data), "bpp": result.rendered.bpp,
                "psnr": psnr_rgb(self.rgb, reconstruction),
                "roi_psnr": region_psnr(self.rgb, reconstruction, region),
                "background_psnr": region_psnr(self.rgb, reconstruction, ~region),
                "roi_fraction": float(region.mean()),
            }
        return self._metrics.get_or_make(("quick", result.key, digest(masks.mask)), make)

    def full_metrics(self, result: Result, masks: RoiMasks) -> dict[str, Any]:
        """Every number of a result (MS-SSIM, FLIP, LPIPS when available, region MS-SSIM, ROI bit share)."""
        def make() -> dict[str, Any]:
            reconstruction = result.rendered.reconstruction
            bits = self.bit_map(result) if result.stream is not None else None
            numbers = {**self.quick_metrics(result, masks),
                       **region_metrics(self.rgb, reconstruction, masks.mask, bits)}
            numbers["ms_ssim"] = ms_ssim_rgb(self.rgb, reconstruction)
            numbers["flip"] = float(self.flip_map(result).mean())
            if lpips_available():
                numbers["lpips"] = lpips_distance(self.rgb, reconstruction)
            return numbers
        return self._metrics.get_or_make(("full", result.key, digest(masks.mask)), make)

    def flip_map(self, result: Result) -> np.ndarray:
        return self._flip_maps.get_or_make(result.key, lambda: flip_map(self.rgb, result.rendered.reconstruction))


# -- progressive update -------------------------------------------------------------------------

@dataclass
class Snapshot:
    """What is known so far about one setting: the masks, rendered slots, their numbers, problems."""

    masks: RoiMasks
    results: list[Result] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # result label → numbers
    problems: list[str] = field(default_factory=list)  # one line per slot that could not be made
    done: bool = False

    def copy(self) -> "Snapshot":
        """A snapshot that later steps of the update do not change."""
        return replace(self, results=list(self.results), metrics=dict(self.metrics), problems=list(self.problems))

    def result(self, slot: str) -> Result | None:
        """The result of the slot titled ``slot`` (BASE, ROI, JPEG …), if it was rendered."""
        return next((r for r in self.results if r.slot == slot), None)


def update(session: Session, settings: Settings, painted: np.ndarray | None = None) -> Iterator[Snapshot]:
    """The quick part of an update: the learned slots, the ROI slot first (it is what α and the bpp
    slider are about), each with bytes, bpp and PSNRs; a snapshot after each step. :func:`finish`
    adds the rest."""
    snapshot = Snapshot(session.masks(settings.source, painted))
    shown = slots(session.pool.zoo, settings)
    for group in ([s for s in shown if s.title == ROI], [s for s in shown if s.learned and s.title != ROI]):
        for slot in group:
            _add(session, snapshot, slot, settings.target_bpp)
        _sort(snapshot, shown)
        yield snapshot.copy()


def finish(session: Session, settings: Settings, snapshot: Snapshot) -> Iterator[Snapshot]:
    """The slow part, after :func:`update`: each classical codec at the matched rate, then the slow
    numbers (MS-SSIM, FLIP, region MS-SSIM, ROI bit share) one result at a time; the last snapshot
    is ``done``. Cached steps cost nothing."""
    snapshot = snapshot.copy()
    shown = slots(session.pool.zoo, settings)
    for slot in (s for s in shown if not s.learned):
        _add(session, snapshot, slot, settings.target_bpp)
        _sort(snapshot, shown)
        yield snapshot.copy()
    for result in snapshot.results:
        snapshot.metrics[result.label] = session.full_metrics(result, snapshot.masks)
        yield snapshot.copy()
    snapshot.done = True
    yield snapshot.copy()


def _sort(snapshot: Snapshot, shown: list[Slot]) -> None:
    """Results in the order of the slots, whatever order they were made in."""
    titles = [s.title for s in shown]
    snapshot.results.sort(key=lambda r: titles.index(r.slot))


def _add(session: Session, snapshot: Snapshot, slot: Slot, target_bpp: float) -> None:
    """Render one slot into the snapshot, or note why it cannot be rendered."""
    try:
        result = session.render(slot, target_bpp, snapshot.masks)
    except InputError as error:
        snapshot.problems.append(f"{slot.title}: {error}")
        return
    snapshot.results.append(result)
    snapshot.metrics[result.label] = session.quick_metrics(result, snapshot.masks)


# -- panels -------------------------------------------------------------------------------------

def saliency_panel(masks: RoiMasks) -> np.ndarray:
    return gray_map(masks.saliency)


def overlay_panel(rgb: np.ndarray, masks: RoiMasks) -> np.ndarray:
    return roi_overlay(rgb, masks.smoothed)


@dataclass(frozen=True)
class BitPanel:
    image: np.ndarray
    caption: str


def bit_panel(session: Session, result: Result, masks: RoiMasks) -> BitPanel:
    """The bit-allocation heat map of a learned result with its totals and the ROI's share."""
    bits = session.bit_map(result)
    region = roi_region(masks.mask)
    total = float(bits.sum())
    share = float(bits[region].sum()) / total if total > 0 else math.nan
    caption = (f"**{result.label}**: {len(result.rendered.data):,} bytes in the file "
               f"({result.rendered.bpp:.3f} bpp); {total / 8:,.0f} bytes of entropy-coded information; "
               f"ROI ({region.mean():.0%} of the pixels) holds {share:.0%} of the bits, background {1 - share:.0%}")
    return BitPanel(heat_map(bits, robust_max(bits), "bits/px"), caption)


def flip_panel(session: Session, result: Result) -> np.ndarray:
    return heat_map(session.flip_map(result), 1.0, "FLIP")


def zoom(rgb: np.ndarray, factor: int, centre: tuple[float, float]) -> np.ndarray:
    """A ``1/factor`` window of ``rgb`` around ``centre`` (x, y in [0, 1]), enlarged back with
    nearest-neighbour so that pixels stay visible."""
    if factor <= 1:
        return rgb
    height, width = rgb.shape[:2]
    h, w = max(1, height // factor), max(1, width // factor)
    top = min(max(round(centre[1] * height - h / 2), 0), height - h)
    left = min(max(round(centre[0] * width - w / 2), 0), width - w)
    window = rgb[top: top + h, left: left + w]
    return np.ascontiguousarray(window.repeat(factor, axis=0).repeat(factor, axis=1))


def roi_centre(smoothed: np.ndarray) -> tuple[float, float]:
    """The ROI's centre of mass as (x, y) fractions of the width and height; the middle for an empty map."""
    total = float(smoothed.sum())
    if total <= 0:
        return 0.5, 0.5
    ys, xs = np.indices(smoothed.shape)
    return (float((xs * smoothed).sum() / total) + 0.5) / smoothed.shape[1], \
           (float((ys * smoothed).sum() / total) + 0.5) / smoothed.shape[0]


def picture(session: Session, snapshot: Snapshot, slot: str) -> np.ndarray | None:
    """The original or the reconstruction of the slot titled ``slot``."""
    if slot == ORIGINAL:
        return session.rgb
    result = snapshot.result(slot)
    return None if result is None else result.rendered.reconstruction


# -- numbers ------------------------------------------------------------------------------------

COLUMNS = (("bytes", "bytes", "{:,}"), ("bpp", "bpp", "{:.3f}"), ("psnr", "PSNR dB", "{:.2f}"),
           ("ms_ssim", "MS-SSIM", "{:.4f}"), ("flip", "FLIP", "{:.4f}"), ("lpips", "LPIPS", "{:.4f}"),
           ("roi_psnr", "ROI PSNR", "{:.2f}"), ("background_psnr", "BG PSNR", "{:.2f}"),
           ("roi_ms_ssim", "ROI MS-SSIM", "{:.4f}"), ("background_ms_ssim", "BG MS-SSIM", "{:.4f}"),
           ("roi_bit_share", "ROI bits", "{:.1%}"))


def shown_columns() -> list[tuple[str, str, str]]:
    """The table's columns; LPIPS only where its weights are on disk."""
    return [c for c in COLUMNS if c[0] != "lpips" or lpips_available()]


def cell(value: Any, style: str) -> str:
    """A number for the table: formatted, ``…`` while it is being computed, ``–`` when it does not apply."""
    if value is None:
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return style.format(value)


def table(snapshot: Snapshot) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the numbers table (one row per result)."""
    columns = shown_columns()
    rows = []
    for result in snapshot.results:
        numbers = snapshot.metrics.get(result.label, {})
        rows.append([result.label] + [cell(numbers[k], style) if k in numbers else "…" for k, _, style in columns])
    return ["reconstruction"] + [title for _, title, _ in columns], rows


def json_number(value: Any) -> Any:
    """Floats that JSON can hold: infinities and NaN become None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def report(session: Session, settings: Settings, snapshot: Snapshot) -> dict[str, Any]:
    """Every number of the current view as one JSON-ready dict."""
    height, width = session.rgb.shape[:2]
    return {
        "image": {"name": session.name, "width": width, "height": height, "notes": list(session.image.notes)},
        "settings": {"model": settings.model, "roi_source": settings.source, "alpha": settings.alpha,
                     "target_bpp": settings.target_bpp, "codecs": list(settings.codecs)},
        "device": session.pool.device,
        "results": [{"slot": r.slot, "label": r.label, "condition": r.rendered.condition.key,
                     "file_suffix": r.rendered.suffix,
                     **{k: json_number(v) for k, v in snapshot.metrics.get(r.label, {}).items()}}
                    for r in snapshot.results],
        "problems": snapshot.problems,
    }

