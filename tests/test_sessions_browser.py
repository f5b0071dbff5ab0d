"""The sessions app in real Chromium: an organiser creates a session, two raters vote in two browser
contexts with keys and clicks, the app is SIGKILLed mid-session and restarted on the same vote log,
every committed vote is still there, both raters resume at the right trial, and the Results tab
shows scores. The raters judge like people would: they pick the picture closer to the reference
(PSNR of the crops the page shows them), and "not sure" when A and B are the same.
"""
from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image, percomp_command, save_png
from percomp_ui.metrics import psnr_rgb

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium (scripts/setup.sh)")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
SESSION = "lab-1"
TRIALS = 1 + 2 * 3 + 1 + 1  # training, every pair of 3 conditions on 2 images, 1 trap, 1 identical
CONDITION_NAMES = ("jpeg", "webp", "avif")  # keys, and labels once lower-cased
STEP_S = 0.3  # pause between a rater's key presses (the screening rule wants a median answer ≥ 1 s)


class AppProcess:
    """``percomp sessions serve`` as a real process on a free port."""

    def __init__(self, zoo: Path, sessions: Path, cwd: Path) -> None:
        self.zoo, self.sessions, self.cwd = zoo, sessions, cwd
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.log = Path()

    def start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command, env = percomp_command(self.zoo, "sessions", "serve", self.sessions, "--port", port)
        env["GRADIO_ANALYTICS_ENABLED"] = "False"
        self.log = self.cwd / f"app-{port}.log"
        with open(self.log, "wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, env=env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError("the app did not come up in 180 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def app(tiny_zoo: Path, tmp_path: Path):  # the zoo's untrained models are offered but not picked
    process = AppProcess(tiny_zoo, tmp_path / "sessions", tmp_path)
    process.start()
    yield process
    process.kill()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def committed_votes(db: Path) -> set[tuple]:
    with sqlite3.connect(db) as connection:
        return set(connection.execute("SELECT rater, trial, answer, condition_a, condition_b, flips FROM votes"))


def organise(page, app: AppProcess, images: list[Path]) -> None:
    page.goto(app.url)
    page.get_by_role("tab", name="Organise").click()
    try:  # the condition list arrives when the tab opens (once, in a loaded full run, not within 30 s)
        page.get_by_label("WebP", exact=True).wait_for(timeout=60_000)
    except sync_api.TimeoutError as error:
        raise AssertionError(organise_diagnosis(page, app)) from error
    page.get_by_label("WebP", exact=True).check()
    page.get_by_label("JPEG", exact=True).check()
    page.get_by_label("AVIF", exact=True).check()
    page.locator("#pc-name").get_by_role("textbox").fill(SESSION)
    page.locator("#pc-uploads input[type=file]").set_input_files([str(p) for p in images])
    for field, value in (("bpp", "0.5"), ("crop", "128"), ("trials", "0"), ("traps", "1"), ("identical", "1")):
        page.locator(f"#pc-{field} input").fill(value)
    page.wait_for_timeout(1500)  # uploads finish
    page.locator("#pc-write").click()
    page.get_by_text("name: lab-1").wait_for()
    page.locator("#pc-create").click()
    page.locator("#pc-status").get_by_text("is ready").wait_for(timeout=120_000)
    assert "9 trials per rater" in page.inner_text("#pc-status")


def organise_diagnosis(page, app: AppProcess) -> str:
    """What the organiser's page and the server showed when the condition list did not arrive."""
    shot = app.cwd / "organise-timeout.png"
    page.screenshot(path=str(shot), full_page=True)
    selected = page.get_by_role("tab", selected=True).all_inner_texts()
    shown = page.locator("#pc-conditions label").all_inner_texts()
    return (f"no WebP condition 60 s after opening Organise: selected tab {selected}, conditions shown {shown}, "
            f"screenshot {shot}; the app's log:\n{app.log.read_text()[-3000:]}")


def progress_text(page) -> str:
    return page.inner_text("#pc-progress") if page.locator("#pc-progress").is_visible() else ""


def shown_crop(page, which: str) -> np.ndarray:
    src = page.locator(f"#pc-image-{which} img").get_attribute("src")
    assert not any(name in src.lower() for name in CONDITION_NAMES), src
    with urllib.request.urlopen(src) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def assert_blind(page) -> None:
    """No condition name anywhere in the rater's page: DOM, attributes, and the app config the page loads."""
    text = (page.content() + page.evaluate("fetch('config').then(r => r.text())")).lower()
    leaked = [name for name in CONDITION_NAMES if name in text]
    assert not leaked, leaked


def rate(page, trials: int, by_keys: bool) -> None:
    """Answer ``trials`` trials: flip A/B twice, look at the reference, pick the closer picture."""
    for _ in range(trials):
        before = progress_text(page)
        assert page.get_attribute("#pc-viewport", "data-view") in (None, "a")
        for key in ("f", "f", "r", "r"):
            page.keyboard.press(key)
            page.wait_for_timeout(STEP_S * 1000)
        assert page.get_attribute("#pc-viewport", "data-view") == "a"
        reference, a, b = (shown_crop(page, which) for which in ("ref", "a", "b"))
        quality_a, quality_b = psnr_rgb(reference, a), psnr_rgb(reference, b)
        choice = "0" if np.array_equal(a, b) else ("1" if quality_a > quality_b else "2")
        if by_keys:
            page.keyboard.press(choice)
        else:
            page.locator({"1": "#pc-answer-a", "2": "#pc-answer-b", "0": "#pc-answer-unsure"}[choice]).click()
        page.wait_for_function("(before) => { const p = document.querySelector('#pc-progress');"
                               " return (!p || p.offsetParent === null || p.innerText !== before)"
                               " && !window.percompRate.state.busy; }", arg=before)


def start_by_form(page, app: AppProcess, rater: str) -> None:
    page.goto(app.url)
    page.locator("#pc-session input").click()
    page.get_by_role("option", name=SESSION).click()
    page.locator("#pc-rater").get_by_role("textbox").fill(rater)
    page.locator("#pc-display").get_by_role("textbox").fill("24in 1920x1200, 60 cm, office light")
    page.locator("#pc-start").click()
    page.locator("#pc-progress").wait_for()


def start_by_url(page, app: AppProcess, rater: str) -> None:
    page.goto(f"{app.url}?session={SESSION}&rater={rater}")
    page.locator("#pc-progress").wait_for()


def test_two_raters_survive_a_killed_app_and_results_show_scores(app: AppProcess, browser, tmp_path: Path) -> None:
    images = [save_png(make_image(192, 256, seed=s), tmp_path / f"photo{s}.png") for s in (11, 12)]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    organiser = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    organise(organiser, app, images)
    db = app.sessions / SESSION / "votes.sqlite"

    ann = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
    bob = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
    start_by_form(ann, app, "ann")
    start_by_url(bob, app, "bob")
    assert "Practice trial" in progress_text(ann) and "Practice trial" in progress_text(bob)
    assert_blind(ann)
    rate(ann, 3, by_keys=True)
    rate(bob, 2, by_keys=False)
    rate(ann, 2, by_keys=False)
    assert progress_text(ann) == "Trial 5 of 8" and progress_text(bob) == "Trial 2 of 8"
    ann.keyboard.press("f")
    ann.screenshot(path=str(shots / "sessions-rater.png"))

    before = committed_votes(db)
    assert len(before) == 5 + 2
    assert all(flips == 2 for *_, flips in before)
    app.kill()
    assert committed_votes(db) == before  # nothing committed is lost

    app.start()
    start_by_url(ann, app, "ann")  # resumes from the URL ...
    start_by_form(bob, app, "bob")  # ... or by entering the same id again
    assert progress_text(ann) == "Trial 5 of 8" and progress_text(bob) == "Trial 2 of 8"
    assert_blind(bob)
    rate(ann, TRIALS - 5, by_keys=True)
    rate(bob, TRIALS - 2, by_keys=False)
    for page in (ann, bob):
        page.get_by_text("All 8 trials are done").wait_for()

    votes = committed_votes(db)
    assert before <= votes and len(votes) == 2 * TRIALS
    assert {(rater, trial) for rater, trial, *_ in votes} == {(r, t) for r in ("ann", "bob") for t in range(TRIALS)}
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        traps = connection.execute("SELECT answer, condition_a, condition_b FROM votes WHERE is_trap").fetchall()
        assert all((answer == "A") == (b == "trap") for answer, a, b in traps)  # nobody picked the trap
        assert connection.execute("SELECT COUNT(*) FROM raters").fetchone()[0] == 2

    organiser.goto(app.url)  # the organiser's page belonged to the killed process
    organiser.get_by_role("tab", name="Results").click()
    organiser.locator("#pc-results-session input").click()
    organiser.get_by_role("option", name=SESSION).click()
    organiser.locator("#pc-compute").click()
    organiser.locator("#pc-report").get_by_text("2 raters (2 kept)").wait_for(timeout=60_000)
    table = organiser.inner_text("#pc-scores")
    assert all(label in table for label in ("JPEG", "WebP", "AVIF"))
    organiser.locator("#pc-plot img").wait_for()
    downloads = organiser.inner_text("#pc-downloads")
    assert all(name in downloads for name in ("lab-1-votes", "lab-1-scores", "lab-1-report"))
    organiser.screenshot(path=str(shots / "sessions-results.png"), full_page=True)
    print(f"screenshots in {shots}")
