"""A compact U²-Net-style salient-object network and its safetensors loader (the DNN saliency slot).

Structure (Qin et al., 2020, "U²-Net: going deeper with nested U-structure"):

.. code-block:: none

    image ─► RSU stage 1 ─pool─► stage 2 ─pool─► … ─► stage n          (encoder)
                 │                 │                    │
             RSU dec 1 ◄─up── RSU dec 2 ◄─up── … ◄──────┘               (decoder: concat skip + upsampled)
                 │                 │                    │
              side 1            side 2      …        side n             (3×3 conv → 1 logit map each)
                 └──── upsample to input, concat, 1×1 conv ────► fused logit

An RSU block (residual U-block) of height L is itself a small U-Net — L−1 encoder convolutions with
2× pooling between them, a dilated bottom convolution, L−1 decoder convolutions on concatenated skips —
whose output is added to its own input convolution. The deepest stages use the dilated variant
(RSU-F: no pooling, dilations 1, 2, 4, … instead) because their feature maps are already small.

No weights ship with percomp and nothing is downloaded: the user supplies a safetensors file written
by :func:`save_saliency_net` (or converted to these parameter names). Its metadata key ``u2net``
holds the :class:`U2NetConfig` as JSON; without it the default config is assumed. Nothing is ever
unpickled.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import InputError

METADATA_KEY = "u2net"


@dataclass(frozen=True)
class U2NetConfig:
    """Shape of the network. The default is the small published variant (≈1.1 M parameters)."""

    heights: tuple[int, ...] = (7, 6, 5, 4, 4, 4)  # RSU height of each encoder stage
    dilated: int = 2  # how many of the last stages are RSU-F (dilated, no pooling inside)
    mid: int = 16  # channels inside every RSU block
    width: int = 64  # channels between blocks
    size: int = 320  # square working resolution of the input

    def __post_init__(self) -> None:
        ok = (
            len(self.heights) >= 1
            and all(isinstance(h, int) and 2 <= h <= 8 for h in self.heights)
            and isinstance(self.dilated, int) and 0 <= self.dilated <= len(self.heights)
            and all(isinstance(v, int) and 1 <= v <= 1024 for v in (self.mid, self.width))
            and isinstance(self.size, int) and 8 <= self.size <= 2048
        )
        if not ok:
            raise ValueError(f"invalid U²-Net config {self}")

    def is_dilated(self, stage: int) -> bool:
        return stage >= len(self.heights) - self.dilated


class ConvBnRelu(nn.Sequential):
    """3×3 convolution (dilated, same size) → batch norm → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class RSU(nn.Module):
    """Residual U-block of ``height`` levels; ``dilated`` selects the RSU-F form (no pooling)."""

    def __init__(self, height: int, in_channels: int, mid: int, out: int, dilated: bool) -> None:
        super().__init__()
        self.dilated = dilated
        levels = height - 1
        dilations = [2**i if dilated else 1 for i in range(levels)]
        self.stem = ConvBnRelu(in_channels, out)
        self.encoder = nn.ModuleList(
            ConvBnRelu(out if i == 0 else mid, mid, d) for i, d in enumerate(dilations)
        )
        self.bottom = ConvBnRelu(mid, mid, 2 * dilations[-1])
        self.decoder = nn.ModuleList(
            ConvBnRelu(2 * mid, out if i == 0 else mid, d) for i, d in reversed(list(enumerate(dilations)))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        skips, h = [], stem
        for i, conv in enumerate(self.encoder):
            if i > 0 and not self.dilated:
                h = F.max_pool2d(h, 2, ceil_mode=True)
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for conv, skip in zip(self.decoder, reversed(skips)):
            h = conv(torch.cat([_resize_to(h, skip), skip], dim=1))
        return h + stem


class U2Net(nn.Module):
    """Nested U-structure of RSU stages; ``forward`` returns the fused saliency logit (N, 1, H, W)."""

    def __init__(self, config: U2NetConfig = U2NetConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        stages = range(len(c.heights))
        self.encoder = nn.ModuleList(
            RSU(c.heights[i], 3 if i == 0 else c.width, c.mid, c.width, c.is_dilated(i)) for i in stages
        )
        self.decoder = nn.ModuleList(
            RSU(c.heights[i], 2 * c.width, c.mid, c.width, c.is_dilated(i)) for i in stages[:-1]
        )
        self.sides = nn.ModuleList(nn.Conv2d(c.width, 1, 3, padding=1) for _ in stages)
        self.fuse = nn.Conv2d(len(stages), 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, h = [], x
        for i, stage in enumerate(self.encoder):
            if i > 0:
                h = F.max_pool2d(h, 2, ceil_mode=True)
            h = stage(h)
            features.append(h)
        decoded = [h]
        for i in reversed(range(len(self.decoder))):
            h = self.decoder[i](torch.cat([_resize_to(h, features[i]), features[i]], dim=1))
            decoded.append(h)
        decoded.reverse()  # finest first, like self.sides
        sides = [_resize_to(side(d), x) for side, d in zip(self.sides, decoded)]
        return self.fuse(torch.cat(sides, dim=1))


def save_saliency_net(net: U2Net, path: Path) -> None:
    """Write the weights and the config (as metadata) to a safetensors file."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata={METADATA_KEY: json.dumps(asdict(net.config))})


def load_saliency_net(path: Path) -> U2Net:
    """A network in eval mode from a safetensors file; ``InputError`` (one line) for anything unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such saliency weights file")
    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            state = {key: file.get_tensor(key) for key in file.keys()}
        config = _config_from_metadata(metadata)
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        reason = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{path}: not a usable U²-Net safetensors file ({reason})") from error
    net = U2Net(config)
    _check_state(path, net, state)
    reference = net.state_dict()
    net.load_state_dict({key: tensor.to(reference[key].dtype) for key, tensor in state.items()})
    return net.eval()


def _config_from_metadata(metadata: dict[str, str]) -> U2NetConfig:
    """The config stored under ``METADATA_KEY``; the default config when there is none."""
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        return U2NetConfig()
    values = json.loads(raw)
    if not isinstance(values, dict) or not set(values) <= {f.name for f in fields(U2NetConfig)}:
        raise ValueError(f"metadata {METADATA_KEY!r} is not a U²-Net config")
    if isinstance(values.get("heights"), list):
        values["heights"] = tuple(values["heights"])
    return U2NetConfig(**values)


def _check_state(path: Path, net: U2Net, state: dict[str, torch.Tensor]) -> None:
    """Refuse a state dict that does not fit the network exactly, with a one-line summary."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    missing = expected.keys() - state.keys()
    unexpected = state.keys() - expected.keys()
    wrong = [k for k in expected.keys() & state.keys() if tuple(state[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        example = sorted(missing or unexpected or wrong)[0]
        raise InputError(
            f"{path}: weights do not fit the U²-Net its metadata describes ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape, e.g. {example!r})"
        )


def _resize_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == reference.shape[-2:]:
        return x
    return F.interpolate(x, size=reference.shape[-2:], mode="bilinear", align_corners=False)
