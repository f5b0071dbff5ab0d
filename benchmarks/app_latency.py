"""Workbench latency as a client sees it: ``python app.py`` runs as its own process and a
``gradio_client`` moves α or the target bpp on a 768×512 image; the time is from sending the
change to holding the new ROI reconstruction's PNG: the first update that carries it (the app
sends the ROI slot first, then the other panels and the slow numbers, which are not timed: the next
change is sent once the previous one has finished), then its file fetched over a kept-alive
connection, as a browser does. (gradio_client's own downloads open a new HTTP client per file,
about 0.1 s each here, which no browser pays, so they are off.) Then ``--clients`` clients at once
each load their own image and move α: every one must be served without an error and get back its
own image.

    .venv/bin/python benchmarks/app_latency.py [--repeats 10] [--clients 8]
                                               [--out benchmarks/results/app-latency-cpu.json]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from PIL import Image

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from gradio_client import Client  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from app_fixtures import app_process  # noqa: E402

from latency_plan import GOAL_S, START_ALPHA, START_BPP, fresh_alpha, fresh_target, summary  # noqa: E402
from percomp_ui.app.workbench import ROI, Zoo  # noqa: E402
from percomp_ui.hardware import cpu_model  # noqa: E402
from percomp_ui.images import load_image, save_png  # noqa: E402

OUTPUTS = ["status", "source", "editor", "saliency", "overlay", "bits_of", "bits", "bits_caption", "flip",
           "gallery", "numbers", "left", "right", "slider", "downloads"]
VIEW = ["ROI", "Original", "ROI", 1]  # bits of, compare left / right, zoom


def bench_images(folder: Path, count: int) -> list[str]:
    """``count`` distinct 768×512 images from the Kodak samples (kodim23, then flips and turns)."""
    sources = [load_image(ROOT / "assets" / name).rgb for name in ("kodim23.png", "kodim04.png", "kodim19.png")]
    landscape = [rgb if rgb.shape[1] > rgb.shape[0] else np.rot90(rgb) for rgb in sources]
    variants = [v for rgb in landscape for v in (rgb, rgb[:, ::-1], rgb[::-1], rgb[::-1, ::-1])]
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(count):
        names.append(f"bench-{index}.png")
        save_png(np.ascontiguousarray(variants[index % len(variants)]), folder / names[-1])
    return names


def roi_item(out: dict[str, Any]) -> dict[str, Any]:
    return next(item for item in out["gallery"] if item["caption"].startswith("ROI"))


def fetch(http: httpx.Client, file: dict[str, Any]) -> bytes:
    response = http.get(file["url"])
    response.raise_for_status()
    return response.content


def first_roi_update(client: Client, http: httpx.Client, api: str, args: list[Any],
                     accept) -> tuple[float, dict[str, Any]]:
    """Seconds until the PNG of the first update whose ROI reconstruction satisfies ``accept`` is
    fetched; waits for the rest of the update (untimed) before returning."""
    start = time.perf_counter()
    job = client.submit(*args, api_name=api)
    elapsed, first, seen = None, None, []
    for values in job:
        out = dict(zip(OUTPUTS, values))
        seen.append(out["status"] if isinstance(out["status"], str) else "(status unchanged)")
        if elapsed is None and isinstance(out["gallery"], list) and any(
                i["caption"].startswith("ROI") for i in out["gallery"]) and accept(roi_item(out)["caption"]):
            Image.open(io.BytesIO(fetch(http, roi_item(out)["image"]))).verify()
            elapsed, first = time.perf_counter() - start, out
    job.result()
    if elapsed is None:
        raise RuntimeError(f"{api}: no update carried the expected ROI reconstruction; statuses: "
                           + " | ".join(line.replace("\n", " ") for line in seen))
    return elapsed, first


def settings(model: str, alpha: float, bpp: float) -> list[Any]:
    return [model, "auto", bpp, alpha, []]


def alpha_changes(client: Client, http: httpx.Client, model: str, repeats: int) -> list[float]:
    times = []
    for index in range(repeats):
        alpha = fresh_alpha(index)
        elapsed, _ = first_roi_update(client, http, "/set_alpha", settings(model, alpha, START_BPP) + VIEW,
                                      lambda caption, a=alpha: caption.split(" · ")[-3].endswith(f"α={a:g}"))
        times.append(elapsed)
    return times


def bpp_changes(client: Client, http: httpx.Client, model: str, repeats: int) -> list[float]:
    times = []
    alpha = fresh_alpha(repeats - 1)  # where the α changes left it
    for index in range(repeats):
        target = fresh_target(index)
        bpp_of = lambda caption: float(re.search(r"([\d.]+) bpp", caption).group(1))  # noqa: E731
        elapsed, _ = first_roi_update(client, http, "/set_bpp", settings(model, alpha, target) + VIEW,
                                      lambda caption, t=target: t - 0.02 <= bpp_of(caption) <= t)
        times.append(elapsed)
    return times


def concurrent_clients(url: str, model: str, names: list[str], folder: Path) -> dict[str, Any]:
    """Every client loads its own image and moves α at the same moment; checks what each gets back."""
    results: list[dict[str, Any]] = [{} for _ in names]
    barrier = threading.Barrier(len(names))

    def user(index: int) -> None:
        record = results[index]
        try:
            client, http = Client(url, verbose=False, download_files=False, analytics_enabled=False), httpx.Client()
            client.predict(names[index], *settings(model, START_ALPHA, START_BPP), *VIEW, api_name="/load_sample")
            alpha = fresh_alpha(index)
            barrier.wait()
            record["seconds"], out = first_roi_update(
                client, http, "/set_alpha", settings(model, alpha, START_BPP) + VIEW,
                lambda caption, a=alpha: caption.split(" · ")[-3].endswith(f"α={a:g}"))
            original = np.asarray(Image.open(folder / names[index]))
            record["own_image"] = names[index] in out["status"] and bool(
                np.array_equal(np.asarray(Image.open(io.BytesIO(fetch(http, out["slider"][0])))), original))
        except Exception as error:  # noqa: BLE001 - a benchmark records every failure
            record["error"] = f"{type(error).__name__}: {error}"
            barrier.abort()

    threads = [threading.Thread(target=user, args=(i,)) for i in range(len(names))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = [r["seconds"] for r in results if "seconds" in r]
    return {
        "clients": len(names),
        "served": len(times),
        "errors": [r["error"] for r in results if "error" in r],
        "own_image_every_client": all(r.get("own_image") for r in results),
        "alpha_to_roi_s": {"median": statistics.median(times) if times else None, "max": max(times, default=None),
                           "all": times},
        "wall_s_including_loads": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base-vr")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "app-latency-cpu.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="percomp-latency-") as tmp:
        folder = Path(tmp)
        names = bench_images(folder / "samples", max(args.clients, 1))
        with app_process(folder, "--samples", str(folder / "samples"), "--codecs", "--precision", args.precision,
                         "--sessions-dir", str(folder / "sessions")) as url:
            client, http = Client(url, verbose=False, download_files=False, analytics_enabled=False), httpx.Client()
            client.predict(names[0], *settings(args.model, START_ALPHA, START_BPP), *VIEW, api_name="/load_sample")
            alpha = summary(alpha_changes(client, http, args.model, args.repeats))
            bpp = summary(bpp_changes(client, http, args.model, args.repeats))
            crowd = concurrent_clients(url, args.model, names, folder / "samples")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = {
        "image": "kodim23.png (768x512; concurrent clients: Kodak samples flipped and turned to 768x512)",
        "model": args.model, "roi_slot_model": (Zoo.scan().names(ROI) or [args.model])[0],
        "precision": args.precision, "device": device,
        "cpu": cpu_model(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "repeats": args.repeats,
        "alpha_change_to_roi_s": alpha, "bpp_change_to_roi_s": bpp, "concurrent": crowd,
        "goal_s": GOAL_S,
    }
    print(f"{'change':<22}{'median s':>10}{'p90 s':>10}{'min s':>10}")
    for name, row in (("α → ROI recon", alpha), ("bpp → ROI recon", bpp)):
        print(f"{name:<22}{row['median']:>10.3f}{row['p90']:>10.3f}{row['min']:>10.3f}")
    print(f"{crowd['clients']} concurrent clients: {crowd['served']} served, {len(crowd['errors'])} errors, "
          f"own image every client: {crowd['own_image_every_client']}, α → ROI median "
          f"{crowd['alpha_to_roi_s']['median']} s, max {crowd['alpha_to_roi_s']['max']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if crowd["served"] == crowd["clients"] and not crowd["errors"] and crowd["own_image_every_client"] else 1


if __name__ == "__main__":
    sys.exit(main())
