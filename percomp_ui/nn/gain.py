"""Gain units for variable rate (seed 003 §2.3; Cui et al., CVPR 2021).

A model keeps one gain vector ``v_s`` and one inverse-gain vector ``v'_s`` per rate level ``s``.
The encoder scales the latent channel by channel (eq. 8: ``y_s = y ⊙ v_s``), the decoder rescales
the quantized latent (eq. 9: ``ŷ = Q(y_s) ⊙ v'_s``). Rates between two adjacent levels use the
exponential interpolation of Cui et al.: ``v = v_s^(1−l) · v_(s+1)^l`` with ``l ∈ [0, 1]``, which is a
linear interpolation of the logarithms; it keeps ``v ⊙ v'`` constant when the trained pairs do (eq. 10).

Gains are stored as logarithms, which keeps them positive and makes the interpolation a lerp.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn


def split_rate(rate: float, num_levels: int) -> tuple[int, float]:
    """Continuous rate ``r ∈ [0, L−1]`` → (level ``s``, interpolation ``l``) with ``r = s + l``."""
    if not (0.0 <= rate <= num_levels - 1) or math.isnan(rate):
        raise ValueError(f"rate {rate} outside [0, {num_levels - 1}]")
    level = min(int(math.floor(rate)), max(num_levels - 2, 0))
    return level, rate - level


def interpolate_log_gain(log_gains: Tensor, rate: float) -> Tensor:
    """log v = (1−l)·log v_s + l·log v_(s+1)  (seed 003 §2.3 eq. 10, Cui et al. interpolation)."""
    level, frac = split_rate(rate, log_gains.shape[0])
    if frac == 0.0:
        return log_gains[level]
    return torch.lerp(log_gains[level], log_gains[level + 1], frac)


def lambda_at_rate(lambdas: Sequence[float], rate: float) -> float:
    """The λ a continuous rate stands for: log-linear between its two levels' λ, as the gains are (eq. 10)."""
    log_lambdas = torch.log(torch.tensor([float(v) for v in lambdas], dtype=torch.float64))
    return float(interpolate_log_gain(log_lambdas, rate).exp())


def initial_log_gains(lambdas: Sequence[float], channels: int) -> Tensor:
    """Start gains at (λ_s / λ_ref)^½ so that levels differ from step one.

    Under a high-rate approximation the MSE-optimal quantizer step scales with λ^(−½), so a gain
    of λ^(½) (relative to the geometric mean λ_ref of all levels) gives each level a sensible
    starting rate; training refines every channel.
    """
    log_lambdas = torch.log(torch.tensor(list(lambdas), dtype=torch.float32))
    log_gain = 0.5 * (log_lambdas - log_lambdas.mean())
    return log_gain[:, None].repeat(1, channels)


class GainBank(nn.Module):
    """Gain and inverse-gain vectors for every rate level of one latent tensor.

    .. code-block:: none

        rate r ──► split (s, l) ──► exp(lerp(log v_s, log v_(s+1), l)) ──► v   (encoder side)
                                └─► exp(lerp(log v'_s, log v'_(s+1), l)) ─► v'  (decoder side)
    """

    def __init__(self, lambdas: Sequence[float], channels: int) -> None:
        super().__init__()
        init = initial_log_gains(lambdas, channels)
        self.log_gain = nn.Parameter(init.clone())
        self.log_gain_inv = nn.Parameter(-init.clone())

    @property
    def num_levels(self) -> int:
        return int(self.log_gain.shape[0])

    def for_levels(self, levels: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample gains for integer ``levels`` of shape (B,) → two (B, C, 1, 1) tensors."""
        gain = self.log_gain[levels].exp()[:, :, None, None]
        gain_inv = self.log_gain_inv[levels].exp()[:, :, None, None]
        return gain, gain_inv

    def for_rate(self, rate: float) -> tuple[Tensor, Tensor]:
        """Gains for a continuous rate → two (1, C, 1, 1) tensors."""
        gain = interpolate_log_gain(self.log_gain, rate).exp()
        gain_inv = interpolate_log_gain(self.log_gain_inv, rate).exp()
        return gain[None, :, None, None], gain_inv[None, :, None, None]


def extend_log_gains(log_gains: Tensor, old_lambdas: Sequence[float], new_lambdas: Sequence[float]) -> Tensor:
    """Gains for a longer λ ladder that contains ``old_lambdas`` as one contiguous run.

    Known levels keep their gains; new ones continue the log-gain line through the two nearest
    trained levels (one level's step per new level), the rate-gain relation the trained ladder
    already follows. Raises ValueError when the old ladder is not a contiguous part of the new one.
    """
    old, new = [float(v) for v in old_lambdas], [float(v) for v in new_lambdas]
    starts = [i for i in range(len(new) - len(old) + 1) if new[i:i + len(old)] == old]
    if not starts or len(old) < 2:
        raise ValueError(f"λ ladder {old} is not a contiguous part of {new} (or has fewer than 2 levels)")
    start = starts[0]
    below = [log_gains[0] + (start - i) * (log_gains[0] - log_gains[1]) for i in range(start)]
    above = [log_gains[-1] + (i + 1) * (log_gains[-1] - log_gains[-2]) for i in range(len(new) - start - len(old))]
    return torch.stack([*below, *log_gains, *above])

