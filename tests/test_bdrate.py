"""Bjøntegaard deltas (pchip) on hand-checkable curves, and the bpp-range clipping the plot uses."""
from __future__ import annotations

import math

import numpy as np
import pytest

from percomp_ui.bdrate import bd_psnr, bd_quality, bd_rate
from percomp_ui.plot import clip_to_bpp_range

# A realistic, curved R-D curve (Kodak JPEG-like): PSNR rises ever more slowly with bpp.
RATES = [0.2, 0.35, 0.5, 0.8, 1.2, 1.9, 3.0]
PSNR = [24.0, 27.1, 28.9, 31.0, 33.0, 35.6, 38.9]


def test_identical_curves_give_zero():
    assert bd_rate(RATES, PSNR, RATES, PSNR) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATES, PSNR, RATES, PSNR) == pytest.approx(0.0, abs=1e-12)


def test_rates_scaled_by_0_9_is_minus_ten_percent():
    # log(0.9 R) = log R + log 0.9 at every quality, and pchip of shifted data is the shifted fit.
    scaled = [0.9 * r for r in RATES]
    assert bd_rate(RATES, PSNR, scaled, PSNR) == pytest.approx(-10.0, abs=1e-6)
    assert bd_rate(scaled, PSNR, RATES, PSNR) == pytest.approx(100 / 0.9 - 100, abs=1e-6)  # +11.11 %


def test_plus_one_db_on_a_straight_log_rate_line():
    # PSNR = 30 + 10·log10(R): pchip reproduces a straight line exactly, so both deltas are closed-form.
    rates = [0.1, 0.2, 0.4, 0.8, 1.6]
    anchor = [30 + 10 * math.log10(r) for r in rates]
    better = [q + 1.0 for q in anchor]
    assert bd_psnr(rates, anchor, rates, better) == pytest.approx(1.0, abs=1e-9)
    # +1 dB at equal rate = the same quality at 10^(−0.1) of the rate.
    assert bd_rate(rates, anchor, rates, better) == pytest.approx((10**-0.1 - 1) * 100, abs=1e-9)  # −20.57 %


def test_point_order_does_not_matter():
    order = [3, 0, 6, 2, 5, 1, 4]
    rates, psnr = [RATES[i] for i in order], [PSNR[i] for i in order]
    scaled = [0.8 * r for r in RATES]
    assert bd_rate(rates, psnr, scaled, PSNR) == pytest.approx(bd_rate(RATES, PSNR, scaled, PSNR), abs=1e-12)


def test_lower_is_better_metric():
    # FLIP-like quality: falls as the rate rises. Rates ×0.9 is still exactly −10 %.
    flip = [0.30, 0.22, 0.17, 0.12, 0.09, 0.06, 0.04]
    assert bd_rate(RATES, flip, [0.9 * r for r in RATES], flip) == pytest.approx(-10.0, abs=1e-6)


def test_only_the_overlap_counts():
    # The test curve covers only the upper half of the anchor (a straight line, so both fits are exact),
    # where it is 10 % cheaper; the anchor's lower half does not enter the mean.
    rates = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
    psnr = [30 + 10 * math.log10(r) for r in rates]
    test_rates = [0.9 * r for r in rates[3:]]
    assert bd_rate(rates, psnr, test_rates, psnr[3:]) == pytest.approx(-10.0, abs=1e-6)


def test_no_overlap_is_an_error():
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate(RATES[:3], PSNR[:3], RATES[4:], PSNR[4:])
    with pytest.raises(ValueError, match="do not overlap"):
        bd_psnr([0.1, 0.2], [25, 27], [1.0, 2.0], [35, 37])


@pytest.mark.parametrize("args, message", [
    (([0.5], [30.0], RATES, PSNR), "at least 2"),
    ((RATES, PSNR, [1.0], [33.0]), "at least 2"),
    (([0.5, 1.0], [30.0], RATES, PSNR), "quality values"),
    (([0.0, 1.0], [30.0, 33.0], RATES, PSNR), "positive"),
    (([0.5, 1.0], [30.0, math.nan], RATES, PSNR), "finite"),
    (([0.5, 1.0], [30.0, 30.0], RATES, PSNR), "same quality"),
])
def test_bad_input_is_a_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        bd_rate(*args)


def test_bd_quality_is_bd_psnr():
    worse = [q - 0.5 for q in PSNR]
    assert bd_quality(RATES, PSNR, RATES, worse) == pytest.approx(-0.5, abs=1e-9)


def test_clip_to_bpp_range_interpolates_the_ends():
    rates = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    psnr = 30 + 10 * np.log10(rates)
    bpp, quality = clip_to_bpp_range(rates, psnr, 0.3, 1.0)
    assert bpp.tolist() == pytest.approx([0.3, 0.4, 0.8, 1.0])
    assert quality == pytest.approx(30 + 10 * np.log10(bpp))  # on the line: pchip over log-bpp is exact
    # A curve that starts inside the range keeps its own first point; one outside keeps nothing.
    assert clip_to_bpp_range(rates, psnr, 0.05, 0.3)[0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert clip_to_bpp_range(rates, psnr, 2.0, 3.0)[0].size == 0


def test_clipped_bd_rate_follows_the_range():
    # Test curve: 10 % cheaper below 0.6 bpp, 20 % dearer above. The range picks which part counts.
    rates = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0, 1.5, 2.0, 3.0])
    psnr = 30 + 10 * np.log10(rates)
    test_rates = np.where(rates <= 0.6, 0.9 * rates, 1.2 * rates)
    # (Range ends where pchip is exactly the line: both neighbouring secants on the line.)
    low = [clip_to_bpp_range(r, psnr, 0.2, 0.4) for r in (rates, test_rates)]
    assert bd_rate(*low[0], *low[1]) == pytest.approx(-10.0, abs=1e-6)
    assert bd_rate(rates, psnr, test_rates, psnr) > 0  # the whole curve: mostly the dearer part
