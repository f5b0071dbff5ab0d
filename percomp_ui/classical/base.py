"""The interface every classical codec module implements, and the plumbing they share.

A codec subclasses :class:`ClassicalCodec` and supplies four things: its quality knob
(``qualities``), the exact keyword arguments it hands its encoder (``encoder_params``), the
libraries and versions doing the work (``libraries``), and the two library calls (``_encode`` /
``_decode``). Everything else lives here once: input checks, the size limit, turning library
failures into one-line :class:`~percomp_ui.errors.InputError` messages, and normalising every
decoded image to HxWx3 uint8 RGB. ``settings()`` is built from the same ``encoder_params()`` dict
that the encoder receives, so what a result JSON records cannot drift from what was run.

:class:`PillowCodec` adds the Pillow save/open round trip used by the JPEG, WebP and AVIF modules.
"""
from __future__ import annotations

import io
import operator
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import PIL
from PIL import Image

from percomp_ui.errors import InputError

# What the encoding and decoding libraries raise for input they cannot handle: image geometry an
# encoder does not support, or bytes that are not a valid file of the codec's format.
ENCODE_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, RuntimeError)
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, RuntimeError, SyntaxError, EOFError, Image.DecompressionBombError,
)


def check_rgb(rgb: object) -> np.ndarray:
    """``rgb`` as a C-contiguous HxWx3 uint8 array, or InputError saying what it is instead."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape, dtype = getattr(rgb, "shape", None), getattr(rgb, "dtype", type(rgb).__name__)
        raise InputError(f"expected an HxWx3 uint8 RGB array, got shape {shape} and dtype {dtype}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"the image is empty ({rgb.shape[1]}x{rgb.shape[0]} pixels)")
    return np.ascontiguousarray(rgb)


def as_rgb(decoded: Image.Image | np.ndarray) -> np.ndarray:
    """A decoded image as HxWx3 uint8 RGB: alpha dropped, grayscale replicated to three channels."""
    if isinstance(decoded, np.ndarray):
        if decoded.dtype != np.uint8:
            raise InputError(f"the file holds {decoded.dtype} samples; only 8-bit images are supported")
        if decoded.ndim == 3 and decoded.shape[2] == 1:
            decoded = decoded[..., 0]
        decoded = Image.fromarray(decoded)
    return np.array(decoded.convert("RGB"))


class ClassicalCodec(ABC):
    """One classical image codec with a single integer quality knob (higher = more bits)."""

    name: ClassVar[str]
    extension: ClassVar[str]
    qualities: ClassVar[range]
    quality_knob: ClassVar[str]  # what the knob is, in the library's own terms
    max_side: ClassVar[int | None] = None  # largest width or height the format round-trips here

    @abstractmethod
    def libraries(self) -> dict[str, str]:
        """Library name → version for everything on the encode and decode path."""

    @abstractmethod
    def encoder_params(self) -> dict[str, Any]:
        """Every keyword argument handed to the encoder except the quality (a fresh dict)."""

    @abstractmethod
    def _encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """Encode a checked, C-contiguous HxWx3 uint8 array."""

    @abstractmethod
    def _decode(self, data: bytes) -> Image.Image | np.ndarray:
        """Decode the file bytes with the codec's library."""

    def settings(self) -> dict[str, Any]:
        """Everything needed to reproduce an encode: knob, encoder parameters, library versions."""
        return {
            "codec": self.name,
            "extension": self.extension,
            "quality_knob": self.quality_knob,
            "quality_range": [self.qualities[0], self.qualities[-1]],
            "encoder_params": self.encoder_params(),
            "libraries": self.libraries(),
        }

    def check_quality(self, quality: object) -> int:
        """``quality`` as an int on this codec's knob, or InputError giving the valid range."""
        try:
            value = operator.index(quality)  # type: ignore[arg-type]
        except TypeError:
            value = None
        if value is None or isinstance(quality, bool) or value not in self.qualities:
            raise InputError(
                f"{self.name} quality must be an integer in "
                f"{self.qualities[0]}..{self.qualities[-1]}, got {quality!r}"
            )
        return value

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """The file bytes of ``rgb`` (HxWx3 uint8) at ``quality``; InputError if the format cannot hold it."""
        rgb, quality = check_rgb(rgb), self.check_quality(quality)
        height, width = rgb.shape[:2]
        if self.max_side is not None and max(height, width) > self.max_side:
            raise InputError(
                f"{self.name} supports at most {self.max_side} pixels per side; "
                f"this image is {width}x{height}"
            )
        try:
            return self._encode(rgb, quality)
        except ENCODE_ERRORS as exc:
            raise InputError(f"{self.name} cannot encode this {width}x{height} image: {exc}") from exc

    def decode(self, data: bytes) -> np.ndarray:
        """The HxWx3 uint8 RGB image in ``data``; InputError if it is not a readable file of this format."""
        try:
            decoded = self._decode(bytes(data))
        except DECODE_ERRORS as exc:
            raise InputError(f"not a readable {self.name} file: {exc}") from exc
        return as_rgb(decoded)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class PillowCodec(ClassicalCodec):
    """A codec whose encoder and decoder are a Pillow image plugin."""

    pil_format: ClassVar[str]

    def plugin_libraries(self) -> dict[str, str]:
        """The libraries behind the Pillow plugin (name → version)."""
        return {}

    def libraries(self) -> dict[str, str]:
        return {"Pillow": PIL.__version__, **self.plugin_libraries()}

    def _encode(self, rgb: np.ndarray, quality: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format=self.pil_format, quality=quality, **self.encoder_params())
        return buffer.getvalue()

    def _decode(self, data: bytes) -> Image.Image:
        image = Image.open(io.BytesIO(data), formats=[self.pil_format])
        image.load()
        return image
