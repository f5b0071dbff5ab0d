"""Tests for the classical codecs (percomp_ui.classical): real encodes and decodes of small images.

Every available codec is run through the same checks; the HEIC and AVIF tests also check that the
PSNR-fair settings really take effect (better PSNR at equal or lower bpp than the libraries'
defaults). Images are 96x128 or smaller so the whole file runs in seconds on two cores.
"""
from __future__ import annotations

import json
import re
import struct
import sys
from typing import Any

import numpy as np
import pytest

from percomp_ui import classical
from percomp_ui.classical import (
    ClassicalCodec, ClassicalResult, available_codecs, compress, compress_at_bpp, get_codec,
    quality_sweep, unavailable_reasons,
)
from percomp_ui.errors import InputError
from percomp_ui.metrics import psnr_rgb

AVAILABLE = sorted(available_codecs())
TARGETS = (0.5, 1.0, 2.0)
HIGH_QUALITY_PSNR_FLOOR = 34.0  # dB at each codec's highest quality on the test image


def natural_image(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A deterministic, photo-like RGB image: sky gradients, a textured ground, a sharp object, grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    fy, fx = y / height, x / width
    image = np.stack([70 + 120 * fy, 110 + 60 * fx, 200 - 110 * fy], axis=-1)
    ground = fy > 0.55 + 0.1 * np.sin(6 * fx)  # a wavy horizon
    texture = 18 * np.sin(x / 2.3 + 3 * np.sin(y / 7)) * np.cos(y / 3.1)
    image[ground] = np.stack([90 + texture, 120 + texture, 60 + 0.5 * texture], axis=-1)[ground]
    image[(np.abs(fx - 0.3) < 0.12) & (np.abs(fy - 0.35) < 0.15)] = [200, 60, 50]
    image += rng.normal(0.0, 2.0, (height, width, 1))  # luminance grain
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return natural_image()


@pytest.fixture(params=AVAILABLE)
def codec(request: pytest.FixtureRequest) -> ClassicalCodec:
    return get_codec(request.param)


def spread_qualities(codec: ClassicalCodec, count: int = 10) -> list[int]:
    """About ``count`` qualities evenly over the codec's knob, lowest and highest included."""
    q = codec.qualities
    return sorted({q[round(i * (len(q) - 1) / (count - 1))] for i in range(count)})


# --- registry ---------------------------------------------------------------------------------


def test_every_known_codec_is_available_or_has_a_reason() -> None:
    reasons = unavailable_reasons()
    assert set(AVAILABLE) | set(reasons) == set(classical.CODEC_MODULES)
    assert not set(AVAILABLE) & set(reasons)
    assert all(isinstance(r, str) and r for r in reasons.values())
    assert {"jpeg", "webp"} <= set(AVAILABLE)  # Pillow always has these
    for name, codec in available_codecs().items():
        assert codec.name == name and codec.extension.startswith(".")


def test_get_codec_unknown_lists_available_names() -> None:
    with pytest.raises(InputError) as error:
        get_codec("nosuch")
    message = str(error.value)
    assert "nosuch" in message
    assert all(name in message for name in AVAILABLE)


def test_get_codec_unavailable_gives_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classical, "_registry", lambda: ({}, {"jxl": "its library is missing: x"}))
    expected = "codec 'jxl' is not available here (its library is missing: x); available: none"
    with pytest.raises(InputError, match=re.escape(expected)):
        get_codec("jxl")


def test_missing_library_makes_codec_unavailable_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # "import imagecodecs" now fails
    monkeypatch.delitem(sys.modules, "percomp_ui.classical.jxl", raising=False)
    codecs, reasons = classical._registry.__wrapped__()
    assert "jxl" not in codecs
    assert reasons["jxl"].startswith("its library is missing") and "imagecodecs" in reasons["jxl"]


# --- every available codec ------------------------------------------------------------------


def test_round_trip_at_high_quality(codec: ClassicalCodec, image: np.ndarray) -> None:
    result = compress(codec, image, codec.qualities[-1])
    assert isinstance(result, ClassicalResult) and result.codec == codec.name
    assert result.rgb.shape == image.shape and result.rgb.dtype == np.uint8
    assert result.bpp == len(result.data) * 8 / (96 * 128)
    np.testing.assert_array_equal(result.rgb, codec.decode(result.data))  # decoded from the bytes
    assert psnr_rgb(image, result.rgb) >= HIGH_QUALITY_PSNR_FLOOR


def test_bpp_falls_from_highest_to_lowest_quality(codec: ClassicalCodec, image: np.ndarray) -> None:
    results = quality_sweep(codec, image, spread_qualities(codec))
    assert [r.quality for r in results] == spread_qualities(codec)
    rates = [r.bpp for r in reversed(results)]  # highest quality first
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:])), rates
    assert rates[-1] < rates[0] / 4


@pytest.mark.parametrize("target", TARGETS)
def test_compress_at_bpp_never_exceeds_and_lands_close(codec: ClassicalCodec, image: np.ndarray,
                                                      target: float) -> None:
    result = compress_at_bpp(codec, image, target)
    assert result.bpp <= target
    assert result.rgb.shape == image.shape
    if result.bpp < 0.75 * target:  # only allowed when the next quality step overshoots the target
        assert result.quality != codec.qualities[-1]
        assert compress(codec, image, result.quality + 1).bpp > target


def test_unreachable_target_raises(codec: ClassicalCodec, image: np.ndarray) -> None:
    lowest = compress(codec, image, codec.qualities[0])
    expected = (f"{codec.name} cannot reach 0.01 bpp on this image "
                f"(lowest: {lowest.bpp:.3g} bpp at quality {codec.qualities[0]})")
    with pytest.raises(InputError, match=re.escape(expected)):
        compress_at_bpp(codec, image, 0.01)


@pytest.mark.parametrize("target", [0, -1.0, float("nan"), float("inf"), "much"])
def test_compress_at_bpp_rejects_bad_targets(target: Any, image: np.ndarray) -> None:
    with pytest.raises(InputError, match="target bpp must be a positive number"):
        compress_at_bpp(get_codec("jpeg"), image, target)


def test_settings_are_json_and_complete(codec: ClassicalCodec) -> None:
    settings = json.loads(json.dumps(codec.settings()))
    assert settings["codec"] == codec.name
    assert settings["quality_range"] == [codec.qualities[0], codec.qualities[-1]]
    assert settings["quality_knob"] and settings["libraries"]
    assert all(isinstance(v, str) and v for v in settings["libraries"].values())
    assert settings["encoder_params"] == json.loads(json.dumps(codec.encoder_params()))


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (3, 2), (1, 7)])
def test_tiny_images_work_or_raise_input_error(codec: ClassicalCodec, shape: tuple[int, int]) -> None:
    rgb = natural_image(*shape)
    try:
        result = compress(codec, rgb, codec.qualities[-1])
    except InputError as error:
        assert str(error)
    else:
        assert result.rgb.shape == rgb.shape and result.rgb.dtype == np.uint8


def test_bad_inputs_raise_input_error(codec: ClassicalCodec, image: np.ndarray) -> None:
    for bad in (image.astype(np.float32), image[..., :2], image[..., 0], np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(InputError):
            codec.encode(bad, codec.qualities[-1])
    for quality in (codec.qualities[0] - 1, codec.qualities[-1] + 1, 50.5, True):
        with pytest.raises(InputError, match=f"{codec.name} quality must be an integer"):
            compress(codec, image, quality)
    with pytest.raises(InputError, match=f"not a readable {codec.name} file"):
        codec.decode(b"not an image at all")


def test_grayscale_and_alpha_files_decode_to_rgb(image: np.ndarray) -> None:
    from percomp_ui.classical.base import as_rgb

    gray = image[..., 1]
    np.testing.assert_array_equal(as_rgb(gray), np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(as_rgb(gray[..., None]), np.repeat(gray[..., None], 3, axis=2))
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(as_rgb(rgba), image)


def test_oversized_image_names_the_limit() -> None:
    expected = "webp supports at most 16383 pixels per side; this image is 16384x1"
    with pytest.raises(InputError, match=expected):
        get_codec("webp").encode(np.zeros((1, 16384, 3), np.uint8), 50)


# --- matched-rate search on a codec with a known, non-monotone rate curve ---------------------


class TableCodec(ClassicalCodec):
    """A fake codec whose file for quality q is a 4-byte size header plus PADDING[q] bytes."""

    name = "table"
    extension = ".tbl"
    qualities = range(0, 10)
    quality_knob = "index into PADDING"
    PADDING = (0, 1, 2, 3, 16, 4, 17, 18, 19, 20)  # a spike at quality 4

    def libraries(self) -> dict[str, str]:
        return {}

    def encoder_params(self) -> dict[str, Any]:
        return {}

    def _encode(self, rgb: np.ndarray, quality: int) -> bytes:
        return struct.pack("<HH", *rgb.shape[:2]) + bytes(self.PADDING[quality])

    def _decode(self, data: bytes) -> np.ndarray:
        return np.zeros(struct.unpack("<HH", data[:4]) + (3,), np.uint8)


def test_compress_at_bpp_checks_neighbours_of_the_bisection() -> None:
    rgb = np.zeros((1, 8, 3), np.uint8)  # 8 pixels: bpp = 4 + PADDING[q]
    # Bisection alone ends at quality 3 (7 bpp) because quality 4 spikes; quality 5 (8 bpp) is better.
    result = compress_at_bpp(TableCodec(), rgb, 8.5)
    assert (result.quality, result.bpp) == (5, 8.0)
    assert compress_at_bpp(TableCodec(), rgb, 8.0).bpp == 8.0  # equal to the target is allowed
    assert compress_at_bpp(TableCodec(), rgb, 1000).quality == 9


# --- PSNR-fair settings of HEIC and AVIF ------------------------------------------------------


@pytest.mark.skipif("heic" not in AVAILABLE, reason="heic not available here")
def test_heic_settings_record_psnr_fair_x265_params() -> None:
    params = get_codec("heic").settings()["encoder_params"]
    assert params["chroma"] == "444"
    assert params["enc_params"]["tune"] == "psnr"
    for key in ("x265:psy-rd", "x265:psy-rdoq", "x265:aq-mode"):
        assert params["enc_params"][key] == "0"


@pytest.mark.skipif("avif" not in AVAILABLE, reason="avif not available here")
def test_avif_settings_record_psnr_fair_params() -> None:
    settings = get_codec("avif").settings()
    params = settings["encoder_params"]
    assert params["subsampling"] == "4:4:4" and params["codec"] == "aom"
    assert params["advanced"] == {"tune": "psnr"} and isinstance(params["speed"], int)
    assert "aom" in settings["libraries"]


@pytest.mark.skipif("heic" not in AVAILABLE, reason="heic not available here")
def test_heic_psy_options_change_the_bytes(image: np.ndarray) -> None:
    from percomp_ui.classical.heic import PSNR_TUNING, HeicCodec

    tuned = get_codec("heic").encode(image, 50)
    for key in ("x265:psy-rd", "x265:psy-rdoq"):
        without = HeicCodec(x265_params=tuple(p for p in PSNR_TUNING if p[0] != key))
        assert without.encode(image, 50) != tuned, key


def _default_vs_tuned(default: ClassicalCodec, tuned: ClassicalCodec, image: np.ndarray) -> None:
    """At several rates the tuned codec, matched to the default's bpp, has clearly higher PSNR."""
    for quality in (30, 50, 70):
        reference = compress(default, image, quality)
        matched = compress_at_bpp(tuned, image, reference.bpp)
        assert matched.bpp <= reference.bpp
        assert psnr_rgb(image, matched.rgb) > psnr_rgb(image, reference.rgb) + 0.5, quality


@pytest.mark.skipif("heic" not in AVAILABLE, reason="heic not available here")
def test_heic_psnr_tuning_beats_libheif_defaults(image: np.ndarray) -> None:
    from percomp_ui.classical.heic import HeicCodec

    _default_vs_tuned(HeicCodec(chroma="420", x265_params=()), get_codec("heic"), image)


@pytest.mark.skipif("avif" not in AVAILABLE, reason="avif not available here")
def test_avif_psnr_tuning_is_no_worse_than_libavif_defaults(image: np.ndarray) -> None:
    # How much tune=psnr + 4:4:4 gains depends on Pillow's AVIF plugin: 0.5-0.8 dB with Pillow 13, about
    # nothing with the Pillow 11.3 that gradio 5 pins (its plugin's defaults are already PSNR-fair).
    # What must hold everywhere: the anchor is never worse than the library defaults at matched rate.
    from percomp_ui.classical.avif import AvifCodec

    default, tuned = AvifCodec(subsampling="4:2:0", tune=None), get_codec("avif")
    gains = []
    for quality in (30, 50, 70):
        reference = compress(default, image, quality)
        matched = compress_at_bpp(tuned, image, reference.bpp)
        assert matched.bpp <= reference.bpp
        gains.append(psnr_rgb(image, matched.rgb) - psnr_rgb(image, reference.rgb))
    assert np.mean(gains) > -0.1, gains
