"""Image-quality metrics on 8-bit RGB images (HxWx3 uint8): pure functions, reference image first.

* :func:`psnr_rgb`: PSNR over all three channels, peak 255; ``inf`` for identical images.
* :func:`ms_ssim_rgb`: five-scale MS-SSIM (``pytorch_msssim``, data range 255); None below
  :data:`MS_SSIM_MIN_SIDE` pixels per side, where the pyramid does not fit.
* :func:`flip` / :func:`flip_map`: NVIDIA's LDR-FLIP (``flip_evaluator``), the images taken as sRGB
  and viewed at FLIP's default 67 pixels per degree (a 0.7 m wide 4K monitor seen from 0.7 m).
  0 = identical, 1 = maximal difference; lower is better.
* :func:`lpips_distance`: LPIPS v0.1 with the AlexNet trunk (the ``lpips`` package); lower is better.
  The trunk is loaded only from a local file (:mod:`percomp_ui.lpips_offline`, never a download);
  without it the value is None, after one logged warning per process.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .lpips_offline import load_lpips

MS_SSIM_MIN_SIDE = 161  # five-scale MS-SSIM with an 11-px window needs ≥ 161 px per side
LPIPS_MIN_SIDE = 31  # AlexNet's conv/pool stack up to relu5 needs ≥ 31 px per side
FLIP_PARAMETERS: dict[str, Any] = {}  # FLIP defaults: 67 pixels per degree, sRGB LDR input


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for image in (a, b):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected HxWx3 uint8 RGB arrays, got shape {getattr(image, 'shape', None)} "
                             f"and dtype {getattr(image, 'dtype', type(image).__name__)}")
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over R, G and B together (peak 255); ``math.inf`` when the images are identical."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM on RGB in [0, 255]; None for images smaller than the five-scale pyramid allows."""
    from pytorch_msssim import ms_ssim

    _check_pair(a, b)
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    to_tensor = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].double()  # noqa: E731
    return float(ms_ssim(to_tensor(a), to_tensor(b), data_range=255))


def _flip(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    import flip_evaluator

    _check_pair(a, b)
    to_float = lambda im: np.ascontiguousarray(im, dtype=np.float32) / np.float32(255)  # noqa: E731
    error_map, mean, _ = flip_evaluator.evaluate(to_float(a), to_float(b), "LDR", inputsRGB=True,
                                                 applyMagma=False, computeMeanError=True,
                                                 parameters=dict(FLIP_PARAMETERS))
    return np.asarray(error_map, dtype=np.float32).reshape(a.shape[:2]), float(mean)


def flip_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel LDR-FLIP error of ``b`` against reference ``a``: HxW float32 in [0, 1]."""
    return _flip(a, b)[0]


def flip(a: np.ndarray, b: np.ndarray) -> float:
    """Mean LDR-FLIP error of ``b`` against reference ``a`` (0 = identical; lower is better)."""
    return _flip(a, b)[1]


@lru_cache(maxsize=1)
def _lpips_model() -> torch.nn.Module | None:
    """LPIPS v0.1 with its AlexNet backbone from the local torch hub cache; None (one warning) otherwise."""
    module, _ = load_lpips("alex")
    return module


def lpips_available() -> bool:
    """Whether :func:`lpips_distance` can run here (warns once, the first time it cannot)."""
    return _lpips_model() is not None


def lpips_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """LPIPS (v0.1, AlexNet) between ``a`` and ``b``; None when the AlexNet weights are not cached
    locally (one warning, never a download) or the images are under :data:`LPIPS_MIN_SIDE` px a side."""
    _check_pair(a, b)
    model = _lpips_model()
    if model is None or min(a.shape[:2]) < LPIPS_MIN_SIDE:
        return None
    to_tensor = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
    with torch.inference_mode():
        return float(model(to_tensor(a), to_tensor(b)).item())
