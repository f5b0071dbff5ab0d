"""Rate–distortion losses.

Seed 000 eq. 1: L = R + λ·(α·MSE + β·(1 − MS-SSIM) + γ·LPIPS), α, β, γ = 1, 0.1, 0.1 in the paper.
MSE is on pixels in [0, 1] (so λ = 128 … 2048 matches the paper's values); R is bits per pixel.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Per-sample estimated rate: Σ −log2 p over every latent, divided by H·W."""
    total = sum(-torch.log(lk).sum(dim=tuple(range(1, lk.dim()))) for lk in likelihoods.values())
    return total / (math.log(2) * num_pixels)


def per_sample_mse(x_hat: Tensor, x: Tensor) -> Tensor:
    return (x_hat - x).pow(2).mean(dim=(1, 2, 3))


def rate_distortion_loss(
    x_hat: Tensor, x: Tensor, likelihoods: dict[str, Tensor], lambdas: Tensor, alpha: float = 1.0
) -> dict[str, Tensor]:
    """Seed 000 eq. 1 with the MSE term (β = γ = 0 for the BASE model); λ per sample."""
    bpp = bits_per_pixel(likelihoods, x.shape[-2] * x.shape[-1])
    mse = per_sample_mse(x_hat, x)
    loss = bpp + lambdas * alpha * mse  # seed 000 eq. 1
    return {"loss": loss.mean(), "bpp": bpp.mean(), "mse": mse.mean()}
