"""Layers with an inference fast path that computes exactly what CompressAI's do."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.layers import GDN as _CompressAIGDN
from torch import Tensor


class GDN(_CompressAIGDN):
    """CompressAI's GDN / inverse GDN (same parameters and state-dict keys).

    ``y = x / sqrt(β + γ * x²)`` (inverse: ``x · sqrt(…)``). Without autograd the normaliser is computed
    in place, which saves two full-resolution temporaries per layer — the largest tensors of the net.
    """

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            return super().forward(x)
        channels = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(channels, channels, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        norm = norm.sqrt_() if self.inverse else norm.rsqrt_()
        return norm.mul_(x)
