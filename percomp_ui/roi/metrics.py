"""Quality inside and outside the region of interest, and the share of bits spent on it.

The ROI is where a mask is ≥ ½. Callers pass seed 003's eq. 1 mask (``RoiMasks.mask``: the detected
faces, text or painted strokes themselves); the smoothed ``RM_2D`` only shapes how bits are spread,
and a thin text line smoothed by the 51×51 kernel would fall under ½ everywhere. Region MS-SSIM is the five-scale MS-SSIM
whose per-scale means (the contrast-structure terms and the last scale's SSIM) are taken over the
region only — with a full mask it equals :func:`percomp_ui.metrics.ms_ssim_rgb` exactly. At a
coarse scale where the region has no pixel left inside the valid window area (a thin border region,
say), that scale's term is the whole image's.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import MS_SSIM_MIN_SIDE

ROI_THRESHOLD = 0.5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, as pytorch_msssim
WINDOW, WINDOW_SIGMA = 11, 1.5
K1, K2 = 0.01, 0.03


def roi_region(mask_2d: np.ndarray) -> np.ndarray:
    return mask_2d >= ROI_THRESHOLD


def region_psnr(reference: np.ndarray, decoded: np.ndarray, region: np.ndarray) -> float | None:
    """PSNR-RGB over the pixels where ``region`` is true; None for an empty region."""
    if not region.any():
        return None
    difference = reference[region].astype(np.float64) - decoded[region].astype(np.float64)
    mse = float(np.mean(difference**2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def region_ms_ssim(reference: np.ndarray, decoded: np.ndarray, weights: np.ndarray) -> float | None:
    """MS-SSIM with each scale's mean weighted by ``weights`` (H×W ≥ 0, pooled down with the image).

    None when the image is too small for five scales or the weights are all zero."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d, gaussian_filter

    if min(reference.shape[:2]) < MS_SSIM_MIN_SIDE or not (weights > 0).any():
        return None
    to_tensor = lambda im: torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].double()  # noqa: E731
    x, y = to_tensor(reference), to_tensor(decoded)
    w = torch.from_numpy(weights.astype(np.float64))[None, None]
    window = _fspecial_gauss_1d(WINDOW, WINDOW_SIGMA).repeat(3, 1, 1, 1).double()
    c1, c2 = (K1 * 255) ** 2, (K2 * 255) ** 2
    crop = WINDOW // 2
    terms = []
    for scale in range(len(MS_SSIM_WEIGHTS)):
        mu_x, mu_y = gaussian_filter(x, window), gaussian_filter(y, window)
        var_x = gaussian_filter(x * x, window) - mu_x**2
        var_y = gaussian_filter(y * y, window) - mu_y**2
        cov = gaussian_filter(x * y, window) - mu_x * mu_y
        cs_map = (2 * cov + c2) / (var_x + var_y + c2)
        w_valid = w[..., crop : w.shape[-2] - crop, crop : w.shape[-1] - crop]
        if float(w_valid.sum()) <= 0:
            w_valid = torch.ones_like(w_valid)
        total = float(w_valid.sum())
        if scale == len(MS_SSIM_WEIGHTS) - 1:
            ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
            terms.append((ssim_map * w_valid).flatten(2).sum(-1) / total)
        else:
            terms.append(torch.relu((cs_map * w_valid).flatten(2).sum(-1) / total))
            padding = [side % 2 for side in x.shape[2:]]
            x, y, w = (F.avg_pool2d(t, kernel_size=2, padding=padding) for t in (x, y, w))
    stacked = torch.stack(terms, dim=0)  # (scales, 1, 3)
    exponents = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64).view(-1, 1, 1)
    return float(torch.prod(stacked**exponents, dim=0).mean())


def region_metrics(reference: np.ndarray, decoded: np.ndarray, mask_2d: np.ndarray,
                   bit_map: np.ndarray | None = None) -> dict[str, float | None]:
    """ROI / background PSNR and MS-SSIM, the ROI's area fraction and (with a bit map) its bit share."""
    region = roi_region(mask_2d)
    share = None
    if bit_map is not None and float(bit_map.sum()) > 0:
        share = float(bit_map[region].sum() / bit_map.sum())
    return {
        "roi_fraction": float(region.mean()),
        "roi_psnr": region_psnr(reference, decoded, region),
        "background_psnr": region_psnr(reference, decoded, ~region),
        "roi_ms_ssim": region_ms_ssim(reference, decoded, region.astype(np.float64)),
        "background_ms_ssim": region_ms_ssim(reference, decoded, (~region).astype(np.float64)),
        "roi_bit_share": share,
    }
