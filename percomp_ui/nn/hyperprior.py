"""BASE codec: variable-rate mean-scale hyperprior (Minnen et al. 2018) with gain units.

.. code-block:: none

           ┌───┐  y   ┌───────────────────────────────┐  ŷ   ┌───┐
    x ──►──┤g_a├──►───┤ GainHyperpriorLatentCodec      ├──►───┤g_s├──►── x̂
           └───┘      │ (gains from GainBank at rate r)│      └───┘
                      └───────────────────────────────┘

With ``architecture = CHECKERBOARD`` the latent codec adds a checkerboard spatial context
(:mod:`percomp_ui.nn.checkerboard`); everything else is shared. Transforms follow CompressAI's
``MeanScaleHyperprior`` (GDN analysis/synthesis, LeakyReLU hyper transforms) so weights and habits
carry over. ``forward`` trains with one rate level per sample;
``compress``/``decompress`` take a continuous rate ``r ∈ [0, L−1]`` (seed 003 §2.3).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from compressai.models.base import CompressionModel
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from .checkerboard import GainCheckerboardLatentCodec
from .gain import GainBank
from .layers import GDN
from .latent_codec import GainHyperpriorLatentCodec, Gains

# λ per rate level in seed-000 units: loss = R + λ·MSE with pixels in [0, 1] (= CompressAI's λ × 255²).
# Powers of two from 64 to 8192 (CompressAI 0.001 … 0.126), so the seed-000 models' λ ∈ {128, 256, 1024,
# 2048} are exactly levels 1, 2, 4 and 5 of the BASE ladder.
DEFAULT_LAMBDAS: tuple[float, ...] = (64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0)


MEAN_SCALE = "gained-mean-scale-hyperprior"
CHECKERBOARD = "gained-checkerboard-hyperprior"  # the same, plus a checkerboard context (nn/checkerboard.py)
ARCHITECTURES = (MEAN_SCALE, CHECKERBOARD)


@dataclass(frozen=True)
class HyperpriorConfig:
    """Everything needed to rebuild the network; stored in every model card."""

    N: int = 128
    M: int = 192
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    architecture: str = field(default=MEAN_SCALE)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lambdas": list(self.lambdas)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HyperpriorConfig":
        if data.get("architecture") not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {data.get('architecture')!r}")
        return cls(N=int(data["N"]), M=int(data["M"]), lambdas=tuple(float(v) for v in data["lambdas"]),
                   architecture=data["architecture"])


def analysis_transform(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))


def synthesis_transform(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
    )


def hyper_analysis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        conv(M, N, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
        conv(N, N), nn.LeakyReLU(inplace=True), conv(N, N),
    )


def hyper_synthesis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(N, M), nn.LeakyReLU(inplace=True),
        deconv(M, M * 3 // 2), nn.LeakyReLU(inplace=True),
        conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
    )


class GainedMeanScaleHyperprior(CompressionModel):
    """x → g_a → gained hyperprior latent codec → g_s → x̂, variable rate through gain units."""

    downsampling_factor = 64  # g_a (×16) then h_a (×4)

    def __init__(self, config: HyperpriorConfig = HyperpriorConfig()) -> None:
        super().__init__()
        self.config = config
        N, M, lambdas = config.N, config.M, config.lambdas
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M)
        if config.architecture == CHECKERBOARD:
            self.latent_codec = GainCheckerboardLatentCodec(hyper_analysis(N, M), hyper_synthesis(N, M), N, M)
        elif config.architecture == MEAN_SCALE:
            self.latent_codec = GainHyperpriorLatentCodec(hyper_analysis(N, M), hyper_synthesis(N, M), N)
        else:
            raise ValueError(f"unknown architecture {config.architecture!r} (one of {', '.join(ARCHITECTURES)})")
        self.y_gains = GainBank(lambdas, M)
        self.z_gains = GainBank(lambdas, N)

    @property
    def num_levels(self) -> int:
        return self.y_gains.num_levels

    @property
    def max_rate(self) -> float:
        return float(self.num_levels - 1)

    def gains_for_levels(self, levels: Tensor, roi_scale: Tensor | None = None) -> Gains:
        gains = Gains(*self.y_gains.for_levels(levels), *self.z_gains.for_levels(levels))
        return gains if roi_scale is None else gains.with_roi(roi_scale)

    def gains_for_rate(self, rate: float, roi_scale: Tensor | None = None) -> Gains:
        gains = Gains(*self.y_gains.for_rate(rate), *self.z_gains.for_rate(rate))
        return gains if roi_scale is None else gains.with_roi(roi_scale)

    def forward(self, x: Tensor, levels: Tensor, roi_scale: Tensor | None = None) -> dict[str, Any]:
        """Training/validation pass; ``levels`` is a LongTensor (B,) of rate levels, ``roi_scale`` an
        optional (B, M, h, w) seed-003 latent scale (eqs. 6–7)."""
        y = self.g_a(x)
        out = self.latent_codec(y, self.gains_for_levels(levels, roi_scale))
        return {"x_hat": self.g_s(out["y_hat"]), "likelihoods": out["likelihoods"], "y": y}

    @torch.inference_mode()
    def analyse(self, x: Tensor) -> Tensor:
        """The rate-independent analysis transform, cacheable across rate searches."""
        return self.g_a(x.contiguous(memory_format=torch.channels_last))

    @torch.inference_mode()
    def hyper_analyse(self, y: Tensor) -> Tensor:
        """``h_a(y)``: rate-independent too (the z gain comes after it), so a rate search reuses it."""
        return self.latent_codec.h_a(y)

    @torch.inference_mode()
    def compress_latent(self, y: Tensor, rate: float, roi_scale: Tensor | None = None,
                        z: Tensor | None = None) -> dict[str, Any]:
        return self.latent_codec.compress(y, self.gains_for_rate(rate, roi_scale), z)

    @torch.inference_mode()
    def compress(self, x: Tensor, rate: float) -> dict[str, Any]:
        return self.compress_latent(self.analyse(x), rate)

    @torch.inference_mode()
    def estimate_latent_bits(self, y: Tensor, rate: float, roi_scale: Tensor | None = None,
                             z: Tensor | None = None) -> float:
        return self.latent_codec.estimate_bits(y, self.gains_for_rate(rate, roi_scale), z)

    @torch.inference_mode()
    def decompress_latent(self, strings: Sequence[Sequence[bytes]], shape: tuple[int, int], rate: float,
                          roi_scale: Tensor | None = None) -> Tensor:
        gains = self.gains_for_rate(rate, roi_scale)
        return self.latent_codec.decompress(list(strings), shape, gains)["y_hat"]

    @torch.inference_mode()
    def latent_bits(self, strings: Sequence[Sequence[bytes]], shape: tuple[int, int], rate: float,
                    roi_scale: Tensor | None = None) -> dict[str, Tensor]:
        return self.latent_codec.bits(list(strings), shape, self.gains_for_rate(rate, roi_scale))

    @torch.inference_mode()
    def decompress(self, strings: Sequence[Sequence[bytes]], shape: tuple[int, int], rate: float) -> dict[str, Any]:
        return {"x_hat": self.synthesize(self.decompress_latent(strings, shape, rate))}

    @torch.inference_mode()
    def synthesize(self, y_hat: Tensor) -> Tensor:
        return self.g_s(y_hat.contiguous(memory_format=torch.channels_last)).clamp_(0, 1)
