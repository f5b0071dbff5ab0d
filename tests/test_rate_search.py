"""The rate search: the pure bracket search, and the codec's estimate-then-encode use of it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from percomp_ui.codec import LearnedCodec
from percomp_ui.rate_search import BPP_TOLERANCE, search_rate


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
