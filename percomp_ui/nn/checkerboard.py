"""Gained mean-scale hyperprior with a checkerboard spatial context (seed 003 §2.2: context + hyperprior).

The latent is coded in two passes over a checkerboard (He et al. 2021). *Anchors* ((i + j) even) are
coded with the hyperprior's (μ, σ) alone, exactly as :class:`GainHyperpriorLatentCodec` codes every
latent; the *non-anchors* are then coded with (μ, σ) refined from the decoded anchors around them. Both
passes are parallel over the whole latent, so decoding costs two entropy-decoder calls, not one per
position as with a serial (Minnen et al. 2018) context.

.. code-block:: none

                  ẑ ─► h_s ─► hyper (σ, μ) of the un-gained y ────────────────┬──────────────┐
                                                                              │              │
                                       anchors ((i+j) even): (μ_g, σ_g) = gain·hyper        │
  y_g ──┬── anchors ──► Q, GC (string 1) ──► ŷ_g anchors ──×y_gain_inv──► ŷ anchors         │
        │                                                                    │              │
        │                                            ctx = context(ŷ anchors, 0 elsewhere)  │
        │                                                                    ▼              ▼
        │                           non-anchors: (σ, μ) = hyper + entropy_parameters([hyper, ctx])
        └── non-anchors ──► Q, GC (string 2) ──► ŷ_g non-anchors         (μ_g, σ_g) = gain·(σ, μ)

    GC = Gaussian conditional; the strings are [anchors, non-anchors, z].

The context works on the un-gained latent and predicts corrections to the un-gained (σ, μ), which the
rate's gains (and a ROI's latent scale) carry to the coded latent like the hyperprior's own, so one
context model serves every rate and every ROI. The last layer of ``entropy_parameters`` starts at zero:
a new checkerboard model loaded with a mean-scale checkpoint's weights codes exactly the same bits as
that checkpoint until training moves the context. At inference the context runs in float64 on both
sides, like ``h_s``, so encoder and decoder derive the same parameters bit for bit.
"""
from __future__ import annotations

from typing import Callable

import torch
from compressai.models.utils import conv
from torch import Tensor, nn
from torch.nn import functional as F

from .latent_codec import GainHyperpriorLatentCodec, Gains, scale_indexes

CONTEXT_KERNEL = 5  # the anchors within a 5×5 window around each non-anchor (He et al. 2021)
# state-dict prefixes of the context's weights within a model (what a mean-scale checkpoint lacks)
CONTEXT_PREFIXES = ("latent_codec.context.", "latent_codec.entropy_parameters.")


def anchor_mask(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """(h, w) bool: True at the anchors, the positions whose row + column is even."""
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    return (rows + cols) % 2 == 0


def context_model(M: int) -> nn.Conv2d:
    """ŷ anchors (M channels, zero at non-anchors) → context features (M channels)."""
    return conv(M, M, kernel_size=CONTEXT_KERNEL, stride=1)


def entropy_parameters(M: int) -> nn.Sequential:
    """[hyper (2M), context (M)] → correction of the hyper (σ, μ) (2M); starts at zero."""
    last = conv(M * 2, M * 2, kernel_size=1, stride=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(
        conv(M * 3, M * 2, kernel_size=1, stride=1), nn.LeakyReLU(inplace=True),
        conv(M * 2, M * 2, kernel_size=1, stride=1), nn.LeakyReLU(inplace=True),
        last,
    )


def non_anchor_context(context: nn.Conv2d, y_hat: Tensor) -> Tensor:
    """``context(y_hat)[..., ~anchor_mask(h, w)]`` (B, C, N) for even h and w, computing only those
    outputs: two stride-2 convolutions, one for the non-anchors of the even rows (odd columns) and
    one for those of the odd rows (even columns), interleaved back into row-major order."""
    batch, _, height, width = y_hat.shape
    if height % 2 or width % 2:  # no latent of a ×64-padded image; kept exact for any other caller
        return context(y_hat)[..., ~anchor_mask(height, width, y_hat.device)]
    pad = context.kernel_size[0] // 2
    padded = F.pad(y_hat, (pad, pad, pad, pad))
    even_rows = F.conv2d(padded[..., :, 1:], context.weight, context.bias, stride=2)
    odd_rows = F.conv2d(padded[..., 1:, :], context.weight, context.bias, stride=2)
    return torch.stack([even_rows, odd_rows], 3).reshape(batch, -1, height * width // 2)


class GainCheckerboardLatentCodec(GainHyperpriorLatentCodec):
    num_strings = 3  # [y anchors, y non-anchors, z]

    def __init__(self, h_a: nn.Module, h_s: nn.Module, z_channels: int, y_channels: int) -> None:
        super().__init__(h_a, h_s, z_channels)
        self.context = context_model(y_channels)
        self.entropy_parameters = entropy_parameters(y_channels)

    def _refined_params(self, hyper: Tensor, y_hat_g: Tensor, anchors: Tensor, gains: Gains,
                        exact: bool) -> tuple[Tensor, Tensor]:
        """(μ_g, σ_g) everywhere: the hyperprior's at the anchors, refined by the context of the
        anchors of ``y_hat_g`` (only those are read) at the non-anchors."""
        context, parameters = (self._float64("context"), self._float64("entropy_parameters")) if exact \
            else (self.context, self.entropy_parameters)
        y_hat = torch.where(anchors, y_hat_g * gains.y_inv.to(y_hat_g.dtype), 0)
        others = ~anchors
        # context and 1×1 layers on the non-anchors only, (B, C, N, 1): half the work of the full map
        features = non_anchor_context(context, y_hat.to(hyper.dtype))
        correction = parameters(torch.cat([hyper[..., others], features], 1)[..., None])[..., 0]
        refined = torch.zeros_like(hyper)
        refined[..., others] = correction
        return self._gained(torch.where(anchors, hyper, hyper + refined), gains)

    def _latent_params(self, y_g: Tensor, hyper: Tensor, gains: Gains, exact: bool,
                       rounding: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """The two passes: anchors rounded around the hyperprior's means, then every position around
        the means the anchors' context gives (unchanged at the anchors)."""
        anchors = anchor_mask(*y_g.shape[-2:], device=y_g.device)
        hyper_means_g, _ = self._gained(hyper, gains)
        anchors_hat_g = rounding(y_g - hyper_means_g) + hyper_means_g
        means_g, scales_g = self._refined_params(hyper, anchors_hat_g, anchors, gains, exact)
        return rounding(y_g - means_g) + means_g, means_g, scales_g

    def _compress_y(self, y_g: Tensor, indexes: Tensor, means_g: Tensor) -> list[list[bytes]]:
        anchors = anchor_mask(*y_g.shape[-2:], device=y_g.device)
        return [self.gaussian_conditional.compress(y_g[..., part], indexes[..., part], means=means_g[..., part])
                for part in (anchors, ~anchors)]

    def _decode_y(self, y_strings: list[list[bytes]], hyper: Tensor, gains: Gains) -> dict[str, Tensor]:
        if len(y_strings) != 2:
            raise ValueError(f"a checkerboard latent has 2 strings, not {len(y_strings)}")
        anchors = anchor_mask(*hyper.shape[-2:], device=hyper.device)
        table = self.gaussian_conditional.scale_table
        hyper_means_g, hyper_scales_g = self._gained(hyper, gains)
        y_hat_g = torch.zeros_like(hyper_means_g)
        first = self.gaussian_conditional.decompress(
            y_strings[0], scale_indexes(hyper_scales_g[..., anchors], table), means=hyper_means_g[..., anchors])
        y_hat_g[..., anchors] = first
        means_g, scales_g = self._refined_params(hyper, y_hat_g, anchors, gains, exact=True)
        indexes = scale_indexes(scales_g, table)
        y_hat_g[..., ~anchors] = self.gaussian_conditional.decompress(
            y_strings[1], indexes[..., ~anchors], means=means_g[..., ~anchors])
        return {"y_hat_g": y_hat_g, "means_g": means_g, "indexes": indexes}


def checkerboard_state_from(state: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """A mean-scale checkpoint's ``state`` completed with ``model``'s own (zero-output) context
    weights: the checkerboard model it loads into codes exactly what the checkpoint coded."""
    own = model.state_dict()
    missing = {k for k in own if k not in state}
    if not all(k.startswith(CONTEXT_PREFIXES) for k in missing):
        raise ValueError(f"checkpoint lacks weights other than the context model's: {sorted(missing)[:3]}")
    return {**state, **{k: own[k] for k in missing}}

