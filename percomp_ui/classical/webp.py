"""Lossy WebP (VP8 intra) through Pillow and libwebp.

Settings and why:

* ``method=6``: libwebp's slowest, best rate–distortion search (Pillow's default is 4). A
  benchmark should show each codec at its best, not at an interactive speed preset.
* ``lossless=False``: the VP8 lossy mode, whose chroma is always 4:2:0 (the format has no
  4:4:4 lossy mode, so nothing can be made fairer there).
* quality 0..100: libwebp's quality knob, mapped by libwebp to VP8 quantisers.
"""
from __future__ import annotations

from typing import Any

from PIL import features

from .base import PillowCodec


class WebpCodec(PillowCodec):
    name = "webp"
    extension = ".webp"
    qualities = range(0, 101)
    quality_knob = "libwebp lossy quality (mapped to VP8 quantisers)"
    max_side = 16383  # the WebP bitstream's 14-bit width and height
    pil_format = "WEBP"

    def plugin_libraries(self) -> dict[str, str]:
        return {"libwebp": str(features.version("webp"))}

    def encoder_params(self) -> dict[str, Any]:
        return {"method": 6, "lossless": False}


CODEC = WebpCodec()
