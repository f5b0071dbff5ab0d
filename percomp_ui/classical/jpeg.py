"""JPEG (ITU-T T.81) through Pillow and its libjpeg(-turbo).

Settings and why:

* ``subsampling="4:2:0"``: the chroma subsampling nearly every JPEG in the wild uses and what
  users expect "a JPEG" to be; it is also Pillow's default, stated explicitly so it is recorded.
* ``optimize=True``: Huffman tables optimised for the image. This is lossless and only removes
  bytes, so leaving it off would handicap JPEG at no gain in quality.
* ``progressive=False``: baseline sequential coding, the common form (progressive changes only
  the entropy-coded layout, by a few percent either way).
* quality 1..95: Pillow's knob, scaling the standard IJG quantisation tables. Above 95 the
  tables approach all-ones and Pillow's documentation advises against it: many bits, tiny gains.
"""
from __future__ import annotations

from typing import Any

from PIL import features

from .base import PillowCodec


class JpegCodec(PillowCodec):
    name = "jpeg"
    extension = ".jpg"
    qualities = range(1, 96)
    quality_knob = "Pillow JPEG quality (scales the IJG standard quantisation tables)"
    max_side = 65500  # libjpeg's JPEG_MAX_DIMENSION
    pil_format = "JPEG"

    def plugin_libraries(self) -> dict[str, str]:
        if features.check_feature("libjpeg_turbo"):
            return {"libjpeg-turbo": str(features.version_feature("libjpeg_turbo"))}
        return {"libjpeg": str(features.version("jpg"))}

    def encoder_params(self) -> dict[str, Any]:
        return {"subsampling": "4:2:0", "optimize": True, "progressive": False}


CODEC = JpegCodec()
