"""Rate–distortion losses.

Seed 000 eq. 1, per sample ``i`` (λ is per sample: one rate level is drawn for each):

    L_i = R_i + λ_i·(α·MSE_i + β·(1 − MS-SSIM_i) + γ·LPIPS_i)

α, β, γ = 1, 0.1, 0.1 in the paper; the BASE model trains with α = 1, β = γ = 0. MSE and MS-SSIM are on
pixels in [0, 1] (so λ = 128 … 2048 matches the paper's values); R is bits per pixel. LPIPS gets its
inputs mapped to [−1, 1].

MS-SSIM on training crops
-------------------------
MS-SSIM (Wang et al. 2003) uses 5 scales with an 11-px Gaussian window, which needs a smallest side
above (11 − 1)·2⁴ = 160 px, more than a 64 or 128 px crop has. :func:`ms_ssim_scales` keeps the number
of scales the crop allows: the largest ``S ≤ 5`` with

    min(H, W) > (win_size − 1)·2^(S − 1)

(161 px and up → 5 scales, 81 … 160 → 4 (128 px crops), 41 … 80 → 3 (64 px crops), 21 … 40 → 2,
20 px or less → 1). With 5 scales it is ``pytorch_msssim.ms_ssim`` itself (standard weights 0.0448,
0.2856, 0.3001, 0.2363, 0.1333). With 2 … 4 scales the first ``S`` weights are kept and renormalised to
sum 1, and the computation is ``ms_ssim``'s own loop over pytorch_msssim's per-scale SSIM
(``ms_ssim`` refuses any image of 160 px or less whatever its ``weights``: its size check assumes 5
scales). With 1 scale it falls back to single-scale SSIM (``pytorch_msssim.ssim``, clamped at 0 like
the MS-SSIM factors; window shrunk to the image below 11 px). Values are per sample.

LPIPS offline
-------------
The γ term uses :mod:`percomp_ui.lpips_offline`: LPIPS runs only when its backbone weights are on
disk; otherwise the term is dropped with one logged warning and a status the trainer records in the
model card.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Callable

import torch
from torch import Tensor, nn

from .. import lpips_offline
from ..lpips_offline import LPIPS_BACKBONES, lpips_backbone_file  # noqa: F401 - part of this module's API

log = logging.getLogger("percomp_ui.train")

MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

LpipsFn = Callable[[Tensor, Tensor], Tensor]


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Per-sample estimated rate: Σ −log2 p over every latent, divided by H·W."""
    total = sum(-torch.log(lk).sum(dim=tuple(range(1, lk.dim()))) for lk in likelihoods.values())
    return total / (math.log(2) * num_pixels)


def per_sample_mse(x_hat: Tensor, x: Tensor) -> Tensor:
    return (x_hat - x).pow(2).mean(dim=(1, 2, 3))


# -- MS-SSIM --------------------------------------------------------------------------------------
def ms_ssim_scales(height: int, width: int, win_size: int = 11) -> int:
    """Number of MS-SSIM scales a H×W image allows: the largest S ≤ 5 with min side > (win−1)·2^(S−1).

    1 means single-scale SSIM (:func:`ms_ssim_per_sample` falls back to it).
    """
    side = min(height, width)
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side > (win_size - 1) * 2 ** scales:
        scales += 1
    return scales


def ms_ssim_weights(scales: int) -> list[float]:
    """The standard MS-SSIM weights of the first ``scales`` scales, renormalised to sum 1."""
    kept = MS_SSIM_WEIGHTS[:scales]
    return [w / sum(kept) for w in kept]


def ms_ssim_per_sample(x_hat: Tensor, x: Tensor, data_range: float = 1.0, win_size: int = 11,
                       win_sigma: float = 1.5) -> Tensor:
    """MS-SSIM per sample (B,), with as many scales as the image allows (see :func:`ms_ssim_scales`)."""
    from pytorch_msssim import ms_ssim, ssim

    x_hat, x = x_hat.float(), x.float()
    scales = ms_ssim_scales(x.shape[-2], x.shape[-1], win_size)
    if scales == len(MS_SSIM_WEIGHTS):
        return ms_ssim(x_hat, x, data_range=data_range, size_average=False, win_size=win_size,
                       win_sigma=win_sigma, weights=list(MS_SSIM_WEIGHTS))
    if scales == 1:
        side = min(x.shape[-2:])
        win = min(win_size, side if side % 2 else side - 1)
        return ssim(x_hat, x, data_range=data_range, size_average=False, win_size=max(win, 1),
                    win_sigma=win_sigma, nonnegative_ssim=True)
    return _ms_ssim(x_hat, x, ms_ssim_weights(scales), data_range, win_size, win_sigma)


def _ms_ssim(x_hat: Tensor, x: Tensor, weights: list[float], data_range: float, win_size: int,
             win_sigma: float) -> Tensor:
    """pytorch_msssim.ms_ssim's computation for ``len(weights)`` scales, without its 5-scale size assert."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    win = _fspecial_gauss_1d(win_size, win_sigma).repeat([x.shape[1], 1, 1, 1])
    w = x.new_tensor(weights)
    mcs = []
    for i in range(len(weights)):
        ssim_per_channel, cs = _ssim(x_hat, x, data_range=data_range, win=win, size_average=False)
        if i < len(weights) - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x_hat = nn.functional.avg_pool2d(x_hat, kernel_size=2, padding=padding)
            x = nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
    stacked = torch.stack(mcs + [torch.relu(ssim_per_channel)], dim=0)  # (scale, batch, channel)
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(1)


# -- LPIPS ----------------------------------------------------------------------------------------
def load_lpips(net: str = "alex", device: torch.device | str = "cpu", warn: bool = True
               ) -> tuple[nn.Module | None, str]:
    """The frozen LPIPS loss module, or None with a status saying the γ term is dropped."""
    module, status = lpips_offline.load_lpips(net, device, warn)
    return module, status if module is not None else f"{status}; γ term dropped"


def lpips_per_sample(lpips_fn: LpipsFn, x_hat: Tensor, x: Tensor) -> Tensor:
    """LPIPS per sample (B,) for images in [0, 1] (mapped to the [−1, 1] LPIPS expects)."""
    return lpips_fn(x_hat.float() * 2 - 1, x.float() * 2 - 1).reshape(x.shape[0], -1).mean(1)


# -- eq. 1 ----------------------------------------------------------------------------------------
def rate_distortion_loss(
    x_hat: Tensor, x: Tensor, likelihoods: dict[str, Tensor], lambdas: Tensor, alpha: float = 1.0,
    beta: float = 0.0, gamma: float = 0.0, lpips_fn: LpipsFn | None = None, reduce: bool = True,
) -> dict[str, Tensor]:
    """Seed 000 eq. 1 with λ per sample: L = R + λ·(α·MSE + β·(1 − MS-SSIM) + γ·LPIPS).

    Terms with a zero weight are not computed; γ > 0 without ``lpips_fn`` drops the LPIPS term (the
    caller records why, see :func:`load_lpips`). Returns the loss and its parts, averaged over the batch
    (``reduce=False``: per sample). Distortions are computed in float32 whatever the autocast state.
    """
    x_hat, x = x_hat.float(), x.float()
    bpp = bits_per_pixel({k: v.float() for k, v in likelihoods.items()}, x.shape[-2] * x.shape[-1])
    mse = per_sample_mse(x_hat, x)
    distortion = alpha * mse
    parts = {"bpp": bpp, "mse": mse}
    if beta:
        msssim = ms_ssim_per_sample(x_hat, x)
        distortion = distortion + beta * (1 - msssim)
        parts["ms_ssim"] = msssim
    if gamma and lpips_fn is not None:
        perceptual = lpips_per_sample(lpips_fn, x_hat, x)
        distortion = distortion + gamma * perceptual
        parts["lpips"] = perceptual
    loss = bpp + lambdas.to(distortion) * distortion  # seed 000 eq. 1
    result = {"loss": loss, **parts}
    return {k: v.mean() for k, v in result.items()} if reduce else result


# -- seed 003 eqs. 3-4 -----------------------------------------------------------------------------
def roi_rate_distortion_loss(
    x_hat: Tensor, x: Tensor, likelihoods: dict[str, Tensor], lambdas: Tensor, mask_2d: Tensor,
    background_weight: float, lpips_weight: float = 0.5, lpips_fn: LpipsFn | None = None,
) -> dict[str, Tensor]:
    """L = R + λ·(d_ROI + w·d_BG), averaged over the batch.

    Eq. 3: d_ROI = mean(RM_2D ⊙ (x̂ − x)²) — MSE only where the mask is.
    Eq. 4: d_BG = 1 − MS-SSIM(x̂_BG, x) + λ_p·LPIPS(x̂_BG, x), with x̂_BG = RM_2D·x + (1 − RM_2D)·x̂,
    the reconstruction with its ROI replaced by the original so that only background errors count.
    ``background_weight`` (w) puts 1 − MS-SSIM on the scale of an MSE; λ_p = 0.5 (the seed's default),
    dropped without LPIPS weights.
    """
    x_hat, x, mask = x_hat.float(), x.float(), mask_2d.to(x_hat)
    bpp = bits_per_pixel({k: v.float() for k, v in likelihoods.items()}, x.shape[-2] * x.shape[-1])
    d_roi = (mask * (x_hat - x).pow(2)).mean(dim=(1, 2, 3))  # eq. 3
    x_hat_bg = mask * x + (1 - mask) * x_hat
    ms_ssim_bg = ms_ssim_per_sample(x_hat_bg, x)
    d_bg = 1 - ms_ssim_bg  # eq. 4
    parts = {"bpp": bpp, "mse": per_sample_mse(x_hat, x), "roi_mse": d_roi, "bg_ms_ssim": ms_ssim_bg}
    if lpips_weight and lpips_fn is not None:
        perceptual = lpips_per_sample(lpips_fn, x_hat_bg, x)
        d_bg = d_bg + lpips_weight * perceptual
        parts["bg_lpips"] = perceptual
    loss = bpp + lambdas.to(d_roi) * (d_roi + background_weight * d_bg)
    return {k: v.mean() for k, v in {"loss": loss, **parts}.items()}


def describe_roi_loss(background_weight: float, lpips_weight: float, lpips_status: str | None,
                      alpha_range: tuple[float, float]) -> str:
    used = lpips_weight if lpips_status and lpips_status.startswith("used") else 0.0
    bg = "1 − MS-SSIM(x̂_BG, x)" + (f" + {used:g}·LPIPS(x̂_BG, x)" if used else "")
    text = (f"R + λ·(RM_2D ⊙ MSE + {background_weight:g}·({bg})) (seed 003 eqs. 3–4), ROI latents scaled by "
            f"eqs. 6–7 with α log-uniform in [{alpha_range[0]:g}, {alpha_range[1]:g}], one λ level per sample")
    if lpips_weight and not used:
        why = (lpips_status or "not available").replace("; γ term dropped", "")
        text += f"; λ_p={lpips_weight:g} asked for, but LPIPS is {why}, so the term is dropped"
    return text


def describe_loss(alpha: float, beta: float, gamma: float, lpips_status: str | None = None,
                  lpips_net: str = "alex", levels: list[int] | None = None) -> str:
    """The ``training.loss`` line of a model card: the weights actually used and the LPIPS outcome."""
    used_gamma = gamma if gamma and lpips_status and lpips_status.startswith("used") else 0.0
    if not beta and not used_gamma:
        mse = "MSE" if alpha == 1 else f"{alpha:g}·MSE"
        text = f"R + λ·{mse} (seed 000 eq. 1 with α={alpha:g}, β=γ=0)"
    else:
        terms = [f"{alpha:g}·MSE" if alpha else None, f"{beta:g}·(1 − MS-SSIM)" if beta else None,
                 f"{used_gamma:g}·LPIPS({lpips_net})" if used_gamma else None]
        text = (f"R + λ·({' + '.join(t for t in terms if t)}) "
                f"(seed 000 eq. 1 with α={alpha:g}, β={beta:g}, γ={used_gamma:g})")
    if gamma and not used_gamma:
        text += f"; γ={gamma:g} asked for, LPIPS {lpips_status or 'not available'}"
    text += ", one λ level drawn per sample"
    if levels:
        text += " from " + describe_levels(levels)
    return text


def describe_levels(levels: list[int]) -> str:
    """``levels [1, 2, 4, 5]``, or with repeats ``levels [0, 1, 2, 3] weighted 1:1:1:3``."""
    counts = Counter(levels)
    text = f"levels {list(counts)}"
    if len(set(counts.values())) > 1:
        text += " weighted " + ":".join(str(n) for n in counts.values())
    return text


def trained_lambdas(levels: list[int], lambdas: list[float]) -> str:
    """``128``, ``128, 256``, or when one level is drawn most ``128 (with 16, 32, 64 drawn less often)``."""
    counts = Counter(levels)
    top = max(counts.values())
    main = [level for level, n in counts.items() if n == top]
    text = ", ".join(f"{lambdas[i]:g}" for i in main)
    rest = [level for level in counts if level not in main]
    if rest:
        text += " (with " + ", ".join(f"{lambdas[i]:g}" for i in rest) + " drawn less often)"
    return text
