"""Encoder-side latent refinement: fit ``y`` to one image before coding it (Campos et al. 2019,
"Content adaptive optimization for neural image compression"; Yang et al. 2020).

``g_a`` is amortized: one network guesses every image's latent, and a network trained as briefly as
ours guesses far from the best latent its own decoder could use. Refinement starts from that guess and
descends this one image's rate–distortion loss at the rate it will be coded at. Only the encoder
changes: the stream format, the decoder and every weight stay as they are, so a refined stream decodes
with any percomp build.

.. code-block:: none

    x ─► g_a ─► y₀ ─► y ─► coded_forward (the coder's rounding, straight-through) ─► ŷ, P(ŷ), P(ẑ)
                      ▲                                                              │
                      │                              L = R(ŷ, ẑ) + λ(r)·MSE_w(g_s(ŷ), x)
                      └──── Adam on y, cosine-decayed lr ◄──── ∂L/∂y ◄───────────────┘
                 returns the y with the lowest L it evaluated (y₀ included: never worse than g_a's)

L is seed 000 eq. 1 with α = 1, β = γ = 0 — the BASE model's training objective — with λ(r) the
ladder's λ at the continuous rate (log-linear between levels, like the gains: seed 003 §2.3). With a ROI
each pixel's squared error is weighted by the mean square of the ROI latent scale over it: scaling a
latent by s makes its quantizer step 1/s, the step an MSE coder picks for λ·s² (step ∝ λ^(−½)).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .gain import lambda_at_rate
from .hyperprior import GainedMeanScaleHyperprior

DEFAULT_STEPS = 20
# Adam's step on the un-gained latent, cosine-decayed over the steps. On base-vr 7e86 (kodim04 levels 1, 5,
# 9, kodim23 level 5, kodim13 level 7; 20 steps) 6e-3 lowered R + λ·MSE the most of 2e-3, 4e-3, 6e-3 and
# 1e-2 everywhere but once (level 1, where 1e-2 was 0.4 % lower and 0.01 dB worse); 5e-3 undecayed
# overshoots, its rate climbing back after ~25 steps.
DEFAULT_LR = 6e-3


def distortion_weight(roi_scale: Tensor | None, size: tuple[int, int], factor: int = 16) -> Tensor | None:
    """Per-pixel weight of the squared error (1, 1, H, W): the mean of s² over the channels of the
    latent that codes the pixel (``factor`` = g_a's downsampling), or None without a ROI."""
    if roi_scale is None:
        return None
    weight = roi_scale.float().pow(2).mean(dim=1, keepdim=True)
    return F.interpolate(weight, scale_factor=factor, mode="nearest")[..., : size[0], : size[1]]


def refinement_loss(model: GainedMeanScaleHyperprior, x: Tensor, y: Tensor, rate: float,
                    roi_scale: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
    """L = R + λ(r)·MSE_w of coding ``y`` at ``rate``: bits per pixel of the ``size`` region (default:
    all of ``x``) plus λ times the (ROI-weighted) mean squared error over that region, pixels in [0, 1]."""
    return _loss_of_latent(model, x, rate, roi_scale, size)(y)


def _loss_of_latent(model: GainedMeanScaleHyperprior, x: Tensor, rate: float, roi_scale: Tensor | None,
                    size: tuple[int, int] | None) -> Callable[[Tensor], Tensor]:
    """:func:`refinement_loss` as a function of ``y`` alone; what does not depend on ``y`` (the gains,
    λ, the target crop, the pixel weights) is computed once, not at every refinement step."""
    height, width = size or tuple(x.shape[-2:])
    with torch.no_grad():  # constants of the refinement: no graph through the gain parameters
        gains = model.gains_for_rate(rate, roi_scale)
    lam = lambda_at_rate(model.config.lambdas, rate)
    target = x[..., :height, :width]
    weight = distortion_weight(roi_scale, (height, width))

    def loss(y: Tensor) -> Tensor:
        out = model.latent_codec.coded_forward(y, gains)
        error = (model.g_s(out["y_hat"])[..., :height, :width] - target).pow(2)
        mse = error.mean() if weight is None else (error * weight).mean()
        bits = sum(-torch.log2(likelihood).sum() for likelihood in out["likelihoods"].values())
        return bits / (height * width) + lam * mse  # seed 000 eq. 1

    return loss


def refine_latent(model: GainedMeanScaleHyperprior, x: Tensor, y: Tensor, rate: float, *,
                  roi_scale: Tensor | None = None, size: tuple[int, int] | None = None,
                  steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR) -> Tensor:
    """The latent among ``y`` and its ``steps`` Adam updates with the lowest :func:`refinement_loss`.

    ``x`` is the (padded) image ``y`` was analysed from, ``size`` its real height and width. Gradients
    are taken with respect to ``y`` only: the model's weights and their ``.grad`` are left untouched,
    so threads sharing one model may refine at the same time.
    """
    if steps < 0:
        raise ValueError(f"refinement steps must be ≥ 0 (got {steps})")
    latent = y.detach().clone().float().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    best_loss, best = math.inf, latent.detach().clone()
    loss_of = _loss_of_latent(model, x, rate, roi_scale, size)
    with torch.enable_grad():
        for step in range(steps + 1):
            loss = loss_of(latent)
            if loss.item() < best_loss:
                best_loss, best = loss.item(), latent.detach().clone()
            if step == steps:
                break
            (latent.grad,) = torch.autograd.grad(loss, [latent])
            optimizer.step()
            schedule.step()
    return best
