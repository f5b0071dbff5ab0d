"""The ROI in the stream: map coding (percomp_ui.roi.mapcode), ROI encodes that decode from the file
alone, bit maps from the real likelihoods, rate control with a ROI, and region metrics."""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest

from percomp_ui.codec import LearnedCodec
from percomp_ui.container import pack, unpack
from percomp_ui.errors import InputError, StreamError
from percomp_ui.metrics import ms_ssim_rgb, psnr_rgb
from percomp_ui.roi.mapcode import (
    coarse_grid, decode_grid, encode_grid, grid_shape, roi_section, section_scale, upsample_grid,
)
from percomp_ui.roi.mask import RoiRequest, masks_from_source
from percomp_ui.roi.metrics import region_metrics, region_ms_ssim, region_psnr

# ----------------------------------------------------------------------------- map coding


def test_grid_round_trip_is_the_quantized_grid() -> None:
    rng = np.random.default_rng(0)
    grid = rng.random((3, 5))
    decoded = decode_grid(encode_grid(grid), (3, 5))
    np.testing.assert_allclose(decoded, np.rint(grid * 15) / 15)
    assert np.abs(decoded - grid).max() <= 1 / 30 + 1e-12


def test_coarse_grid_averages_blocks_including_partial_edges() -> None:
    rm = np.zeros((6, 9))
    rm[:4, :4] = 1.0
    rm[4:, 8] = 0.5
    grid = coarse_grid(rm, stride=4)
    assert grid.shape == grid_shape((6, 9), 4) == (2, 3)
    assert grid[0, 0] == 1.0 and grid[0, 1] == 0.0
    assert grid[1, 2] == pytest.approx(0.5)  # a 2x1 partial block holding 0.5


def test_upsampling_keeps_constants_and_interpolates() -> None:
    np.testing.assert_allclose(upsample_grid(np.full((2, 3), 0.4), (8, 12)), 0.4)
    ramp = upsample_grid(np.array([[0.0, 1.0]]), (1, 8))[0]
    assert ramp[0] == 0.0 and ramp[-1] == 1.0 and np.all(np.diff(ramp) >= 0)
    np.testing.assert_allclose(ramp, ramp[::-1][::-1])


@pytest.mark.parametrize("coded, message", [
    (b"", "too short"),
    (b"\x0f", "too short"),
    (b"\x00" + zlib.compress(bytes(6)), "single quantization level"),
    (b"\x0fnot zlib", "corrupt"),
    (b"\x0f" + zlib.compress(bytes(5)), "wrong number of cells"),
    (b"\x0f" + zlib.compress(bytes(7)), "wrong number of cells"),
    (b"\x0f" + zlib.compress(bytes(6))[:-2], "wrong number of cells"),
    (b"\x0f" + zlib.compress(bytes(6)) + b"x", "wrong number of cells"),
    (b"\x0f" + zlib.compress(bytes([0, 0, 16, 0, 0, 0])), "above its top level"),
])
def test_corrupt_maps_are_refused(coded: bytes, message: str) -> None:
    with pytest.raises(StreamError, match=message):
        decode_grid(coded, (2, 3))


def test_section_checks_alpha_and_grid() -> None:
    section = roi_section(np.ones((8, 12)), 1.0)
    assert section.grid_shape == (2, 3)
    assert section_scale(section, (8, 12), 8).shape == (8, 8, 12)
    with pytest.raises(StreamError, match="does not match"):
        section_scale(section, (12, 12), 8)
    with pytest.raises(StreamError, match="alpha"):
        section_scale(dataclasses.replace(section, alpha=1e-6), (8, 12), 8)


# ----------------------------------------------------------------------------- the codec with a ROI


@pytest.fixture(scope="module")
def roi_request(test_image: np.ndarray) -> RoiRequest:
    source = np.zeros(test_image.shape[:2], np.float32)
    source[20:70, 30:90] = 1.0
    return RoiRequest(masks_from_source(source).smoothed, alpha=0.5)


@pytest.fixture(scope="module")
def roi_encoded(codec: LearnedCodec, test_image: np.ndarray, roi_request: RoiRequest):
    return codec.encode(test_image, 6.5, roi_request)


def test_roi_stream_decodes_from_the_file_alone(codec: LearnedCodec, roi_encoded, tmp_path) -> None:
    path = tmp_path / "roi.pcmp"
    path.write_bytes(roi_encoded.data)
    stream = unpack(path.read_bytes())
    assert stream.roi is not None and stream.roi.alpha == 0.5
    np.testing.assert_array_equal(codec.decode(path.read_bytes()), codec.reconstruct(roi_encoded))


def test_roi_map_bytes_count_in_the_bpp(roi_encoded, test_image: np.ndarray) -> None:
    assert roi_encoded.bpp == len(roi_encoded.data) * 8 / (test_image.shape[0] * test_image.shape[1])
    without_roi = pack(dataclasses.replace(roi_encoded.stream, roi=None))
    assert len(roi_encoded.data) - len(without_roi) >= len(roi_encoded.stream.roi.coded_map)


def test_roi_changes_the_bits_where_the_mask_is(codec: LearnedCodec, test_image: np.ndarray,
                                                roi_request: RoiRequest, roi_encoded) -> None:
    plain = codec.encode(test_image, 6.5)
    region = roi_request.mask_2d >= 0.5
    share = lambda bits: bits[region].sum() / bits.sum()  # noqa: E731
    assert share(codec.bit_map(roi_encoded.stream)) > share(codec.bit_map(plain.stream))
    assert len(roi_encoded.data) > len(plain.data)


def test_a_zero_mask_is_the_plain_encode(codec: LearnedCodec, test_image: np.ndarray) -> None:
    plain = codec.encode(test_image, 3.0)
    zero = codec.encode(test_image, 3.0, RoiRequest(np.zeros(test_image.shape[:2], np.float32), 1.0))
    assert zero.stream.strings == plain.stream.strings


def test_mask_of_the_wrong_size_is_an_input_error(codec: LearnedCodec, test_image: np.ndarray) -> None:
    with pytest.raises(InputError, match="ROI mask is 10x10"):
        codec.encode(test_image, 3.0, RoiRequest(np.zeros((10, 10), np.float32), 1.0))


def test_bit_map_sums_to_the_coded_bits(codec: LearnedCodec, roi_encoded, test_image: np.ndarray) -> None:
    bits = codec.bit_map(roi_encoded.stream)
    assert bits.shape == test_image.shape[:2] and bits.dtype == np.float32 and bits.min() >= 0
    coded = 8 * sum(len(s) for s in roi_encoded.stream.strings)
    # 96x128 pads to 128x128: the crop drops the padding's share; rANS adds a few bytes per string
    assert 0.5 * coded < bits.sum() <= coded + 64


@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_rate_control_with_roi_lands_under_and_close(codec: LearnedCodec, image_factory,
                                                     fraction: float) -> None:
    image = image_factory(128, 160, seed=3)
    source = np.zeros(image.shape[:2], np.float32)
    source[:64, :80] = 1.0
    request = RoiRequest(masks_from_source(source).smoothed, alpha=1.0)
    prepared = codec.prepare(image)
    low = codec.encode_prepared(prepared, 0.0, request).bpp
    high = codec.encode_prepared(prepared, codec.max_rate, request).bpp
    target = low + fraction * (high - low)
    result = codec.encode_to_bpp(prepared, target, request)
    assert result.stream.roi is not None
    assert target * 0.98 <= result.bpp <= target


# ----------------------------------------------------------------------------- region metrics


def test_region_metrics_agree_with_the_global_ones_on_a_full_mask(image_factory) -> None:
    a, b = image_factory(180, 200, seed=0), image_factory(180, 200, seed=1)
    full = np.ones(a.shape[:2], bool)
    assert region_psnr(a, b, full) == pytest.approx(psnr_rgb(a, b))
    assert region_ms_ssim(a, b, full.astype(float)) == pytest.approx(ms_ssim_rgb(a, b), rel=1e-12)


def test_region_metrics_localise_the_damage(image_factory) -> None:
    a = image_factory(180, 200, seed=0)
    damaged = a.copy()
    damaged[:90] = np.clip(damaged[:90].astype(int) + np.random.default_rng(0).integers(-30, 30, damaged[:90].shape),
                           0, 255).astype(np.uint8)
    mask = np.zeros(a.shape[:2], np.float32)
    mask[:90] = 1.0
    bits = np.ones(a.shape[:2], np.float32)
    bits[:90] = 3.0
    metrics = region_metrics(a, damaged, mask, bits)
    assert metrics["roi_fraction"] == pytest.approx(0.5)
    assert metrics["background_psnr"] == float("inf") and metrics["roi_psnr"] < 30
    assert metrics["roi_ms_ssim"] < metrics["background_ms_ssim"]
    assert metrics["roi_bit_share"] == pytest.approx(0.75)
    empty = region_metrics(a, damaged, np.zeros(a.shape[:2], np.float32))
    assert empty["roi_psnr"] is None and empty["roi_ms_ssim"] is None and empty["roi_bit_share"] is None
