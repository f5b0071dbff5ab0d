"""The workbench in real Chromium (Debian's, driven by Playwright): the page loads a sample and fills
every panel, another sample is chosen, α and the target bpp are moved through the sliders' number
boxes (a blur releases the slider), every panel and number follows, and a corrupt upload shows its
message while the app keeps working. Screenshots of each step go to the test's tmp folder."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_process, build_samples, build_zoo

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium (scripts/setup.sh)")
sync_api = pytest.importorskip("playwright.sync_api")

READY = "all numbers ready"
WAIT_MS = 120_000
PANELS = ("#saliency", "#overlay", "#bits", "#flip")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("browser_app")
    samples = build_samples(root / "samples")
    (samples / "sample-0.png").unlink()  # the small ones only: the first becomes the default
    with app_process(root, "--zoo", str(build_zoo(root / "zoo")), "--samples", str(samples), "--codecs", "jpeg",
                     "--device", "cpu", "--precision", "float32", "--sessions-dir", str(root / "sessions")) as address:
        yield address


@pytest.fixture
def page(url: str):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        yield page
        browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


def wait_ready(page, name: str, timeout: int = WAIT_MS) -> None:
    status = page.locator("#status")
    status.get_by_text(name).wait_for(timeout=timeout)
    status.get_by_text(READY).wait_for(timeout=timeout)


def choose_sample(page, name: str) -> None:
    """Pick a sample from the dropdown and wait until the page shows it. One re-pick is allowed: now
    and then (2 of about 10 tries in one session, none in 24 tries of a stand-alone repro since) the
    first pick after the page's first load never reaches the page (the browser sends the request; the
    status keeps the old image). Not understood yet and noted on the workbench issue; the re-pick is
    what a user would do, and every assertion after it still has to hold."""
    for attempt in range(2):
        page.locator("#sample input").click()
        page.get_by_role("option", name=name).click()
        try:
            wait_ready(page, name, timeout=WAIT_MS // 2 if attempt == 0 else WAIT_MS)
            return
        except sync_api.TimeoutError:
            if attempt:
                raise
            print(f"{name}: the first pick did not reach the page; picking it again")


def sources(page) -> dict[str, list[str]]:
    """The image URLs every panel shows now."""
    panels = PANELS + ("#gallery", "#slider")
    return {p: [img.get_attribute("src") for img in page.locator(f"{p} img").all()] for p in panels}


def set_slider(page, element: str, value: float) -> None:
    """Type into the slider's number box and leave it: Gradio releases the slider on blur."""
    box = page.locator(f"{element} input[type=number]")
    box.fill(f"{value:g}")
    box.press("Tab")


def caption_bpp(page) -> float:
    text = page.locator("#bits-caption").inner_text()
    return float(re.search(r"\(([\d.]+) bpp\)", text).group(1))


def test_sample_sliders_and_a_corrupt_upload(page, tmp_path: Path) -> None:
    wait_ready(page, "sample-1.png")
    for panel in PANELS:
        page.locator(f"{panel} img").first.wait_for(state="attached", timeout=WAIT_MS)
    page.locator("#gallery img").nth(2).wait_for(state="attached", timeout=WAIT_MS)  # BASE, ROI, JPEG
    page.locator("#slider img").nth(1).wait_for(state="attached", timeout=WAIT_MS)
    numbers = page.locator("#numbers")
    for label in ("BASE · tiny", "ROI · tiny · ROI auto α=1", "JPEG"):  # the table may render after the status
        numbers.get_by_text(label).first.wait_for(timeout=WAIT_MS)
    page.locator("#downloads").get_by_text(re.compile(r"\.pcmp")).nth(1).wait_for(timeout=WAIT_MS)
    page.locator("#rd img").wait_for(state="attached", timeout=WAIT_MS)  # the R-D sweep follows the first render
    page.screenshot(path=tmp_path / "1-loaded.png", full_page=True)

    choose_sample(page, "sample-2.png")
    assert "96" in page.locator("#status").inner_text()
    before = sources(page)
    page.screenshot(path=tmp_path / "2-sample.png", full_page=True)

    set_slider(page, "#alpha", 0.3)
    numbers.get_by_text("ROI · tiny · ROI auto α=0.3").first.wait_for(timeout=WAIT_MS)
    page.locator("#status").get_by_text(READY).wait_for(timeout=WAIT_MS)
    after_alpha = sources(page)
    assert after_alpha["#bits"] != before["#bits"]  # the ROI's bits moved
    assert after_alpha["#gallery"] != before["#gallery"]
    page.screenshot(path=tmp_path / "3-alpha.png", full_page=True)

    old_bpp = caption_bpp(page)
    set_slider(page, "#bpp", 0.2)
    page.wait_for_function("() => /\\((0\\.1\\d*|0\\.2000?) bpp\\)/.test("
                           "document.querySelector('#bits-caption').innerText)", timeout=WAIT_MS)
    page.locator("#status").get_by_text(READY).wait_for(timeout=WAIT_MS)
    assert caption_bpp(page) <= 0.2 < old_bpp
    after_bpp = sources(page)
    for panel in ("#bits", "#flip", "#gallery", "#slider"):
        assert after_bpp[panel] != after_alpha[panel], panel
    page.screenshot(path=tmp_path / "4-bpp.png", full_page=True)

    corrupt = tmp_path / "photo.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a PNG")
    page.locator("#upload input[type=file]").set_input_files(str(corrupt))
    page.locator("#status").get_by_text(re.compile("⚠.*photo.png")).wait_for(timeout=WAIT_MS)
    page.screenshot(path=tmp_path / "5-corrupt.png", full_page=True)
    assert sources(page)["#bits"] == after_bpp["#bits"]  # the panels still show the last good image

    choose_sample(page, "sample-1.png")  # and the app goes on serving
    assert len(list(tmp_path.glob("[0-9]-*.png"))) == 5
