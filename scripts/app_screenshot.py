"""The README's picture of the workbench: ``python app.py`` on the shipped checkpoints and sample
images, opened in Chromium, a sample chosen, every panel and the R-D curves waited for, then a
full-page screenshot.

    .venv/bin/python scripts/app_screenshot.py [--sample kodim04.png] [--out docs/img/app.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_process  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

WAIT_MS = 600_000  # a cold CPU start, four classical codecs and the R-D sweep


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default="kodim04.png")
    parser.add_argument("--bpp", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "app.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="percomp-shot-") as tmp:
        folder = Path(tmp)
        with app_process(folder, "--sessions-dir", str(folder / "sessions")) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)
            status = page.locator("#status")
            status.get_by_text("all numbers ready").wait_for(timeout=WAIT_MS)
            page.locator("#sample input").click()
            page.get_by_role("option", name=args.sample).click()
            status.get_by_text(args.sample).wait_for(timeout=WAIT_MS)
            box = page.locator("#bpp input[type=number]")
            box.fill(f"{args.bpp:g}")
            box.blur()
            page.wait_for_function(  # the bit map of the new rate is drawn
                "t => { const m = /\\(([\\d.]+) bpp\\)/.exec(document.querySelector('#bits-caption').innerText);"
                " return m !== null && +m[1] <= t && +m[1] > 0.9 * t; }", arg=args.bpp, timeout=WAIT_MS)
            status.get_by_text("all numbers ready").wait_for(timeout=WAIT_MS)
            # The R-D sweep follows the update: wait until it has been over for 10 s. Its progress text
            # shows only until the first chart arrives; while the generator goes on streaming charts
            # (the MS-SSIM points), Gradio marks the chart's status tracker `.generating`.
            quiet = 0
            for _ in range(WAIT_MS // 1000):
                sweeping = (page.get_by_text("R-D curves:").count() > 0 or page.locator("#rd img").count() == 0
                            or page.locator("#rd .generating").count() > 0)
                quiet = 0 if sweeping else quiet + 1
                if quiet >= 10:
                    break
                page.wait_for_timeout(1000)
            for fraction in (0.25, 0.5, 0.75, 1.0, 0.0):  # images load lazily: bring each into view once
                page.evaluate(f"window.scrollTo(0, {fraction} * document.body.scrollHeight)")
                page.wait_for_timeout(500)
            page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)",
                                   timeout=WAIT_MS)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
