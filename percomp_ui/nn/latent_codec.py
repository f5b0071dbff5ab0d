"""Gain-controlled mean-scale hyperprior latent codec.

Same verbs as CompressAI's ``latent_codecs``: ``forward`` → likelihoods, ``compress`` → strings,
``decompress`` → ``y_hat``. Gains come from :class:`percomp_ui.nn.gain.GainBank` (seed 003 §2.3).

.. code-block:: none

                    z_gain                        z_gain_inv
                       │                              │
           ┌───┐  z    ▼      ┌───┐ ẑ_g        ẑ_g    ▼        ┌───┐ (μ, σ)
      ┌─►──┤h_a├──►────×───►──┤ Q ├───►──·EB·──►─────×──►─────┤h_s├───►───┐
      │    └───┘              └───┘                    ẑ      └───┘       │
      │                                                        ×y_gain ◄──┘
      │      y_gain                                               │ (μ_g, σ_g)
      │        ▼                ┌───┐                             ▼
  y ──┴────────×─────► y_g ─────┤ Q ├────►──·GC·──►── ŷ_g ──×y_gain_inv──►── ŷ
                                └───┘
    EB = entropy bottleneck (factorized prior), GC = Gaussian conditional.

The hyper-synthesis predicts the mean and scale of the *un-gained* latent; they are carried to the
gained latent exactly (``y ~ N(μ, σ)`` ⇒ ``y·v ~ N(μ·v, σ·v)``), so one hyperprior serves all rates.
At inference ``h_s`` and the scale-table lookup run in float64 on both sides, which keeps the
entropy-coding parameters the decoder derives identical to the encoder's across thread counts.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from torch import Tensor, nn

from .isolated_decoder import isolate


@dataclass(frozen=True)
class Gains:
    """Gain and inverse-gain tensors, each broadcastable to (B, C, H, W), for ``y`` and ``z``."""

    y: Tensor
    y_inv: Tensor
    z: Tensor
    z_inv: Tensor

    def with_roi(self, scale: Tensor) -> "Gains":
        """Seed 003 eqs. 6–7 on top of the rate's gains: a per-latent factor (B|1, C, h, w) on ``y``.

        The decoder divides it out again, and the hyperprior's μ and σ are carried by it exactly
        like by the channel gain, so an ROI needs no change to the entropy model."""
        scale = scale.to(self.y.dtype)
        return Gains(self.y * scale, self.y_inv / scale, self.z, self.z_inv)


def scale_indexes(scales: Tensor, scale_table: Tensor) -> Tensor:
    """Index of each scale's CDF: the number of table entries below it (CompressAI's ``build_indexes``
    rule, computed with one vectorised search instead of a pass per table entry)."""
    table = scale_table[:-1].to(device=scales.device, dtype=scales.dtype).contiguous()
    return torch.searchsorted(table, scales.contiguous(), right=False).int()


def round_ste(x: Tensor) -> Tensor:
    """Rounding with a straight-through gradient (the decoder trains on truly quantized latents)."""
    return x + (torch.round(x) - x).detach()


class GainHyperpriorLatentCodec(nn.Module):
    num_strings = 2  # [y, z]

    def __init__(self, h_a: nn.Module, h_s: nn.Module, z_channels: int) -> None:
        super().__init__()
        self.h_a = h_a
        self.h_s = h_s
        self.entropy_bottleneck = EntropyBottleneck(z_channels)
        self.gaussian_conditional = GaussianConditional(None)
        isolate(self.entropy_bottleneck, self.gaussian_conditional)

    # -- shared steps -------------------------------------------------------------------------
    def _hyper_params(self, z_hat: Tensor, exact: bool | None = None) -> Tensor:
        """``h_s(ẑ)``: (σ, μ) of the *un-gained* latent stacked on channels (B, 2M, h, w); ``exact``
        (default: outside training) runs it in float64, which the entropy coder needs for cross-run
        determinism."""
        exact = not self.training if exact is None else exact
        return self._float64("h_s")(z_hat.double()) if exact else self.h_s(z_hat)

    @staticmethod
    def _gained(params: Tensor, gains: Gains) -> tuple[Tensor, Tensor]:
        """(μ_g, σ_g) of the gained latent from the un-gained (σ, μ) stack: y ~ N(μ, σ) ⇒ y·v ~ N(μ·v, σ·v)."""
        scales, means = params.chunk(2, 1)
        gain = gains.y.to(params.dtype)
        return means * gain, scales * gain

    def _float64(self, name: str) -> nn.Module:
        """A float64 copy of the child module ``name``, remade whenever one of its weights changed (a
        training step, ``load_state_dict``, a move to another device). A copy, not a swap of the
        child's own weights, so that threads coding at the same time each see the weights their
        precision expects. Kept out of the module's children, so it is never saved or trained."""
        module = getattr(self, name)
        key = tuple((p.device, p.data_ptr(), p._version) for p in module.parameters())
        cache = self.__dict__.setdefault("_float64_cache", {})
        cached = cache.get(name)
        if cached is None or cached[0] != key:
            cached = cache[name] = (key, copy.deepcopy(module).to(torch.float64).requires_grad_(False))
        return cached[1]

    def _latent_params(self, y_g: Tensor, hyper: Tensor, gains: Gains, exact: bool,
                       rounding: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(ŷ_g, μ_g, σ_g): the gained latent rounded around its predicted means, and the Gaussian
        parameters it is coded with. Here they come from the hyperprior alone; a context model
        (:mod:`percomp_ui.nn.checkerboard`) refines them from already-decoded latents."""
        means_g, scales_g = self._gained(hyper, gains)
        return rounding(y_g - means_g) + means_g, means_g, scales_g

    def _symbols(self, y: Tensor, gains: Gains, z: Tensor | None, exact: bool) -> dict[str, Tensor]:
        """What the encoder codes ``y`` with: z_g, ẑ_g, the gained latent y_g, its rounded ŷ_g, and
        the means and scale-table indexes of its symbols (``exact``: see :meth:`_hyper_params`).
        Shared by :meth:`compress` and :meth:`estimate_bits`, so that an estimate prices the very
        symbols an encode codes."""
        z_g, z_hat_g = self._quantize_z(y, gains, z)
        hyper = self._hyper_params(z_hat_g * gains.z_inv, exact)
        y_g = (y * gains.y).double() if exact else y * gains.y
        y_hat_g, means_g, scales_g = self._latent_params(y_g, hyper, gains, exact, torch.round)
        indexes = scale_indexes(scales_g, self.gaussian_conditional.scale_table)
        return {"z_g": z_g, "z_hat_g": z_hat_g, "y_g": y_g, "y_hat_g": y_hat_g, "means_g": means_g,
                "indexes": indexes}

    def _quantize_z(self, y: Tensor, gains: Gains, z: Tensor | None = None,
                    rounding: Callable[[Tensor], Tensor] = torch.round) -> tuple[Tensor, Tensor]:
        """z_g and its rounded value around the factorized prior's medians (as EB.compress does);
        ``z`` is ``h_a(y)`` when the caller has it already."""
        z_g = (self.h_a(y) if z is None else z) * gains.z
        medians = self.entropy_bottleneck._get_medians()
        z_hat_g = rounding(z_g - medians) + medians
        return z_g, z_hat_g

    # -- the three verbs ----------------------------------------------------------------------
    def forward(self, y: Tensor, gains: Gains) -> dict[str, Any]:
        z_g = self.h_a(y) * gains.z
        z_hat_g, z_likelihoods = self.entropy_bottleneck(z_g)
        hyper = self._hyper_params(z_hat_g * gains.z_inv)
        y_g = y * gains.y
        y_hat_g, means_g, scales_g = self._latent_params(y_g, hyper, gains, not self.training, round_ste)
        _, y_likelihoods = self.gaussian_conditional(y_g, scales_g, means=means_g)
        return {
            "y_hat": y_hat_g.to(y.dtype) * gains.y_inv,
            "likelihoods": {"y": y_likelihoods, "z": z_likelihoods},
        }

    def coded_forward(self, y: Tensor, gains: Gains) -> dict[str, Any]:
        """``forward`` with the coder's own quantization: ``z`` and ``y`` rounded around the factorized
        prior's medians and the predicted means, as :meth:`compress` rounds them, with straight-through
        gradients, and the likelihoods of those very symbols (σ unquantized, entropy parameters in the
        caller's precision). Differentiable in ``y``: the loss that encoder-side refinement descends."""
        _, z_hat_g = self._quantize_z(y, gains, rounding=round_ste)
        hyper = self._hyper_params(z_hat_g * gains.z_inv, exact=False)
        y_hat_g, means_g, scales_g = self._latent_params(y * gains.y, hyper, gains, False, round_ste)
        conditional = self.gaussian_conditional
        y_likelihoods = conditional.likelihood_lower_bound(conditional._likelihood(y_hat_g, scales_g, means_g))
        return {
            "y_hat": y_hat_g * gains.y_inv,
            "likelihoods": {"y": y_likelihoods, "z": _factorized_likelihood(self.entropy_bottleneck, z_hat_g)},
        }

    @torch.inference_mode()
    def compress(self, y: Tensor, gains: Gains, z: Tensor | None = None) -> dict[str, Any]:
        """``z``: ``h_a(y)``, which does not depend on the gains, when the caller has it (a rate
        search codes one ``y`` at many rates)."""
        symbols = self._symbols(y, gains, z, exact=True)
        z_strings = self.entropy_bottleneck.compress(symbols["z_g"])
        y_strings = self._compress_y(symbols["y_g"], symbols["indexes"], symbols["means_g"])
        return {
            "strings": [*y_strings, z_strings],
            "shape": tuple(symbols["z_g"].shape[-2:]),
            "y_hat": symbols["y_hat_g"].float() * gains.y_inv,
        }

    def _compress_y(self, y_g: Tensor, indexes: Tensor, means_g: Tensor) -> list[list[bytes]]:
        """The latent's strings (one list per string, one entry per batch item)."""
        return [self.gaussian_conditional.compress(y_g, indexes, means=means_g)]

    @torch.inference_mode()
    def decompress(self, strings: list[list[bytes]], shape: tuple[int, int], gains: Gains) -> dict[str, Any]:
        y_hat_g = self._decode(strings, shape, gains)["y_hat_g"]
        return {"y_hat": y_hat_g.float() * gains.y_inv}

    # -- where the bits went --------------------------------------------------------------------
    @torch.inference_mode()
    def bits(self, strings: list[list[bytes]], shape: tuple[int, int], gains: Gains) -> dict[str, Tensor]:
        """Bits per latent position, −log2 of each decoded symbol's probability under the model the
        coder used (scale-table σ, μ), summed over channels: ``y`` (B, h, w) and ``z`` (B, h/4, w/4)."""
        decoded = self._decode(strings, shape, gains)
        return self._symbol_bits(decoded["y_hat_g"], decoded["means_g"], decoded["indexes"], decoded["z_hat_g"])

    @torch.inference_mode()
    def estimate_bits(self, y: Tensor, gains: Gains, z: Tensor | None = None) -> float:
        """What :meth:`compress` would code, in bits, without coding it: the same symbols under the
        coder's own scale table, with the entropy parameters in the caller's precision instead of
        float64 (float32 is three times faster on a CPU, bfloat16 under autocast three times faster
        again; a symbol whose σ sits on a table boundary may change bin). The strings come out within
        about 1 % of it; a rate search uses it to get near its target before the real encodes."""
        symbols = self._symbols(y, gains, z, exact=False)
        bits = self._symbol_bits(symbols["y_hat_g"], symbols["means_g"], symbols["indexes"], symbols["z_hat_g"])
        return float(bits["y"].double().sum() + bits["z"].double().sum())

    def _symbol_bits(self, y_hat_g: Tensor, means_g: Tensor, indexes: Tensor, z_hat_g: Tensor) -> dict[str, Tensor]:
        """−log2 P of each coded symbol, summed over channels: ``y`` (B, h, w), ``z`` (B, h/4, w/4)."""
        conditional = self.gaussian_conditional
        table_scales = conditional.scale_table.to(means_g)[indexes.long()]
        y_likelihood = conditional.likelihood_lower_bound(conditional._likelihood(y_hat_g, table_scales, means_g))
        z_likelihood = _factorized_likelihood(self.entropy_bottleneck, z_hat_g)
        return {"y": -torch.log2(y_likelihood).sum(1).float(), "z": -torch.log2(z_likelihood).sum(1).float()}

    def _decode(self, strings: list[list[bytes]], shape: tuple[int, int], gains: Gains) -> dict[str, Tensor]:
        *y_strings, z_strings = strings
        z_hat_g = self.entropy_bottleneck.decompress(z_strings, shape)
        hyper = self._hyper_params(z_hat_g * gains.z_inv, exact=True)
        return {"z_hat_g": z_hat_g, **self._decode_y(y_strings, hyper, gains)}

    def _decode_y(self, y_strings: list[list[bytes]], hyper: Tensor, gains: Gains) -> dict[str, Tensor]:
        """ŷ_g with the means and scale-table indexes its symbols were decoded with."""
        means_g, scales_g = self._gained(hyper, gains)
        indexes = scale_indexes(scales_g, self.gaussian_conditional.scale_table)
        y_hat_g = self.gaussian_conditional.decompress(y_strings[0], indexes, means=means_g)
        return {"y_hat_g": y_hat_g, "means_g": means_g, "indexes": indexes}


def _factorized_likelihood(bottleneck: EntropyBottleneck, z_hat: Tensor) -> Tensor:
    """The factorized prior's probability of each quantized ``z`` (B, C, h, w), lower-bounded as in training."""
    batch, channels = z_hat.shape[:2]
    values = z_hat.float().transpose(0, 1).reshape(channels, 1, -1)
    likelihood = bottleneck._likelihood(values)[0]
    likelihood = bottleneck.likelihood_lower_bound(likelihood)
    return likelihood.reshape(channels, batch, *z_hat.shape[2:]).transpose(0, 1)
