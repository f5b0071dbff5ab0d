"""The subjective-session tabs: Organise (design and create), Rate (the blind trials), Results.

Call :func:`add_sessions_tabs` inside an open ``gr.Tabs()``; :func:`build_sessions_app` is the same
tabs as an app of their own (``percomp sessions serve``), and with ``rater_only`` just the Rate tab:
the page to hand to raters.

Blindness: the Rate tab's page never carries a condition name. Trials reach the browser as three
PNG images (encoded from pixels, so their URLs are content digests) and a trial number; which
condition is A lives in the server-side state only. The Organise and Results tabs fill their
condition lists and scores only when the organiser opens them, so a rater's page that stays on
Rate holds none of it (a rater-only app has no other tab at all).

Keys on the Rate tab (installed once per page by :data:`RATE_JS`): ``f`` switches the viewport
between A and B (each switch is a flip), ``r`` shows the reference and back, ``1`` / ``2`` / ``0``
answer A / B / not sure. A rater resumes with the same id (or ``?session=NAME&rater=ID`` in the URL).
"""
from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gradio as gr

from ..conditions import available_conditions
from ..errors import InputError, PercompError
from ..images import list_images, load_image
from ..sessions.design import parse_spec, spec_from_dict, spec_text
from ..sessions.folder import Session, create_session, list_sessions, open_session
from ..sessions.report import (SCORE_HEADERS, build_report, format_report, report_json, score_rows, scores_csv,
                               scores_figure, votes_csv)
from ..sessions.schedule import TRAINING, plan_length
from ..sessions.screening import ScreeningRules
from ..sessions.votelog import ANSWERS, check_rater

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets"
RESULTS_RESAMPLES = 1000

RATE_JS = """
() => {
  if (!window.percompRate) {
    const style = document.createElement("style");
    style.textContent = `
      #pc-viewport[data-view="b"] #pc-image-a, #pc-viewport[data-view="ref"] #pc-image-a,
      #pc-viewport:not([data-view="b"]) #pc-image-b,
      #pc-viewport:not([data-view="ref"]) #pc-image-ref { display: none !important; }
      #pc-viewport { overflow: auto; }
      #pc-viewport img { width: auto !important; height: auto !important; max-width: none !important;
                         max-height: none !important; object-fit: none !important; }
      #pc-showing { font-size: 1.3em; font-weight: 600; }`;
    document.head.appendChild(style);
    const state = {view: "a", last: "a", flips: 0, busy: false};
    const names = {a: "A", b: "B", ref: "Reference"};
    const paint = () => {
      const port = document.getElementById("pc-viewport");
      if (port) port.dataset.view = state.view;
      const label = document.getElementById("pc-showing");
      if (label) label.textContent = "Showing: " + names[state.view];
    };
    const show = (view) => {
      if (view !== "ref") {
        if (view !== state.last) state.flips += 1;
        state.last = view;
      }
      state.view = view;
      paint();
    };
    window.percompRate = {
      state, show,
      toggle: () => show(state.last === "a" ? "b" : "a"),
      reference: () => show(state.view === "ref" ? state.last : "ref"),
      reset: () => { Object.assign(state, {view: "a", last: "a", flips: 0}); paint(); },
      take: () => { const flips = state.flips; window.percompRate.reset(); state.busy = true; return flips; },
      ready: () => { state.busy = false; },
    };
    const answers = {"1": "pc-answer-a", "2": "pc-answer-b", "0": "pc-answer-unsure"};
    document.addEventListener("keydown", (event) => {
      const port = document.getElementById("pc-viewport");
      const target = event.target;
      if (!port || port.offsetParent === null || state.busy || event.ctrlKey || event.metaKey || event.altKey) return;
      if (target && (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable)) return;
      const key = event.key.toLowerCase();
      if (key === "f") window.percompRate.toggle();
      else if (key === "r") window.percompRate.reference();
      else if (answers[key]) document.getElementById(answers[key])?.click();
      else return;
      event.preventDefault();
    });
  }
  if (new URLSearchParams(window.location.search).get("rater")) {
    document.getElementById("pc-rate-tab-button")?.click();
  }
  return [];
}
"""
TAKE_FLIPS_JS = "(trial, flips, state) => [trial, window.percompRate ? window.percompRate.take() : 0, state]"
READY_JS = "() => { window.percompRate?.ready(); }"
RESET_JS = "(session, rater, display) => { window.percompRate?.reset(); return [session, rater, display]; }"
RATE_HELP = """
**How it works.** Each trial shows one picture at a time in the same place: **A**, **B**, or the
**reference** (the original). Switch between A and B as often as you like and choose the one that
looks closer to the reference. If you really cannot tell, answer *not sure*.

Keys: **f** switch A ⇄ B · **r** reference on/off · **1** A is better · **2** B is better · **0** not sure.
The first trial is for practice and is not counted. You can stop at any time and come back with the
same rater id: you continue where you left off.
"""


def _shown_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the codec's one-line errors into a visible Gradio message instead of a failed event."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PercompError as error:
            raise gr.Error(" ".join(str(error).split()), print_exception=False) from None
    return wrapper


def add_sessions_tabs(sessions_dir: Path, zoo: Path | None = None, rater_only: bool = False) -> None:
    """Add the Rate, Organise and Results tabs (only Rate when ``rater_only``) to the open ``gr.Tabs()``."""
    sessions_dir = Path(sessions_dir)
    _rate_tab(sessions_dir)  # first: it is what a rater's page opens on
    if not rater_only:
        _organise_tab(sessions_dir, zoo)
        _results_tab(sessions_dir)


def build_sessions_app(sessions_dir: Path, zoo: Path | None = None, rater_only: bool = False) -> gr.Blocks:
    """The session tabs as an app of their own."""
    with gr.Blocks(title="percomp sessions", analytics_enabled=False) as app, gr.Tabs():
        add_sessions_tabs(sessions_dir, zoo, rater_only)
    return app


# -- Organise -------------------------------------------------------------------------------------
def _organise_tab(sessions_dir: Path, zoo: Path | None) -> None:
    with gr.Tab("Organise") as tab:
        gr.Markdown("Design a blind pairwise session: every condition codes each whole image at the target "
                    "rate, raters compare crops two at a time. Write the session file, adjust it if needed "
                    "(per-image `bpp`, `crop_at`), then create the session.")
        with gr.Row():
            name = gr.Textbox(label="Session name (raters see it: do not name a condition)", value="session-1",
                              elem_id="pc-name")
            seed = gr.Number(label="Seed", value=1, precision=0, minimum=0)
        with gr.Row():
            uploads = gr.File(label="Upload images", file_count="multiple", type="filepath", file_types=["image"],
                              elem_id="pc-uploads")
            with gr.Column():
                folder = gr.Textbox(label="…and/or a folder of images on the server")
                samples = gr.Checkbox(label="…and/or the sample images", value=False)
        conditions = gr.CheckboxGroup(label="Conditions (at least two)", choices=[], elem_id="pc-conditions")
        extra = gr.Textbox(label="More conditions, one per line (a model with a ROI: MODEL+roi=SOURCE@ALPHA)",
                           lines=2)
        with gr.Row():
            bpp = gr.Number(label="Target bpp (whole image)", value=0.3, minimum=0, elem_id="pc-bpp")
            crop = gr.Number(label="Crop side, pixels (0 = full image)", value=256, precision=0, minimum=0,
                             elem_id="pc-crop")
            trials = gr.Number(label="Comparisons per rater (0 = every pair on every image)", value=0,
                               precision=0, minimum=0, elem_id="pc-trials")
            traps = gr.Number(label="Trap trials (an obviously worse image)", value=2, precision=0, minimum=0,
                              elem_id="pc-traps")
            identical = gr.Number(label="Identical pairs (bias check)", value=2, precision=0, minimum=0,
                                  elem_id="pc-identical")
        write = gr.Button("Write the session file", elem_id="pc-write")
        spec_box = gr.Code(label="Session file (YAML; relative image paths are relative to the server's folder)",
                           language="yaml", interactive=True)
        with gr.Row():
            load = gr.UploadButton("Load a session file", file_types=[".yaml", ".yml", ".json"], type="filepath")
            save = gr.DownloadButton("Save the session file", value=None)
            create = gr.Button("Create the session", variant="primary", elem_id="pc-create")
        status = gr.Markdown(elem_id="pc-status")

    tab.select(_shown_errors(lambda: gr.CheckboxGroup(choices=[(c.label, c.key) for c in available_conditions(zoo)])),
               outputs=conditions)
    write.click(_shown_errors(_write_spec),
                inputs=[name, seed, uploads, folder, samples, conditions, extra, bpp, crop, trials, traps, identical],
                outputs=[spec_box, save])
    load.upload(_shown_errors(_load_spec_file), inputs=load, outputs=[spec_box, save])

    @_shown_errors
    def create_clicked(text: str, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008 - Gradio's idiom
        return _create(sessions_dir, zoo, text, progress)

    create.click(create_clicked, inputs=spec_box, outputs=status)


def _form_images(uploads: list[str] | None, folder: str, samples: bool) -> list[str]:
    paths = [str(Path(p).resolve()) for p in uploads or []]
    if folder.strip():
        path = Path(folder.strip()).expanduser()
        if not path.is_dir():
            raise InputError(f"{path}: no such folder")
        paths += [str(p.resolve()) for p in list_images([path], recursive=False)]
    if samples:
        paths += [str(p) for p in list_images([SAMPLES_DIR], recursive=False)]
    if not paths:
        raise InputError("add images: upload some, name a folder, or tick the sample images")
    return paths


def _write_spec(name: str, seed: float | None, uploads: list[str] | None, folder: str, samples: bool,
                conditions: list[str], extra: str, bpp: float | None, crop: float | None, trials: float | None,
                traps: float | None, identical: float | None) -> tuple[str, str]:
    data = {"name": name.strip(), "seed": int(seed or 0), "target_bpp": bpp,
            "crop": int(crop) if crop else None, "trials": int(trials) if trials else None,
            "traps": int(traps or 0), "identical": int(identical or 0),
            "conditions": list(conditions) + [line.strip() for line in extra.splitlines() if line.strip()],
            "images": _form_images(uploads, folder, samples)}
    spec = spec_from_dict(data, Path.cwd())
    return _spec_outputs(spec_text(spec))


def _load_spec_file(path: str) -> tuple[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{Path(path).name}: not a UTF-8 text file") from None
    parse_spec(text, Path.cwd())  # a bad file is refused here, not at create
    return _spec_outputs(text)


def _spec_outputs(text: str) -> tuple[str, str]:
    """The editor text and a downloadable copy of it."""
    name = parse_spec(text, Path.cwd()).name
    path = Path(tempfile.mkdtemp(prefix="percomp-session-")) / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return text, str(path)


def _create(sessions_dir: Path, zoo: Path | None, text: str, progress: gr.Progress) -> str:
    if not (text or "").strip():
        raise InputError("write or load a session file first")
    spec = parse_spec(text, Path.cwd())
    session = create_session(spec, sessions_dir, zoo, lambda fraction, message: progress(fraction, desc=message))
    return (f"Session **{session.name}** is ready: {len(spec.images)} images × {len(spec.conditions)} conditions, "
            f"{plan_length(spec)} trials per rater. Raters open the Rate tab, or this page with "
            f"`?session={session.name}&rater=THEIR_ID`. Vote log: `{session.log.path}`")


# -- Rate -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaterState:
    """Server-side only: which trial this browser session is showing, and since when."""

    session: str
    rater: str
    trial: int | None  # None when every trial is answered
    shown_at: datetime


def _rate_tab(sessions_dir: Path) -> None:
    with gr.Tab("Rate", elem_id="pc-rate-tab") as tab:
        with gr.Column() as login:
            gr.Markdown(RATE_HELP)
            with gr.Row():
                session = gr.Dropdown(label="Session", choices=[], allow_custom_value=True, elem_id="pc-session")
                rater = gr.Textbox(label="Your rater id", placeholder="e.g. the id you were given", elem_id="pc-rater")
            display = gr.Textbox(label="Your screen (optional): size, resolution, distance, room light",
                                 elem_id="pc-display")
            start = gr.Button("Start or resume", variant="primary", elem_id="pc-start")
        message = gr.Markdown(elem_id="pc-message")
        with gr.Column(visible=False) as trial_view:
            progress = gr.Markdown(elem_id="pc-progress")
            with gr.Row():
                show_a = gr.Button("A (f)", size="sm", elem_id="pc-show-a")
                show_b = gr.Button("B (f)", size="sm", elem_id="pc-show-b")
                show_ref = gr.Button("Reference (r)", size="sm", elem_id="pc-show-ref")
            gr.HTML('<div id="pc-showing">Showing: A</div>')
            with gr.Column(elem_id="pc-viewport"):
                images = [gr.Image(label=label, format="png", type="numpy", interactive=False, show_label=False,
                                   show_download_button=False, show_fullscreen_button=False,
                                   container=False, elem_id=elem_id)
                          for label, elem_id in (("Reference", "pc-image-ref"), ("A", "pc-image-a"),
                                                 ("B", "pc-image-b"))]
            with gr.Row():
                answer_buttons = [gr.Button(text, elem_id=elem_id, variant="primary" if answer != "not sure" else "secondary")
                                  for answer, text, elem_id in (("A", "A is better (1)", "pc-answer-a"),
                                                                ("B", "B is better (2)", "pc-answer-b"),
                                                                ("not sure", "Not sure (0)", "pc-answer-unsure"))]
            gr.Markdown("Keys: **f** A ⇄ B · **r** reference · **1** A is better · **2** B is better · **0** not sure")
            trial_box = gr.Number(visible=False, precision=0)
            flips_box = gr.Number(visible=False, precision=0, value=0)
        state = gr.State(None)

    view = [state, message, progress, *images, trial_box, trial_view, login]

    @_shown_errors
    def page_loaded(request: gr.Request) -> tuple:
        return _resume_from_url(sessions_dir, request)

    @_shown_errors
    def start_clicked(name: str | None, rater_id: str, screen: str) -> tuple:
        return _start(sessions_dir, name, rater_id, screen)

    gr.on(triggers=None, fn=page_loaded, outputs=[session, rater, *view], js=RATE_JS)
    tab.select(lambda: _session_choices(sessions_dir), outputs=session)
    start.click(start_clicked, inputs=[session, rater, display], outputs=view, js=RESET_JS)
    for button, call in ((show_a, "show('a')"), (show_b, "show('b')"), (show_ref, "reference()")):
        button.click(None, js=f"() => {{ window.percompRate?.{call}; }}")
    for button, answer in zip(answer_buttons, ANSWERS):
        button.click(_answer_handler(sessions_dir, answer), inputs=[trial_box, flips_box, state], outputs=view,
                     js=TAKE_FLIPS_JS).then(None, js=READY_JS)


def _session_choices(sessions_dir: Path) -> gr.Dropdown:
    return gr.Dropdown(choices=list_sessions(sessions_dir))


def _open(sessions_dir: Path, name: str | None) -> Session:
    if not name or name not in list_sessions(sessions_dir):  # only listed names: no path tricks
        raise InputError(f"no session called {name!r}; choose one from the list")
    return open_session(sessions_dir / name)


def _resume_from_url(sessions_dir: Path, request: gr.Request) -> tuple:
    """On page load: the session list, and with ``?session=…&rater=…`` the rater's next trial."""
    params = request.query_params if request else {}
    name, rater = params.get("session"), params.get("rater")
    sessions = list_sessions(sessions_dir)
    choices = gr.Dropdown(choices=sessions, value=name) if name else gr.Dropdown(choices=sessions)
    if not (name and rater):
        return (choices, gr.Textbox(), *(gr.skip() for _ in range(9)))
    return (choices, rater, *_start(sessions_dir, name, rater, ""))


def _start(sessions_dir: Path, name: str | None, rater: str, display: str) -> tuple:
    session = _open(sessions_dir, name)
    rater = check_rater(rater)
    session.log.add_rater(session.name, rater, display or "")
    return _present(session, rater)


def _answer_handler(sessions_dir: Path, answer: str) -> Callable[..., tuple]:
    @_shown_errors
    def answered(shown_trial: float | None, flips: float | None, state: RaterState | None) -> tuple:
        return _answer(sessions_dir, answer, shown_trial, flips, state)
    return answered


def _answer(sessions_dir: Path, answer: str, shown_trial: float | None, flips: float | None,
            state: RaterState | None) -> tuple:
    """Commit the answer to the trial on screen; a stale or repeated click just shows the current trial again."""
    if state is None:
        raise InputError("enter your rater id and press Start first")
    session = _open(sessions_dir, state.session)
    if state.trial is not None and shown_trial is not None and int(shown_trial) == state.trial:
        trial = session.plan(state.rater)[state.trial]
        session.vote(state.rater, trial, answer, int(flips or 0), state.shown_at)
    return _present(session, state.rater)


def _present(session: Session, rater: str) -> tuple:
    """The view of the rater's next unanswered trial (or the end of the session)."""
    trial = session.next_trial(rater)
    now = datetime.now(timezone.utc)
    total = plan_length(session.spec)
    scored_total = total - int(session.spec.training)
    if trial is None:
        return (RaterState(session.name, rater, None, now),
                f"**All {scored_total} trials are done. Thank you, {rater}!**", "", None, None, None, None,
                gr.Column(visible=False), gr.Column(visible=True))
    if trial.kind == TRAINING:
        where = "**Practice trial** (not counted): try the keys **f**, **r**, then answer with **1**, **2** or **0**."
    else:
        where = f"**Trial {trial.index + 1 - int(session.spec.training)} of {scored_total}**"
    reference, a, b = (load_image(path).rgb for path in session.stimulus_files(trial))
    return (RaterState(session.name, rater, trial.index, now), f"Rater **{rater}** · session **{session.name}**",
            where, reference, a, b, trial.index, gr.Column(visible=True), gr.Column(visible=False))


# -- Results --------------------------------------------------------------------------------------
def _results_tab(sessions_dir: Path) -> None:
    rules = ScreeningRules()
    with gr.Tab("Results") as tab:
        with gr.Row():
            session = gr.Dropdown(label="Session", choices=[], allow_custom_value=True, elem_id="pc-results-session")
            by = gr.Radio(["vote", "rater"], value="vote", label="Bootstrap resamples single votes or whole raters")
        with gr.Row():
            traps = gr.Number(label="Exclude raters failing more than this share of traps",
                              value=rules.max_trap_failure_rate, minimum=0, maximum=1)
            speed = gr.Number(label="…or with a median response under (s)", value=rules.min_median_response_s,
                              minimum=0)
            flips = gr.Number(label="…or with median A/B flips per trial under", value=rules.min_median_flips,
                              minimum=0)
        compute = gr.Button("Compute scores", variant="primary", elem_id="pc-compute")
        scores = gr.Dataframe(label="Scores (best first)", interactive=False, elem_id="pc-scores")
        plot = gr.Plot(label="Bradley–Terry θ with 95 % intervals, and Elo", show_label=False, format="png",
                       elem_id="pc-plot")
        text = gr.Code(label="Report (the same as `percomp sessions report`)", language=None, interactive=False,
                       elem_id="pc-report")
        downloads = gr.File(label="Raw votes (CSV), scores (CSV) and everything (JSON)", file_count="multiple",
                            elem_id="pc-downloads")

    @_shown_errors
    def compute_clicked(name: str | None, unit: str, max_traps: float | None, min_speed: float | None,
                        min_flips: float | None) -> tuple:
        return _results(sessions_dir, name, unit, max_traps, min_speed, min_flips)

    tab.select(lambda: _session_choices(sessions_dir), outputs=session)
    compute.click(compute_clicked, inputs=[session, by, traps, speed, flips], outputs=[scores, plot, text, downloads])


def _results(sessions_dir: Path, name: str | None, by: str, traps: float | None, speed: float | None,
             flips: float | None) -> tuple:
    session = _open(sessions_dir, name)
    rules = ScreeningRules(float(traps or 0), float(speed or 0), float(flips or 0))
    report = build_report(session.log.path, rules, by=by, resamples=RESULTS_RESAMPLES)
    folder = Path(tempfile.mkdtemp(prefix="percomp-results-"))
    files = {f"{report.session}-votes.csv": votes_csv(report.votes), f"{report.session}-scores.csv": scores_csv(report),
             f"{report.session}-report.json": json.dumps(report_json(report), indent=2) + "\n"}
    for file_name, content in files.items():
        (folder / file_name).write_text(content, encoding="utf-8")
    figure = scores_figure(report) if report.scores and report.scored_votes else None
    table = gr.Dataframe(value=[list(row) for row in score_rows(report)], headers=list(SCORE_HEADERS))
    return table, figure, format_report(report), [str(folder / f) for f in files]
