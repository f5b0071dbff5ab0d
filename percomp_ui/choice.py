"""Seed 000 §3: pick, per image, the model (and rate) that gives the best quality for a target bitrate.

Two modes, both on **actual encodings** (every candidate is really encoded and decoded; bpp from the
file's bytes), so an image's content decides, not a rate estimate:

* :func:`choose_for_bpp` — one image, a cap: each model encodes at the largest rate whose file is
  ≤ the cap (``LearnedCodec.encode_to_bpp``); the best quality among them wins.
* :func:`allocate_budget` — a folder, an average: CLIC's rule, total bits / total pixels ≤ the budget,
  maximising the mean quality over each image's candidate points (every model × a grid of rates):
  a multiple-choice knapsack, solved exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .codec import Encoded, LearnedCodec
from .errors import InputError
from .metrics import ms_ssim_rgb, psnr_rgb

METRICS = ("psnr", "ms-ssim")


@dataclass(frozen=True, eq=False)
class Option:
    """One real encoding of an image by one model."""

    model: str
    encoded: Encoded
    quality: float

    @property
    def bits(self) -> int:
        return len(self.encoded.data) * 8


def quality(metric: str, reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB or MS-SSIM; a lossless PSNR counts as 100 dB so that means stay finite."""
    if metric == "psnr":
        return min(psnr_rgb(reference, decoded), 100.0)
    if metric == "ms-ssim":
        value = ms_ssim_rgb(reference, decoded)
        if value is None:
            raise InputError("MS-SSIM needs images of at least 161 px per side; use --metric psnr")
        return value
    raise InputError(f"unknown metric {metric!r} (use {', '.join(METRICS)})")


def _option(name: str, codec: LearnedCodec, encoded: Encoded, rgb: np.ndarray, metric: str) -> Option:
    return Option(name, encoded, quality(metric, rgb, codec.reconstruct(encoded)))


def choose_for_bpp(rgb: np.ndarray, codecs: Mapping[str, LearnedCodec], target_bpp: float,
                   metric: str = "psnr") -> tuple[Option, list[Option]]:
    """The best model for ``rgb`` at ≤ ``target_bpp``, and every model's option (those that reach it)."""
    options = []
    for name, codec in codecs.items():
        try:
            encoded = codec.encode_to_bpp(codec.prepare(rgb), target_bpp)
        except InputError:  # this model's lowest rate is above the cap for this image
            continue
        options.append(_option(name, codec, encoded, rgb, metric))
    if not options:
        raise InputError(f"no model reaches {target_bpp:g} bpp on this image ({', '.join(codecs)})")
    return max(options, key=lambda o: (o.quality, -o.bits)), options


def candidate_options(rgb: np.ndarray, codecs: Mapping[str, LearnedCodec], rates: Sequence[float],
                      metric: str = "psnr") -> list[Option]:
    """Every model at every rate of ``rates`` (those above a model's top rate are skipped)."""
    options = []
    for name, codec in codecs.items():
        prepared = codec.prepare(rgb)
        for rate in rates:
            if rate <= codec.max_rate:
                options.append(_option(name, codec, codec.encode_prepared(prepared, rate), rgb, metric))
    return options


def pareto_front(options: Sequence[Option]) -> list[Option]:
    """The options no other option beats in both size and quality, cheapest first."""
    front: list[Option] = []
    for option in sorted(options, key=lambda o: (o.bits, -o.quality)):
        if not front or option.quality > front[-1].quality:
            front.append(option)
    return front


MAX_BUDGET_CELLS = 4_000_000  # budget resolution of the knapsack table (cells of ≥ 1 byte)


def allocate_budget(options: Mapping[str, Sequence[Option]], pixels: Mapping[str, int],
                    budget_bpp: float) -> dict[str, Option]:
    """Per image (key) the option maximising mean quality with Σ bits / Σ pixels ≤ ``budget_bpp``.

    A multiple-choice knapsack solved exactly by dynamic programming over the budget in bytes (file
    sizes are whole bytes); for budgets above :data:`MAX_BUDGET_CELLS` bytes a cell holds several
    bytes and sizes are rounded up to whole cells, which keeps every answer within the budget.
    """
    if not options:
        raise InputError("no images to allocate bits to")
    fronts = {key: pareto_front(opts) for key, opts in options.items()}
    if any(not front for front in fronts.values()):
        raise InputError("an image has no candidate encoding")
    total_pixels = sum(pixels[key] for key in fronts)
    budget_bytes = int(budget_bpp * total_pixels // 8)
    lowest = sum(front[0].bits for front in fronts.values())
    if lowest > budget_bytes * 8:
        raise InputError(f"budget {budget_bpp:g} bpp is below the lowest average these models reach "
                         f"({lowest / total_pixels:.4f} bpp)")
    cell = max(1, math.ceil(budget_bytes / MAX_BUDGET_CELLS))
    cells = budget_bytes // cell
    best = np.zeros(cells + 1)  # best[b]: the highest quality sum using at most b cells, images so far
    picks = []
    for front in fronts.values():
        new = np.full(cells + 1, -np.inf)
        pick = np.zeros(cells + 1, dtype=np.int32)
        for index, option in enumerate(front):
            cost = math.ceil(option.bits / 8 / cell)
            if cost > cells:
                break
            candidate = np.full(cells + 1, -np.inf)
            candidate[cost:] = best[: cells + 1 - cost] + option.quality
            better = candidate > new
            new[better], pick[better] = candidate[better], index
        best = new
        picks.append(pick)
    chosen, remaining = {}, cells
    for key, front, pick in reversed(list(zip(fronts, fronts.values(), picks))):
        option = front[pick[remaining]]
        chosen[key] = option
        remaining -= math.ceil(option.bits / 8 / cell)
    return {key: chosen[key] for key in fronts}
