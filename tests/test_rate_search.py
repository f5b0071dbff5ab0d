"""The rate search: the pure bracket search, and the codec's estimate-then-encode use of it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from app_fixtures import make_ranged_model
from conftest import make_image
from percomp_ui.codec import LearnedCodec, PreparedImage
from percomp_ui.rate_search import BPP_TOLERANCE, bracket, local_slope, search_rate, secant_grid
from percomp_ui.roi.mask import RoiRequest


def log_linear(grid: int) -> float:
    return 0.05 * math.exp(grid / 400)


@pytest.mark.parametrize("target", [0.06, 0.2, 0.5, 1.0, 1.9])
def test_finds_the_largest_feasible_grid_point_within_the_tolerance(target: float) -> None:
    calls: list[int] = []

    def measure(grid: int) -> float:
        calls.append(grid)
        return log_linear(grid)

    top = 1600
    lo, hi = search_rate(measure, (0, log_linear(0)), (top, log_linear(top)), target)
    assert lo[1] <= target < hi[1]
    assert lo[1] >= target * (1 - BPP_TOLERANCE) or hi[0] - lo[0] == 1
    assert all(0 < grid < top for grid in calls)  # only strictly inside the bracket
    assert len(calls) <= math.ceil(math.log2(top)) + 1  # never worse than bisection (plus one step)


def test_steps_and_plateaus_still_end_in_a_valid_bracket() -> None:
    """An untrained model's sizes are flat over long stretches of rates, then jump."""
    def measure(grid: int) -> float:
        return 0.1 if grid < 700 else 0.4 + grid / 10_000

    lo, hi = search_rate(measure, (0, 0.1), (1000, 0.5), 0.3)
    assert (lo[0], hi[0]) == (699, 700) and lo[1] == 0.1


def test_a_bracket_already_within_the_tolerance_is_not_searched() -> None:
    def measure(grid: int) -> float:
        raise AssertionError("no measurement needed")

    assert search_rate(measure, (10, 0.299), (20, 0.4), 0.3) == ((10, 0.299), (20, 0.4))


def test_bracket_is_the_tightest_the_points_give() -> None:
    points = {0: 0.05, 100: 0.1, 300: 0.25, 200: 0.18, 400: 0.4}
    assert bracket(points, 0.2) == ((200, 0.18), (300, 0.25))
    assert bracket(points, 0.01) == (None, (0, 0.05))
    assert bracket(points, 0.5) == ((400, 0.4), None)
    assert bracket({}, 0.2) == (None, None)
    # a plateau: the highest grid under the target, and the first above it that is over
    assert bracket({0: 0.1, 10: 0.1, 20: 0.3, 30: 0.1}, 0.2) == ((30, 0.1), None)


def test_local_slope_and_secant_grid_on_a_log_linear_curve() -> None:
    points = {g: log_linear(g) for g in (0, 200, 201, 600, 1400)}
    assert local_slope(points, 250) == pytest.approx(1 / 400)
    assert local_slope(points, 650) == pytest.approx(1 / 400)
    assert local_slope({0: 0.1}, 0) is None
    assert local_slope({0: 0.1, 1: 0.1001}, 0) is None  # closer than 1 %: noise, not slope
    grid = secant_grid((200, log_linear(200)), 1 / 400, 0.5)
    assert log_linear(grid) <= 0.5 < log_linear(grid + 1)


@pytest.fixture(scope="module")
def prepared(tiny_zoo: Path, test_image: np.ndarray):
    codec = LearnedCodec.from_zoo("tiny", tiny_zoo)
    return codec, codec.prepare(test_image)


def test_the_estimate_is_close_to_the_coded_strings(prepared) -> None:
    codec, image = prepared
    for rate in (0.0, 3.3, 6.6, codec.max_rate):
        strings = codec.encode_prepared(image, rate).stream.strings
        estimate = codec.model.estimate_latent_bits(image.y, rate, None, image.z) / 8
        assert abs(sum(map(len, strings)) - estimate) <= 0.02 * estimate + 16  # rANS flushes a few bytes a string


@pytest.mark.parametrize("bias", [0.8, 1.0, 1.25])
def test_a_misleading_estimate_costs_encodes_not_correctness(prepared, tiny_zoo: Path, monkeypatch, bias: float) -> None:
    codec, image = prepared
    low, high = codec.encode_prepared(image, 0.0), codec.encode_prepared(image, codec.max_rate)
    target = low.bpp + 0.6 * (high.bpp - low.bpp)
    honest = codec.encode_to_bpp(image, target)
    biased = LearnedCodec.from_zoo("tiny", tiny_zoo)
    estimate = biased.model.estimate_latent_bits
    monkeypatch.setattr(biased.model, "estimate_latent_bits", lambda *a: bias * estimate(*a))
    result = biased.encode_to_bpp(image, target)
    assert result.bpp <= target
    assert result.bpp >= min(honest.bpp, target * (1 - BPP_TOLERANCE)) - 8 * 4 / image.num_pixels
    assert np.array_equal(codec.decode(result.data), codec.reconstruct(result))


def counted_estimates(codec: LearnedCodec, monkeypatch) -> list[float]:
    """The rates ``codec`` estimates from now on."""
    rates: list[float] = []
    estimate = codec.model.estimate_latent_bits
    monkeypatch.setattr(codec.model, "estimate_latent_bits", lambda y, rate, *a: rates.append(rate) or estimate(y, rate, *a))
    return rates


@pytest.fixture(scope="module")
def ranged() -> tuple[LearnedCodec, np.ndarray]:
    """A model whose rates span ~0.03–1 bpp and an image big enough for smooth file sizes (kB, not bytes)."""
    return LearnedCodec(make_ranged_model(0), "ranged"), make_image(256, 384, seed=4)


@pytest.mark.parametrize("first, second", [(0.3, 0.33), (0.33, 0.3), (0.15, 0.5)])
def test_a_warm_search_finds_what_a_cold_one_does_with_fewer_estimates(ranged, monkeypatch, first: float,
                                                                          second: float) -> None:
    codec, rgb = ranged
    rates = counted_estimates(codec, monkeypatch)
    cold = codec.encode_to_bpp(codec.prepare(rgb), second)
    cold_estimates = len(rates)
    image = codec.prepare(rgb)
    codec.encode_to_bpp(image, first)
    assert image.memory.last is not None
    del rates[:]
    warm = codec.encode_to_bpp(image, second)
    assert len(rates) < cold_estimates
    assert second * (1 - BPP_TOLERANCE) <= warm.bpp <= second and cold.bpp <= second
    assert np.array_equal(codec.decode(warm.data), codec.reconstruct(warm))


def test_estimates_carry_over_only_to_a_search_with_the_same_roi(ranged, monkeypatch) -> None:
    codec, rgb = ranged
    image = codec.prepare(rgb)
    mask = np.zeros(rgb.shape[:2], np.float32)
    mask[64:192, 96:288] = 1
    target = 0.3
    codec.encode_to_bpp(image, target, RoiRequest(mask, 0.5))
    rates = counted_estimates(codec, monkeypatch)
    again = codec.encode_to_bpp(image, target, RoiRequest(mask, 0.5))
    assert rates == []  # every estimate it needs is the last search's
    other = codec.encode_to_bpp(image, target, RoiRequest(mask, 0.8))
    assert rates  # another α: other symbols, new estimates
    assert again.bpp <= target and other.bpp <= target
    assert isinstance(image, PreparedImage) and image.memory.last.section == other.stream.roi
