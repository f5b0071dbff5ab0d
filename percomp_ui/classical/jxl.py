"""JPEG XL through imagecodecs and libjxl.

Settings and why:

* quality knob: imagecodecs' ``level``, which is cjxl's ``--quality``: libjxl maps it to a
  Butteraugli distance with ``JxlEncoderDistanceFromQuality`` (90 → distance 1.0, 30 → 6.4,
  0 → 25). Passing ``level`` gives byte-identical files to passing that distance directly. 0..99:
  quality 100 switches to the lossless mode, a different coder.
* ``effort=7``: libjxl's (and cjxl's) default effort, set explicitly because imagecodecs
  otherwise uses effort 5, a faster and weaker search.
* VarDCT lossy mode (libjxl's default for lossy). JPEG XL has no PSNR tuning: its encoder targets
  Butteraugli, and this is recorded rather than worked around.
"""
from __future__ import annotations

from typing import Any

import imagecodecs
import numpy as np

from .base import ClassicalCodec

if not imagecodecs.JPEGXL.available:
    raise ImportError("imagecodecs was built without JPEG XL (libjxl) support")


class JxlCodec(ClassicalCodec):
    name = "jxl"
    extension = ".jxl"
    qualities = range(0, 100)
    quality_knob = "imagecodecs level = cjxl --quality (libjxl maps it to a Butteraugli distance)"

    def libraries(self) -> dict[str, str]:
        return {"imagecodecs": imagecodecs.__version__, "libjxl": imagecodecs.jpegxl_version()}

    def encoder_params(self) -> dict[str, Any]:
        return {"effort": 7}

    def _encode(self, rgb: np.ndarray, quality: int) -> bytes:
        return bytes(imagecodecs.jpegxl_encode(rgb, level=quality, **self.encoder_params()))

    def _decode(self, data: bytes) -> np.ndarray:
        return imagecodecs.jpegxl_decode(data)


CODEC = JxlCodec()
