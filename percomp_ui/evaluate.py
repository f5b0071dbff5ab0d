"""Rate–distortion evaluation of a learned codec on an image folder, in CompressAI's results format.

Every number comes from the real path: bpp from the ``.pcmp`` file's bytes, quality from the image
decoded out of those bytes. Output (``results_json``) matches CompressAI's ``eval_model`` JSON
(``name``, ``description``, ``results`` with one list entry per rate point), so curves overlay with
``../shared/anchors/kodak/*.json``.
"""
from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from pytorch_msssim import ms_ssim

from .codec import LearnedCodec
from .images import list_images, load_image

MS_SSIM_MIN_SIDE = 161  # five-scale MS-SSIM with an 11-px window needs ≥ 161 px per side


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM on RGB in [0, 255]; None for images smaller than the five-scale pyramid allows."""
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    to_tensor = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].double()  # noqa: E731
    return float(ms_ssim(to_tensor(a), to_tensor(b), data_range=255))


def evaluate_image(codec: LearnedCodec, rgb: np.ndarray, rates: Sequence[float]) -> list[dict[str, float]]:
    """Per rate: real bpp, PSNR-RGB, MS-SSIM-RGB and encode/decode seconds for one image."""
    rows = []
    for rate in rates:
        start = time.perf_counter()
        encoded = codec.encode(rgb, rate)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        decoded = codec.decode(encoded.data)
        decode_s = time.perf_counter() - start
        rows.append({
            "bpp": encoded.bpp,
            "psnr-rgb": psnr_rgb(rgb, decoded),
            "ms-ssim-rgb": ms_ssim_rgb(rgb, decoded),
            "encoding_time": encode_s,
            "decoding_time": decode_s,
        })
    return rows


def evaluate_folder(codec: LearnedCodec, folder: Path, rates: Sequence[float]) -> dict[str, Any]:
    """Mean over the folder's images per rate, plus the per-image rows."""
    per_image = {path.name: evaluate_image(codec, load_image(path).rgb, rates) for path in list_images([folder])}
    return {"rates": list(rates), "per_image": per_image, "mean": _mean_rows(per_image.values(), len(rates))}


def _mean_rows(tables: Iterable[list[dict[str, float]]], count: int) -> list[dict[str, float]]:
    tables = list(tables)
    means = []
    for i in range(count):
        keys = tables[0][i].keys()
        values = {k: [t[i][k] for t in tables if t[i][k] is not None] for k in keys}
        means.append({k: statistics.fmean(v) if v else None for k, v in values.items()})
    return means


def results_json(name: str, description: str, evaluation: dict[str, Any]) -> dict[str, Any]:
    """CompressAI's results layout: metric → list over rate points."""
    mean = evaluation["mean"]
    return {
        "name": name,
        "description": description,
        "results": {key: [row[key] for row in mean] for key in mean[0]} | {"rate": evaluation["rates"]},
    }
