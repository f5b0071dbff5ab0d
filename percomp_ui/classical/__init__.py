"""Classical image codecs (JPEG, WebP, AVIF, HEIC, JPEG XL) behind one interface, as baselines.

One module per codec, Squoosh-style, each a :class:`ClassicalCodec` with an integer quality knob.
Every number comes from the real path: ``bpp`` from the file's bytes, the image from decoding
those bytes with the codec's own decoder (never an encoder's internal reconstruction).

* :func:`compress` codes at one quality, :func:`quality_sweep` at several.
* :func:`compress_at_bpp` matches a rate: the highest-rate result not above a target bpp, which is
  how a classical codec is compared with a learned one at "the same bits".
* :func:`available_codecs` lists the codecs whose libraries really encode and decode here (probed
  once per process); :func:`unavailable_reasons` says why each missing one is missing.

Each codec module's docstring gives its settings and why they are fair for PSNR comparisons;
``codec.settings()`` records them, with library versions, for result JSON.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

from percomp_ui.errors import InputError, PercompError

from .base import ClassicalCodec

__all__ = [
    "ClassicalCodec", "ClassicalResult", "available_codecs", "compress", "compress_at_bpp",
    "get_codec", "quality_sweep", "unavailable_reasons",
]

CODEC_MODULES = ("jpeg", "webp", "avif", "heic", "jxl")  # codec name == module name
NEIGHBOURS = 2  # quality steps either side of the bisection's answer checked for a better feasible rate


@dataclass(frozen=True, eq=False)
class ClassicalResult:
    """One encode: the file bytes and the image decoded from them."""

    codec: str
    quality: int  # the codec's own knob value
    data: bytes
    rgb: np.ndarray  # HxWx3 uint8, decoded from ``data``

    @property
    def bpp(self) -> float:
        height, width = self.rgb.shape[:2]
        return len(self.data) * 8 / (height * width)


def _probe(name: str) -> ClassicalCodec:
    """The module's codec after a real encode/decode round trip; raises if the library cannot."""
    codec: ClassicalCodec = importlib.import_module(f"{__name__}.{name}").CODEC
    probe = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    decoded = codec.decode(codec.encode(probe, codec.qualities[len(codec.qualities) // 2]))
    if decoded.shape != probe.shape:
        raise RuntimeError(f"a 16x16 round trip decoded to shape {decoded.shape}")
    return codec


@cache
def _registry() -> tuple[dict[str, ClassicalCodec], dict[str, str]]:
    codecs: dict[str, ClassicalCodec] = {}
    reasons: dict[str, str] = {}
    for name in CODEC_MODULES:
        try:
            codecs[name] = _probe(name)
        except ImportError as exc:
            reasons[name] = f"its library is missing: {exc}"
        except Exception as exc:  # noqa: BLE001 - any library failure makes the codec unavailable
            reasons[name] = f"its library failed a test encode/decode: {type(exc).__name__}: {exc}"
    return codecs, reasons


def available_codecs() -> dict[str, ClassicalCodec]:
    """Name → codec for every codec that really encodes and decodes in this environment."""
    return dict(_registry()[0])


def unavailable_reasons() -> dict[str, str]:
    """Name → one-line reason for every known codec that is not available here."""
    return dict(_registry()[1])


def get_codec(name: str) -> ClassicalCodec:
    """The available codec called ``name``; InputError naming the available ones otherwise."""
    codecs, reasons = _registry()
    if name in codecs:
        return codecs[name]
    listing = f"available: {', '.join(sorted(codecs)) or 'none'}"
    if name in reasons:
        raise InputError(f"codec {name!r} is not available here ({reasons[name]}); {listing}")
    raise InputError(f"unknown codec {name!r}; {listing}")


def compress(codec: ClassicalCodec, rgb: np.ndarray, quality: int) -> ClassicalResult:
    """Encode ``rgb`` at ``quality`` and decode the bytes back."""
    data = codec.encode(rgb, quality)
    decoded = codec.decode(data)
    if decoded.shape != rgb.shape:
        raise PercompError(f"{codec.name} decoded a {rgb.shape} image to shape {decoded.shape}")
    return ClassicalResult(codec.name, int(quality), data, decoded)


def quality_sweep(codec: ClassicalCodec, rgb: np.ndarray, qualities: Iterable[int] | None = None
                  ) -> list[ClassicalResult]:
    """One result per quality, in the order given; every quality on the codec's knob by default."""
    chosen = [codec.check_quality(q) for q in (codec.qualities if qualities is None else qualities)]
    return [compress(codec, rgb, q) for q in chosen]


def compress_at_bpp(codec: ClassicalCodec, rgb: np.ndarray, target_bpp: float) -> ClassicalResult:
    """The result with the largest bpp not above ``target_bpp``, over the codec's qualities.

    Bisects the quality knob (bpp from the real bytes), then also tries ``NEIGHBOURS`` steps either
    side of the answer, because file size is not always monotone in quality. Never returns a
    result above the target; InputError when even the lowest quality is above it.
    """
    try:
        target = float(target_bpp)
    except (TypeError, ValueError):
        target = math.nan
    if not (math.isfinite(target) and target > 0):
        raise InputError(f"target bpp must be a positive number, got {target_bpp!r}")
    qualities = codec.qualities
    results: dict[int, ClassicalResult] = {}

    def at(index: int) -> ClassicalResult:
        if index not in results:
            results[index] = compress(codec, rgb, qualities[index])
        return results[index]

    if at(0).bpp > target:
        raise InputError(
            f"{codec.name} cannot reach {target:g} bpp on this image "
            f"(lowest: {at(0).bpp:.3g} bpp at quality {qualities[0]})"
        )
    low, high = 0, len(qualities) - 1
    if at(high).bpp <= target:
        low = high
    while high - low > 1:  # invariant: at(low) fits, at(high) does not
        middle = (low + high) // 2
        low, high = (middle, high) if at(middle).bpp <= target else (low, middle)
    for index in range(max(low - NEIGHBOURS, 0), min(low + NEIGHBOURS, len(qualities) - 1) + 1):
        at(index)
    feasible = [r for r in results.values() if r.bpp <= target]
    return max(feasible, key=lambda r: (r.bpp, r.quality))
