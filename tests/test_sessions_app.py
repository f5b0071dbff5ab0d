"""The sessions tabs without a browser: what the page config carries, and the rater callbacks' guards
against stale or repeated answers. (The full flow in Chromium is test_sessions_browser.py.)"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import gradio as gr
import pytest

from conftest import make_image, save_png
from percomp_ui.app.sessions_tab import _answer, _results, _shown_errors, _start, build_sessions_app
from percomp_ui.conditions import available_conditions
from percomp_ui.errors import InputError
from percomp_ui.sessions.design import parse_spec
from percomp_ui.sessions.folder import create_session, open_session


@pytest.fixture(scope="module")
def sessions_dir(tmp_path_factory: pytest.TempPathFactory, tiny_zoo: Path) -> Path:
    root = tmp_path_factory.mktemp("app-sessions")
    image = save_png(make_image(96, 128, seed=3), root / "photo.png")
    spec = parse_spec(f"name: s1\nconditions: [jpeg, webp]\ntarget_bpp: 0.6\ncrop: 64\nimages: [{image}]\n", root)
    create_session(spec, root / "sessions", tiny_zoo)
    return root / "sessions"


def condition_names(zoo: Path) -> set[str]:
    conditions = available_conditions(zoo)
    return {c.key.lower() for c in conditions} | {c.label.lower() for c in conditions}


@pytest.mark.parametrize("rater_only", [True, False])
def test_the_page_config_names_no_condition(sessions_dir: Path, tiny_zoo: Path, rater_only: bool) -> None:
    app = build_sessions_app(sessions_dir, tiny_zoo, rater_only=rater_only)
    config = json.dumps(app.get_config_file(), default=str).lower()
    assert not [name for name in condition_names(tiny_zoo) if name in config]
    tabs = [c["props"]["label"] for c in app.get_config_file()["components"] if c["type"] == "tabitem"]
    assert tabs == (["Rate"] if rater_only else ["Rate", "Organise", "Results"])


def test_answers_count_once_and_only_for_the_trial_on_screen(sessions_dir: Path) -> None:
    view = _start(sessions_dir, "s1", " ann ", "laptop")
    state = view[0]
    assert (state.rater, state.trial) == ("ann", 0)
    state = type(state)(state.session, state.rater, state.trial, state.shown_at - timedelta(seconds=2))
    stale = _answer(sessions_dir, "A", 5, 3, state)  # the page showed another trial: ignored
    assert stale[0].trial == 0
    after = _answer(sessions_dir, "B", 0, 3, state)
    assert after[0].trial == 1
    repeated = _answer(sessions_dir, "A", 0, 9, state)  # the same click delivered twice
    assert repeated[0].trial == 1
    votes = open_session(sessions_dir / "s1").log.votes("s1")
    assert [(v.rater, v.trial, v.answer, v.flips) for v in votes] == [("ann", 0, "B", 3)]
    assert votes[0].response_ms >= 2000


def test_errors_become_visible_messages(sessions_dir: Path) -> None:
    with pytest.raises(InputError, match="no session called '../s1'"):
        _start(sessions_dir, "../s1", "ann", "")
    with pytest.raises(gr.Error, match="rater id must be"):
        _shown_errors(_start)(sessions_dir, "s1", "a b", "")
    with pytest.raises(gr.Error, match="no session called None"):
        _shown_errors(_results)(sessions_dir, None, "vote", 0.25, 1.0, 1.0)
