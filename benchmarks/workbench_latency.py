"""Workbench latency without the web server: the app's own update, timed in this process.

``app_latency.py`` times what a browser waits for, through ``python app.py`` and its HTTP API. This
script times the part of it that is the workbench's work: from a new α or target bpp to the new ROI
reconstruction written as the PNG the app serves (``percomp_ui.app.workbench.update``'s first
snapshot, then ``FileStore.png``), with the same image, the same slider moves and the same caches.
The rest of each update (the other learned slots) runs untimed before the next move, as in the app;
the classical codecs and the slow numbers do not run (they come after the ROI slot and nothing here
waits for them).

It needs neither gradio nor a browser, so it runs where the app cannot be carried: the GPU machine of
the workplace's device tool takes a 64 MiB tree, and gradio's wheel alone is 63 MB. On one machine,
``app_latency.py``'s median minus this one's is what serving costs (HTTP, queue, JSON); the GPU's
latency through the app is about this script's GPU median plus that overhead.

    .venv/bin/python benchmarks/workbench_latency.py [--zoo checkpoints] [--device auto]
                    [--source auto | --painted MASK.png] [--repeats 10] [--out F.json]

``--painted MASK`` takes the ROI from a mask file (the ``painted`` source) instead of computing one:
the GPU machine's OpenCV has no ``cv2.saliency``, which the ``auto`` source falls back to on kodim23.
``--save-mask F`` only writes the source map ``--source`` makes, for such a machine (``scripts/gpu_session.sh
prepare``); painted, it goes through seed 003's eqs. 1–2 to the same mask (within 1e-4).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latency_plan import GOAL_S, START_ALPHA, START_BPP, fresh_alpha, fresh_target, summary
from percomp_ui.app.files import FileStore
from percomp_ui.app.workbench import ROI, CodecPool, Session, Settings, default_device, slots, update
from percomp_ui.errors import PercompError
from percomp_ui.hardware import cpu_model, describe_device
from percomp_ui.images import load_image, save_png

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "assets" / "kodim23.png"  # 768×512, as app_latency.py's first image


def roi_change(session: Session, files: FileStore, settings: Settings, painted: np.ndarray | None) -> float:
    """Seconds from a new setting to the ROI reconstruction's PNG on disk; the rest of the update
    (the other learned slots) then runs untimed."""
    start = time.perf_counter()
    steps = update(session, settings, painted)
    snapshot = next(steps)
    result = snapshot.result(ROI)
    if result is None:
        raise PercompError(f"no ROI reconstruction at α={settings.alpha:g}, {settings.target_bpp:g} bpp: "
                           + "; ".join(snapshot.problems))
    files.png(ROI, result.rendered.reconstruction)
    elapsed = time.perf_counter() - start
    for _ in steps:
        pass
    return elapsed


def measure(session: Session, model: str, source: str, painted: np.ndarray | None,
            repeats: int) -> dict[str, Any]:
    """α moves, then target moves (each value new, so each is an encode and not a cache hit)."""
    with tempfile.TemporaryDirectory(prefix="percomp-latency-") as tmp:
        files = FileStore(Path(tmp))
        base = Settings(model, source, START_ALPHA, START_BPP, codecs=())
        roi_change(session, files, base, painted)  # the image's analysis and masks: cached, as after a load
        alpha = [roi_change(session, files, Settings(model, source, fresh_alpha(i), START_BPP, ()), painted)
                 for i in range(repeats)]
        last_alpha = fresh_alpha(repeats - 1)
        bpp = [roi_change(session, files, Settings(model, source, last_alpha, fresh_target(i), ()), painted)
               for i in range(repeats)]
        files.close()
    return {"alpha_change_to_roi_s": summary(alpha), "bpp_change_to_roi_s": summary(bpp)}


def main() -> int:
    try:
        return run(parse_args())
    except PercompError as error:  # a missing model, an unreadable mask: one line, no traceback
        print(f"workbench_latency: error: {error}", file=sys.stderr)
        return error.exit_code


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", type=Path, default=None, help="checkpoint folder (default: the app's)")
    parser.add_argument("--model", default="base-vr")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--source", default="auto", help="ROI source (default auto, as app_latency.py)")
    parser.add_argument("--painted", type=Path, help="a mask file: the painted ROI source instead of --source")
    parser.add_argument("--save-mask", type=Path, help="only write the ROI source map --source makes, as a PNG for --painted elsewhere")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def run(args: argparse.Namespace) -> int:
    device = default_device() if args.device == "auto" else args.device
    pool = CodecPool(args.zoo, device, args.precision)
    session = Session(pool)
    session.open(IMAGE, IMAGE.name)
    source, painted = ("painted", load_image(args.painted).rgb) if args.painted else (args.source, None)
    if args.save_mask:
        source_map = session.masks(source, painted).saliency  # painted, it goes through the same eqs. 1–2
        save_png(np.repeat(np.round(255 * source_map).astype(np.uint8)[..., None], 3, axis=2), args.save_mask)
        print(f"wrote {args.save_mask} ({source} source map of {IMAGE.name})")
        return 0
    roi_model = next(s for s in slots(pool.zoo, Settings(args.model)) if s.title == ROI).candidates[0].codec
    timings = measure(session, args.model, source, painted, args.repeats)
    result = {
        "what": "in process: setting → ROI reconstruction PNG written (percomp_ui.app.workbench.update, FileStore.png)",
        "image": IMAGE.name, "model": args.model, "roi_slot_model": roi_model,
        "roi_source": source if args.painted is None else f"painted ({args.painted.name})",
        "precision": args.precision, "device": device, "device_name": describe_device(device),
        "cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "repeats": args.repeats, **timings, "goal_s": GOAL_S,
    }
    print(f"in process on {result['device_name']} (ROI slot: {roi_model}, source {result['roi_source']})")
    print(f"{'change':<22}{'median s':>10}{'p90 s':>10}{'min s':>10}")
    for name, key in (("α → ROI recon", "alpha_change_to_roi_s"), ("bpp → ROI recon", "bpp_change_to_roi_s")):
        row = timings[key]
        print(f"{name:<22}{row['median']:>10.3f}{row['p90']:>10.3f}{row['min']:>10.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
