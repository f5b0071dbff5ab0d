"""A *condition* is one way to code an image — a classical codec, or a zoo model with or without a
seed-003 ROI — and :func:`render` codes an image under it at a matched rate. The app, the subjective
sessions and the command line all go through here, so "base-vr · ROI auto α=1" means the same bytes
everywhere.

Text form (``Condition.key`` / ``Condition.parse``): ``jpeg``, ``base-vr``, ``base-vr+roi=auto@1``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .classical import CODEC_MODULES, available_codecs, compress_at_bpp, get_codec
from .codec import LearnedCodec
from .errors import InputError
from .roi.mask import DEFAULT_ALPHA, RoiRequest, check_alpha, roi_masks
from .roi.sources import SOURCE_NAMES
from .zoo import default_checkpoint_dir, list_cards, validate_name


@dataclass(frozen=True)
class Condition:
    codec: str
    roi: str = "none"
    alpha: float = DEFAULT_ALPHA

    def __post_init__(self) -> None:
        if self.roi != "none":
            if self.codec in CODEC_MODULES:
                raise InputError(f"a ROI applies to learned models only, not to {self.codec}")
            if self.roi not in SOURCE_NAMES:
                raise InputError(f"unknown ROI source {self.roi!r} (use none or {', '.join(SOURCE_NAMES)})")
        check_alpha(self.alpha)

    @property
    def learned(self) -> bool:
        return self.codec not in CODEC_MODULES

    @property
    def label(self) -> str:
        if self.codec in CODEC_MODULES:
            return {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "heic": "HEIC (x265)", "jxl": "JPEG XL"}[self.codec]
        return self.codec if self.roi == "none" else f"{self.codec} · ROI {self.roi} α={self.alpha:g}"

    @property
    def key(self) -> str:
        return self.codec if self.roi == "none" else f"{self.codec}+roi={self.roi}@{self.alpha:g}"

    @classmethod
    def parse(cls, text: str) -> "Condition":
        codec, _, roi_part = text.strip().partition("+")
        if not roi_part:
            return cls(codec if codec in CODEC_MODULES else validate_name(codec))
        if not roi_part.startswith("roi="):
            raise InputError(f"cannot parse condition {text!r} (expected NAME or NAME+roi=SOURCE@ALPHA)")
        source, _, alpha = roi_part[4:].partition("@")
        try:
            value = float(alpha) if alpha else DEFAULT_ALPHA
        except ValueError:
            raise InputError(f"cannot parse the alpha of condition {text!r}") from None
        return cls(validate_name(codec), source, value)


@dataclass(frozen=True, eq=False)
class Rendered:
    """An image coded under a condition: the real file bytes and their decoded reconstruction."""

    condition: Condition
    data: bytes
    reconstruction: np.ndarray
    bpp: float
    suffix: str


def available_conditions(zoo: Path | None = None) -> list[Condition]:
    """Every classical codec that works here, then every zoo model (without ROI variants)."""
    classical = [Condition(name) for name in CODEC_MODULES if name in available_codecs()]
    return classical + [Condition(card["name"]) for card in list_cards(zoo)]


_codecs: dict[tuple[str, str], LearnedCodec] = {}
_codecs_lock = threading.Lock()


def learned_codec(name: str, zoo: Path | None = None) -> LearnedCodec:
    """A process-wide cache of loaded zoo models (read-only after loading; safe to share)."""
    key = (str((zoo or default_checkpoint_dir()).resolve()), name)
    with _codecs_lock:
        if key not in _codecs:
            _codecs[key] = LearnedCodec.from_zoo(name, zoo)
        return _codecs[key]


def render(rgb: np.ndarray, condition: Condition, target_bpp: float, zoo: Path | None = None,
           painted: np.ndarray | None = None) -> Rendered:
    """``rgb`` coded under ``condition`` with the largest real size ≤ ``target_bpp``."""
    if not condition.learned:
        result = compress_at_bpp(get_codec(condition.codec), rgb, target_bpp)
        return Rendered(condition, result.data, result.rgb, result.bpp, get_codec(condition.codec).extension)
    codec = learned_codec(condition.codec, zoo)
    roi = None
    if condition.roi != "none":
        roi = RoiRequest(roi_masks(rgb, condition.roi, painted).smoothed, condition.alpha)
    encoded = codec.encode_to_bpp(codec.prepare(rgb), target_bpp, roi)
    return Rendered(condition, encoded.data, codec.reconstruct(encoded), encoded.bpp, ".pcmp")
