"""Encode/decode time of a 768×512 image: percomp's codec vs CompressAI's MeanScaleHyperprior.

Both networks get the same transform and entropy-model weights (the shipped checkpoint when one
exists, otherwise a seeded untrained net), so the timing compares implementations, not models.
Encode = image → entropy-coded strings (percomp: the whole ``.pcmp`` file); decode = strings → image.
percomp runs at the rate whose file matches CompressAI's bit count (or ``--rate``), so both code
the same amount of information. Each figure is the median of ``--repeats`` runs after a warm-up, in
one process, on the same threads.

    .venv/bin/python benchmarks/speed.py [--model base-vr] [--repeats 7] [--out benchmarks/results/speed-cpu.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from compressai.models import MeanScaleHyperprior

from percomp_ui.codec import LearnedCodec
from percomp_ui.images import load_image, rgb_to_tensor
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
    """CompressAI's MeanScaleHyperprior carrying our transform and entropy-model weights."""
    twin = MeanScaleHyperprior(model.config.N, model.config.M).eval()
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(("g_a.", "g_s.")):
            state[key] = value
        elif key.startswith("latent_codec."):
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
    codec = LearnedCodec(model, "bench")
    rgb = load_image(args.image).rgb
    if rgb.shape[0] > rgb.shape[1]:
        rgb = rgb.transpose(1, 0, 2).copy()
    x = rgb_to_tensor(rgb)

    with torch.inference_mode():
        cai_enc, cai_out = median_time(lambda: twin.compress(x), args.repeats)
        cai_dec, _ = median_time(lambda: twin.decompress(cai_out["strings"], cai_out["shape"]), args.repeats)
    pixels = rgb.shape[0] * rgb.shape[1]
    cai_bpp = sum(len(s[0]) for s in cai_out["strings"]) * 8 / pixels
    rate = args.rate
    if rate is None:
        rate = codec.encode_to_bpp(codec.prepare(rgb), cai_bpp).stream.rate
    ours_enc, encoded = median_time(lambda: codec.encode(rgb, rate), args.repeats)
    ours_dec, _ = median_time(lambda: codec.decode(encoded.data), args.repeats)

    rows = [
        ("encode", cai_enc, ours_enc),
        ("decode", cai_dec, ours_dec),
        ("total", cai_enc + cai_dec, ours_enc + ours_dec),
    ]
    print(f"{rgb.shape[1]}x{rgb.shape[0]} {args.image.name}, weights: {label}, torch threads {torch.get_num_threads()}")
    print(f"bpp: CompressAI {cai_bpp:.3f} (strings only), percomp {encoded.bpp:.3f} (whole .pcmp file, rate {rate:.4f})")
    print(f"{'':8}{'CompressAI s':>14}{'percomp s':>12}{'ratio':>8}")
    for name, cai, ours in rows:
        print(f"{name:8}{cai:14.3f}{ours:12.3f}{ours / cai:8.2f}")
    result = {
        "image": args.image.name, "width": rgb.shape[1], "height": rgb.shape[0], "weights": label,
        "rate": rate, "bpp": {"compressai": cai_bpp, "percomp": encoded.bpp},
        "seconds": {name: {"compressai": cai, "percomp": ours, "ratio": ours / cai} for name, cai, ours in rows},
        "repeats": args.repeats, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "device": "cpu",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
