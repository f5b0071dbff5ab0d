"""What encoder-side latent refinement buys per step: real bytes and PSNR against refinement steps.

For each image and rate level, the latent is refined with 0, 5, 10, … steps (``LearnedCodec`` with
``refine_steps``; ``percomp_ui.nn.refine``), coded to a real ``.pcmp`` file, decoded by a codec that does
not refine, and measured: bpp from the file's bytes, PSNR-RGB, the loss J = bpp + λ·MSE that refinement
descends (λ of the level, pixels in [0, 1]) and the encode's wall time. The table gives means per level
and step count, and the changes against 0 steps (the plain encoder).

    .venv/bin/python benchmarks/refine_gain.py [--model base-vr] [--folder ../shared/datasets/kodak]
        [--count 4] [--rates 1 5 9] [--steps 0 5 10 20 40] [--out benchmarks/results/refine-gain.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from percomp_ui.codec import LearnedCodec
from percomp_ui.hardware import cpu_model
from percomp_ui.images import list_images, load_image
from percomp_ui.metrics import psnr_rgb
from percomp_ui.nn.gain import lambda_at_rate
from percomp_ui.nn.refine import DEFAULT_LR
from percomp_ui.zoo import load_model


def measure(codec: LearnedCodec, plain: LearnedCodec, rgb: np.ndarray, rate: float) -> dict[str, float]:
    start = time.perf_counter()
    encoded = codec.encode(rgb, rate)
    seconds = time.perf_counter() - start
    decoded = plain.decode(encoded.data)
    mse = float(np.mean((decoded.astype(np.float64) - rgb) ** 2)) / 255**2
    loss = encoded.bpp + lambda_at_rate(codec.model.config.lambdas, rate) * mse
    return {"bpp": encoded.bpp, "psnr": psnr_rgb(rgb, decoded), "loss": loss, "encode_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base-vr")
    parser.add_argument("--folder", type=Path, default=Path("../shared/datasets/kodak"))
    parser.add_argument("--count", type=int, default=4, help="the folder's first COUNT images")
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 5.0, 9.0])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5, 10, 20, 40])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/refine-gain.json"))
    args = parser.parse_args()

    model, card = load_model(args.model)
    plain = LearnedCodec(model, args.model, args.device)
    codecs = {steps: LearnedCodec(model, args.model, args.device, refine_steps=steps) for steps in args.steps}
    images = list_images([args.folder])[: args.count]
    rows = []
    for path in images:
        rgb = load_image(path).rgb
        for rate in args.rates:
            for steps, codec in codecs.items():
                rows.append({"image": path.name, "rate": rate, "steps": steps, **measure(codec, plain, rgb, rate)})
                print(json.dumps(rows[-1]), flush=True)

    table = []
    for rate in args.rates:
        base = [r for r in rows if r["rate"] == rate and r["steps"] == args.steps[0]]
        for steps in args.steps:
            these = [r for r in rows if r["rate"] == rate and r["steps"] == steps]
            mean = {key: statistics.fmean(r[key] for r in these) for key in ("bpp", "psnr", "loss", "encode_s")}
            table.append({
                "rate": rate, "steps": steps, **mean,
                "bpp_change_pct": 100 * (mean["bpp"] / statistics.fmean(r["bpp"] for r in base) - 1),
                "psnr_change_db": mean["psnr"] - statistics.fmean(r["psnr"] for r in base),
                "loss_change_pct": 100 * (mean["loss"] / statistics.fmean(r["loss"] for r in base) - 1),
            })
    print(f"\n{args.model} ({card.get('weights_hash', '?')[:16]}), {len(images)} images of {args.folder.name}, "
          f"lr {DEFAULT_LR:g}")
    print(f"{'rate':>5} {'steps':>5} {'bpp':>8} {'PSNR':>7} {'Δbpp %':>7} {'ΔPSNR':>7} {'ΔJ %':>7} {'enc s':>7}")
    for row in table:
        print(f"{row['rate']:5g} {row['steps']:5d} {row['bpp']:8.4f} {row['psnr']:7.3f} {row['bpp_change_pct']:+7.2f} "
              f"{row['psnr_change_db']:+7.3f} {row['loss_change_pct']:+7.2f} {row['encode_s']:7.1f}")
    result = {
        "model": args.model, "weights_hash": card.get("weights_hash"), "folder": str(args.folder),
        "images": [p.name for p in images], "lr": DEFAULT_LR, "device": args.device,
        "cpu": cpu_model(), "threads": torch.get_num_threads(), "table": table, "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
