"""AVIF (AV1 intra in HEIF) through Pillow's AVIF plugin: libavif with the libaom encoder.

Run PSNR-fair, since the workbench compares codecs by PSNR on RGB:

* ``subsampling="4:4:4"``: full-resolution chroma, as the learned codecs code RGB at full
  resolution; 4:2:0 would lose chroma detail that no quality setting can buy back.
* ``codec="aom"`` with ``advanced={"tune": "psnr"}``: libaom's tuning for PSNR. Left unset,
  libavif tunes libaom for ``iq``, a perceptual tuning (unset and ``tune=iq`` give identical bytes
  with Pillow 13); measured on Kodak crops, ``tune=psnr`` gained about 0.5–0.8 dB PSNR at equal bpp
  there. With the Pillow 11.3 that gradio 5 pins, the plugin's defaults are already PSNR-fair
  (tune=psnr, 4:4:4 and the defaults all within 0.2 dB at matched rate on Kodak crops). The
  tune option exists only in libaom, so the codec insists on it: without libaom AVIF is reported
  unavailable rather than run silently untuned.
* ``speed=6``: Pillow's default. Speed 4 gains about 0.4 dB more at equal bpp but encodes seven to
  ten times slower, too slow for matched-rate bisection over an image folder on a small
  machine; pass ``AvifCodec(speed=4)`` for publication curves.
* ``range="full"``: full-range YCbCr, so no code values are spent on the unused footroom.
* quality 0..100: libavif's quality knob (mapped to AV1 quantisers; 100 is quantiser 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import AvifImagePlugin, features

from .base import PillowCodec

if not features.check("avif"):
    raise ImportError("Pillow was built without AVIF support (PIL.features.check('avif') is False)")


@dataclass(frozen=True)
class AvifCodec(PillowCodec):
    speed: int = 6
    subsampling: str = "4:4:4"
    tune: str | None = "psnr"  # None: libavif's default tuning

    name = "avif"
    extension = ".avif"
    qualities = range(0, 101)
    quality_knob = "libavif quality (mapped to AV1 quantisers)"
    max_side = 32768  # libavif's default decoder dimension limit
    pil_format = "AVIF"

    def plugin_libraries(self) -> dict[str, str]:
        versions = {name: AvifImagePlugin.get_codec_version(name) for name in ("aom", "dav1d")}
        return {"libavif": str(features.version("avif")), **{k: v for k, v in versions.items() if v}}

    def encoder_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "codec": "aom", "subsampling": self.subsampling, "speed": self.speed, "range": "full",
        }
        if self.tune is not None:
            params["advanced"] = {"tune": self.tune}
        return params


CODEC = AvifCodec()
