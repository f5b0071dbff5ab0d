"""A whole session without a browser: create (real stimuli at matched rate), rate, report, CLI."""
from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image, save_png
from percomp_ui.errors import InputError
from percomp_ui.sessions.design import parse_spec
from percomp_ui.sessions.folder import VOTES_FILE, create_session, list_sessions, open_session
from percomp_ui.sessions.report import build_report, format_report, scores_csv
from percomp_ui.sessions.schedule import TRAP
from percomp_ui.sessions.screening import ScreeningRules

TARGET = 0.5
PREFERENCE = {"webp": 2.0, "jpeg": 0.0, "tiny": -2.0, TRAP: -9.0}  # the simulated raters' taste (BT θ)


def spec_yaml(images: list[Path], crop: str = "64") -> str:
    listed = "\n".join(f"  - {p}" for p in images)
    return (f"name: lab-1\nconditions: [jpeg, webp, tiny]\ntarget_bpp: {TARGET}\ncrop: {crop}\ntraps: 2\n"
            f"identical: 1\nseed: 3\nimages:\n{listed}\n  - path: {images[0]}\n    bpp: 0.8\n")


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory: pytest.TempPathFactory, tiny_zoo: Path) -> Path:
    root = tmp_path_factory.mktemp("sessions")
    images = [save_png(make_image(96, 128, seed=s), root / f"photo{s}.png") for s in (1, 2)]
    spec = parse_spec(spec_yaml(images), root)
    create_session(spec, root / "all", tiny_zoo)
    return root / "all"


def rate_all(session, rater: str, seed: int, answer_time_s: float = 2.0) -> int:
    """Answer every trial like a rater with PREFERENCE; returns the number of votes committed."""
    rng = random.Random(seed)
    committed = 0
    while (trial := session.next_trial(rater)) is not None:
        p = 1 / (1 + np.exp(PREFERENCE[trial.b] - PREFERENCE[trial.a]))
        answer = "not sure" if trial.a == trial.b else ("A" if rng.random() < p else "B")
        shown = datetime.now(timezone.utc) - timedelta(seconds=answer_time_s)
        committed += session.vote(rater, trial, answer, flips=3, shown_at=shown)
    return committed


def test_create_writes_blind_stimuli_at_matched_rate(session_dir: Path, tmp_path: Path) -> None:
    session = open_session(session_dir / "lab-1")
    assert list_sessions(session_dir) == ["lab-1"]
    assert session.spec.image_ids == ("photo1", "photo2", "photo1-2")
    assert [i.path.parent.name for i in session.spec.images] == ["images"] * 3  # copies inside the folder
    for image_id, image in session.manifest.items():
        assert image.crop[2:] == (64, 64)
        assert set(image.stimuli) == {"jpeg", "webp", "tiny", TRAP}
        target = session.spec.image(image_id).target_bpp
        original = np.asarray(Image.open(session.spec.image(image_id).path).convert("RGB"))
        x, y, w, h = image.crop
        assert np.array_equal(np.asarray(Image.open(session.folder / image.reference)), original[y:y + h, x:x + w])
        for key, stimulus in image.stimuli.items():
            assert key not in stimulus.file and "jpeg" not in stimulus.file  # opaque names
            assert Image.open(session.folder / stimulus.file).size == (64, 64)
            if key != TRAP:
                assert 0 < stimulus.bpp <= target
        assert image.stimuli[TRAP].bpp < image.stimuli["jpeg"].bpp
    assert session.manifest["photo1-2"].target_bpp == 0.8


def test_raters_resume_and_a_double_submit_counts_once(session_dir: Path, tiny_zoo: Path) -> None:
    session = open_session(session_dir / "lab-1")
    plan = session.plan("resumer")
    first = session.next_trial("resumer")
    assert first == plan[0]
    now = datetime.now(timezone.utc)
    assert session.vote("resumer", first, "A", 2, now)
    assert not session.vote("resumer", first, "B", 5, now)
    reopened = open_session(session_dir / "lab-1")  # as after a restart
    assert reopened.next_trial("resumer") == plan[1]
    assert [v.answer for v in reopened.log.votes("lab-1") if v.rater == "resumer"] == ["A"]


def test_report_recovers_the_raters_preference_and_screens(session_dir: Path, tmp_path: Path) -> None:
    session = open_session(session_dir / "lab-1")
    for n in range(6):
        assert rate_all(session, f"rater{n}", seed=n) == len(session.plan(f"rater{n}"))
    rate_all(session, "speedy", seed=99, answer_time_s=0.2)  # excluded: too fast
    report = build_report(session.log.path, ScreeningRules(), resamples=200)
    assert [s.condition for s in report.scores] == ["webp", "jpeg", "tiny"]
    assert all(s.bt_low < s.bt < s.bt_high for s in report.scores)
    assert report.scores[0].elo > report.scores[1].elo > report.scores[2].elo
    screened = {r.rater: r for r in report.raters}
    assert not screened["speedy"].kept and screened["rater1"].kept
    text = format_report(report)
    assert "too fast: median response time under 1 s" in text and "excluded: too fast" in text
    assert "WebP" in text and "95 % interval" in text
    assert scores_csv(report).splitlines()[0].startswith("condition,label,mean_bpp")


def test_an_unreachable_target_names_the_image_and_condition(tmp_path: Path, tiny_zoo: Path) -> None:
    image = save_png(make_image(96, 128, seed=4), tmp_path / "p.png")
    spec = parse_spec(spec_yaml([image]).replace(f"target_bpp: {TARGET}", "target_bpp: 0.01"), tmp_path)
    with pytest.raises(InputError, match=r"^p, JPEG: .*cannot reach 0.01 bpp"):
        create_session(spec, tmp_path / "s", tiny_zoo)
    assert not (tmp_path / "s" / "lab-1" / VOTES_FILE).exists()


def test_recreating_a_session_with_votes_is_refused(session_dir: Path, tiny_zoo: Path) -> None:
    session = open_session(session_dir / "lab-1")
    with pytest.raises(InputError, match="already has votes"):
        create_session(session.spec, session_dir, tiny_zoo)


def test_full_image_sessions_can_be_recreated_from_their_own_file(tmp_path: Path, tiny_zoo: Path) -> None:
    image = save_png(make_image(96, 112, seed=5), tmp_path / "small.png")
    spec = parse_spec(spec_yaml([image], crop="null"), tmp_path)
    session = create_session(spec, tmp_path / "s", tiny_zoo)
    assert session.manifest["small"].crop == (0, 0, 112, 96)
    again = create_session(open_session(session.folder).spec, tmp_path / "s", tiny_zoo)  # images inside the folder
    assert again.spec.images[0].path.read_bytes() == image.read_bytes()


def test_cli_create_and_report(cli, tmp_path: Path) -> None:
    images = [save_png(make_image(96, 128, seed=s), tmp_path / f"im{s}.png") for s in (7, 8)]
    spec_path = tmp_path / "session.yaml"
    spec_path.write_text(spec_yaml(images))
    result = cli("sessions", "create", spec_path, "--sessions", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "lab-1: 3 images × 3 conditions, 13 trials per rater" in result.stdout
    db = tmp_path / "out" / "lab-1" / VOTES_FILE
    session = open_session(db.parent)
    for n in range(3):
        rate_all(session, f"r{n}", seed=n)
    out_json, out_csv = tmp_path / "r.json", tmp_path / "votes.csv"
    result = cli("sessions", "report", db, "--json", out_json, "--csv", out_csv, "--resamples", "50", "--by", "rater")
    assert result.returncode == 0, result.stderr
    assert "session lab-1: 39 votes from 3 raters (3 kept)" in result.stdout
    report = json.loads(out_json.read_text())
    assert report["scores"][0]["condition"] == "webp"
    assert report["settings"]["bootstrap"]["resample"] == "rater" and len(report["votes"]) == 39
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == 39 and {"bpp_a", "flips", "response_ms", "is_trap"} <= set(rows[0])


@pytest.mark.parametrize("args,message", [
    (("sessions", "report", "missing.sqlite"), "no such vote log"),
    (("sessions", "report", "x.sqlite", "--max-trap-failures", "2"), "between 0 and 1"),
    (("sessions", "report", "x.sqlite", "--resamples", "3"), "≥ 10"),
    (("sessions", "create", "missing.yaml"), "no such file"),
    (("sessions",), "required"),
])
def test_cli_errors_are_one_line(cli, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("percomp: error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
