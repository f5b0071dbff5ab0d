"""HEIC (HEVC intra in HEIF) through pillow_heif: libheif with the x265 encoder, libde265 decoder.

HEVC intra is the codec inside BPG, the classical anchor of most learned-compression papers, and
BPG is run PSNR-tuned. libheif's x265 defaults are perceptual instead (4:2:0 chroma, ``tune=ssim``,
psycho-visual rate–distortion on), which costs PSNR at every rate. This module runs x265 as a
PSNR-fair BPG-class coder:

* ``chroma="444"``: full-resolution chroma, like the learned codecs' RGB.
* ``tune="psnr"``: libheif's x265 tune parameter (its default is ``ssim``).
* ``x265:psy-rd=0`` and ``x265:psy-rdoq=0``: psycho-visual RD optimisation off. Through libheif,
  ``tune=psnr`` alone leaves both on (each changes the bytes when set on top of it), and turning
  them off gains about 0.4–0.6 dB PSNR at equal bpp on Kodak crops.
* ``x265:aq-mode=0``: adaptive quantisation off. Here ``tune=psnr`` and ``aq-mode=0`` are
  interchangeable (dropping either one leaves the bytes unchanged); both are set so the intent does
  not depend on how a libheif version maps ``tune``.
* ``preset="slow"``: libheif's default x265 preset, stated so it is recorded.

Unknown ``x265:`` keys are rejected by libheif ("Unsupported x265 encoder parameter"), so every key
above is one x265 accepts. Colour conversion is pillow_heif's default, which matches libheif's sRGB
defaults: BT.601 matrix, full range, signalled in an nclx profile. Grid tiling is off
(``tile_size=0``) so the file holds one coded image. Quality 0..100 is libheif's knob, mapped to
x265's quantiser (100 is the finest, but not the lossless mode).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image

from .base import ClassicalCodec

if not pillow_heif.libheif_info()["encoders"].get("x265"):
    raise ImportError("pillow_heif's libheif has no x265 HEVC encoder")

PSNR_TUNING: tuple[tuple[str, str], ...] = (
    ("preset", "slow"),
    ("tune", "psnr"),
    ("x265:psy-rd", "0"),
    ("x265:psy-rdoq", "0"),
    ("x265:aq-mode", "0"),
)


@dataclass(frozen=True)
class HeicCodec(ClassicalCodec):
    chroma: str = "444"
    x265_params: tuple[tuple[str, str], ...] = PSNR_TUNING  # (): libheif's defaults

    name = "heic"
    extension = ".heic"
    qualities = range(0, 101)
    quality_knob = "libheif quality (mapped to the x265 quantiser)"

    def libraries(self) -> dict[str, str]:
        info = pillow_heif.libheif_info()
        return {
            "pillow_heif": pillow_heif.__version__,
            "libheif": info["libheif"],
            "encoder": info["encoders"]["x265"],
            "decoder": ", ".join(info["decoders"].values()),
        }

    def encoder_params(self) -> dict[str, Any]:
        return {"chroma": self.chroma, "tile_size": 0, "enc_params": dict(self.x265_params)}

    def _encode(self, rgb: np.ndarray, quality: int) -> bytes:
        buffer = io.BytesIO()
        height, width = rgb.shape[:2]
        pillow_heif.encode("RGB", (width, height), rgb.tobytes(), buffer, quality=quality,
                           **self.encoder_params())
        return buffer.getvalue()

    def _decode(self, data: bytes) -> Image.Image:
        return pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).to_pillow()


CODEC = HeicCodec()
