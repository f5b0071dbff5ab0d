"""Encode/decode time of a 768×512 image: percomp's codec vs CompressAI's MeanScaleHyperprior.

Both networks get the same transform and entropy-model weights (the shipped checkpoint when one
exists, otherwise a seeded untrained net), so the timing compares implementations, not models. For
a checkerboard-context model the twin is the same network without the context, so the ratios then
include what the context's second pass costs.
Encode = image → entropy-coded strings (percomp: the whole ``.pcmp`` file); decode = strings → image.
percomp runs at the rate whose file matches CompressAI's bit count (or ``--rate``), so both code
the same amount of information, once with float32 transforms (exact, the CLI default) and once
with bfloat16 ones (``--precision bfloat16``; native on CPUs with AMX). Each figure is the median of ``--repeats`` runs after a warm-up, in
one process, on the same threads.

    .venv/bin/python benchmarks/speed.py [--model base-vr] [--repeats 7] [--out benchmarks/results/speed-cpu.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from compressai.models import MeanScaleHyperprior

from percomp_ui.codec import LearnedCodec, native_bfloat16
from percomp_ui.hardware import cpu_model
from percomp_ui.metrics import psnr_rgb
from percomp_ui.images import load_image, rgb_to_tensor, tensor_to_rgb
from percomp_ui.nn.checkerboard import CONTEXT_PREFIXES
from percomp_ui.nn.hyperprior import GainedMeanScaleHyperprior
from percomp_ui.zoo import default_checkpoint_dir, load_model

ROOT = Path(__file__).resolve().parent.parent


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compressai_twin(model: GainedMeanScaleHyperprior) -> MeanScaleHyperprior:
    """CompressAI's MeanScaleHyperprior carrying our transform and entropy-model weights (a
    checkerboard model's context has no counterpart there and is left out)."""
    twin = MeanScaleHyperprior(model.config.N, model.config.M).eval()
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(("g_a.", "g_s.")):
            state[key] = value
        elif key.startswith("latent_codec.") and not key.startswith(CONTEXT_PREFIXES):
            state[key.removeprefix("latent_codec.")] = value
    twin.load_state_dict(state, strict=True)
    return twin


def load(name: str) -> tuple[GainedMeanScaleHyperprior, str]:
    if (default_checkpoint_dir() / f"{name}.json").exists():
        return load_model(name)[0], name
    torch.manual_seed(0)
    model = GainedMeanScaleHyperprior().eval()
    model.update(force=True)
    return model, "untrained N=128 M=192"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base-vr")
    parser.add_argument("--image", type=Path, default=ROOT / "assets" / "kodim23.png")
    parser.add_argument("--rate", type=float, default=None, help="percomp rate level (default: match CompressAI's bpp)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed-cpu.json")
    args = parser.parse_args()

    model, label = load(args.model)
    twin = compressai_twin(model)
    twin.update(force=True)
    rgb = load_image(args.image).rgb
    if rgb.shape[0] > rgb.shape[1]:
        rgb = rgb.transpose(1, 0, 2).copy()
    x = rgb_to_tensor(rgb)
    pixels = rgb.shape[0] * rgb.shape[1]

    with torch.inference_mode():
        cai_enc, cai_out = median_time(lambda: twin.compress(x), args.repeats)
        cai_dec, cai_x = median_time(lambda: twin.decompress(cai_out["strings"], cai_out["shape"]), args.repeats)
    cai_bpp = sum(len(s[0]) for s in cai_out["strings"]) * 8 / pixels
    columns = {"compressai": {"encode": cai_enc, "decode": cai_dec, "bpp": cai_bpp,
                              "psnr": psnr_rgb(rgb, tensor_to_rgb(cai_x["x_hat"]))}}
    rate = args.rate
    for precision in ("float32", "bfloat16"):
        codec = LearnedCodec(model, "bench", precision=precision)
        if rate is None:  # the rate whose whole .pcmp file carries CompressAI's bit count
            rate = codec.encode_to_bpp(codec.prepare(rgb), cai_bpp).stream.rate
        enc, encoded = median_time(lambda: codec.encode(rgb, rate), args.repeats)
        dec, decoded = median_time(lambda: codec.decode(encoded.data), args.repeats)
        columns[f"percomp {precision}"] = {"encode": enc, "decode": dec, "bpp": encoded.bpp,
                                           "psnr": psnr_rgb(rgb, decoded)}
    for column in columns.values():
        column["total"] = column["encode"] + column["decode"]

    print(f"{rgb.shape[1]}x{rgb.shape[0]} {args.image.name}, weights: {label}, torch threads {torch.get_num_threads()}, "
          f"percomp rate {rate:.4f}, bfloat16 native: {native_bfloat16(torch.device('cpu'))}")
    names = list(columns)
    print(f"{'':8}" + "".join(f"{n:>20}" for n in names) + "".join(f"{'ratio ' + n.split()[-1]:>16}" for n in names[1:]))
    for row in ("encode", "decode", "total"):
        cells = "".join(f"{columns[n][row]:19.3f}s" for n in names)
        ratios = "".join(f"{columns[n][row] / columns['compressai'][row]:16.2f}" for n in names[1:])
        print(f"{row:8}{cells}{ratios}")
    print(f"{'bpp':8}" + "".join(f"{columns[n]['bpp']:20.4f}" for n in names) + "   (CompressAI: strings only; percomp: whole file)")
    print(f"{'PSNR dB':8}" + "".join(f"{columns[n]['psnr']:20.2f}" for n in names))
    result = {
        "image": args.image.name, "width": rgb.shape[1], "height": rgb.shape[0], "weights": label, "rate": rate,
        "columns": columns,
        "ratios": {n: {row: columns[n][row] / columns["compressai"][row] for row in ("encode", "decode", "total")}
                   for n in names[1:]},
        "repeats": args.repeats, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": cpu_model(), "bfloat16_native": native_bfloat16(torch.device("cpu")),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
