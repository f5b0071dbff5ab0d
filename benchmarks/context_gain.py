"""How many bits would a checkerboard context save on a shipped model's own latents?

The model's transforms, hyperprior and gains stay frozen; only the checkerboard context
(``percomp_ui.nn.checkerboard``, started at zero, i.e. at the model itself) is trained, on the rate of
the latents alone (the distortion does not depend on it but through the rounding offsets). The
latents of ``--crops`` random 256-px training crops are computed once (``g_a``), so a step costs a
fraction of a full training step: a cheap first stage before a joint fine-tune
(``percomp train --architecture gained-checkerboard-hyperprior --init-from MODEL``), and a measure of
what that fine-tune starts with. Prints, per rate level, Kodak's estimated bpp without and with the
context (the coder's own symbols and scale table, ``estimate_latent_bits``) and writes JSON; the
trained context weights go to ``--save`` (safetensors) and ``--init`` continues from such a file.

    .venv/bin/python benchmarks/context_gain.py [--model base-vr] [--data ../shared/datasets/train]
        [--kodak ../shared/datasets/kodak] [--crops 800] [--steps 1500] [--lr 3e-4] [--init FILE]
        [--save FILE] [--out benchmarks/results/context-gain.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from percomp_ui.fileio import atomic_write
from percomp_ui.nn.checkerboard import CONTEXT_PREFIXES, checkerboard_state_from
from percomp_ui.nn.hyperprior import CHECKERBOARD, GainedMeanScaleHyperprior, HyperpriorConfig
from percomp_ui.train.data import CropSampler, load_validation
from percomp_ui.train.losses import bits_per_pixel
from percomp_ui.zoo import load_model

ROOT = Path(__file__).resolve().parent.parent
CROP, BATCH, LEVELS = 256, 8, (1, 3, 5, 7)


def with_context(model: GainedMeanScaleHyperprior) -> GainedMeanScaleHyperprior:
    c = model.config
    checkerboard = GainedMeanScaleHyperprior(HyperpriorConfig(N=c.N, M=c.M, lambdas=c.lambdas,
                                                              architecture=CHECKERBOARD))
    checkerboard.load_state_dict(checkerboard_state_from(model.state_dict(), checkerboard))
    return checkerboard


@torch.no_grad()
def training_latents(model: GainedMeanScaleHyperprior, folders: list[Path], count: int) -> torch.Tensor:
    sampler = CropSampler(folders, CROP, seed=7)
    return torch.cat([model.g_a(sampler.batch(BATCH)) for _ in range(-(-count // BATCH))])


def train_context(model: GainedMeanScaleHyperprior, latents: torch.Tensor, steps: int, lr: float) -> None:
    """Adam on the estimated rate of the latents at a random level per sample, context weights only."""
    trained = [p for n, p in model.named_parameters() if n.startswith(CONTEXT_PREFIXES)]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trained:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(trained, lr=lr)
    generator = torch.Generator().manual_seed(0)
    model.train()
    start, running = time.time(), None
    for step in range(1, steps + 1):
        y = latents[torch.randint(len(latents), (BATCH,), generator=generator)]
        if torch.rand(1, generator=generator) < 0.5:
            y = y.flip(-1)
        levels = torch.randint(model.num_levels, (BATCH,), generator=generator)
        out = model.latent_codec(y, model.gains_for_levels(levels))
        bpp = bits_per_pixel({"y": out["likelihoods"]["y"]}, CROP * CROP).mean()
        optimizer.zero_grad()
        bpp.backward()
        optimizer.step()
        running = bpp.item() if running is None else 0.98 * running + 0.02 * bpp.item()
        if step % 100 == 0 or step == steps:
            print(f"step {step}: latent bpp (running mean over levels) {running:.4f}, {time.time() - start:.0f} s",
                  flush=True)


def kodak_rates(model: GainedMeanScaleHyperprior, latents: list[tuple[torch.Tensor, torch.Tensor]],
                pixels: int) -> dict[int, float]:
    """Estimated bpp of Kodak's coded symbols per level; ``latents``: (y, h_a(y)) per image (the
    transforms are frozen, so the model and its context variant share them)."""
    model.eval().update(force=True)
    return {level: sum(model.estimate_latent_bits(y, float(level), None, z) for y, z in latents) / pixels
            for level in LEVELS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base-vr")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "train")
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    parser.add_argument("--crops", type=int, default=800)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--init", type=Path, help="context weights (safetensors) to continue from")
    parser.add_argument("--save", type=Path, default=Path("context.safetensors"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "context-gain.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    base, card = load_model(args.model)
    model = with_context(base)
    if args.init:
        model.load_state_dict({**model.state_dict(), **load_file(str(args.init))})
    folders = sorted(p for p in args.data.iterdir() if p.is_dir()) or [args.data]
    start = time.time()
    latents = training_latents(base, folders, args.crops)
    print(f"{len(latents)} training latents in {time.time() - start:.0f} s", flush=True)
    start = time.time()
    train_context(model, latents, args.steps, args.lr)
    train_s = time.time() - start
    save_file({n: t.detach().contiguous() for n, t in model.state_dict().items() if n.startswith(CONTEXT_PREFIXES)},
              str(args.save))

    images = load_validation(args.kodak, 24)
    base.eval()
    kodak = [(y, base.hyper_analyse(y)) for y in (base.analyse(x) for x in images)]
    pixels = sum(x.shape[-1] * x.shape[-2] for x in images)
    without, with_ = kodak_rates(base, kodak, pixels), kodak_rates(model, kodak, pixels)
    print(f"\n{args.model} ({card['weights_hash']}), Kodak {len(images)}, estimated bpp of the coded symbols")
    print("| level | without context | with context | change |\n|---|---|---|---|")
    rows = []
    for level in LEVELS:
        change = 100 * (with_[level] / without[level] - 1)
        rows.append({"level": level, "bpp_without": without[level], "bpp_with": with_[level], "change_pct": change})
        print(f"| {level} | {without[level]:.4f} | {with_[level]:.4f} | {change:+.2f} % |")
    result = {"model": args.model, "weights_hash": card["weights_hash"], "crops": len(latents), "steps": args.steps,
              "lr": args.lr, "init": str(args.init) if args.init else None, "train_s": round(train_s),
              "threads": args.threads, "kodak_images": len(images), "levels": rows}
    atomic_write(args.out, (json.dumps(result, indent=2) + "\n").encode())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
