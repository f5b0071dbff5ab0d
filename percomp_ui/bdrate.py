"""Bjøntegaard deltas (VCEG-M33) with piecewise-cubic Hermite (pchip) interpolation.

The method of the common ``bd_rate`` implementations (JVET CTC's spreadsheet since 2017, the
``bjontegaard`` Python package, CompressAI-style benchmark scripts), instead of the original cubic
polynomial fit, which overshoots on curves with few points:

* **BD-rate**: fit log-rate as a function of quality for each curve (``PchipInterpolator`` on the
  points sorted by quality), integrate both fits exactly over the quality interval the two curves
  share, and turn the mean log-rate difference into a percentage: ``(exp(mean Δ log R) − 1) · 100``.
  Negative = the test curve needs fewer bits than the anchor for the same quality.
* **BD-quality** (BD-PSNR for PSNR): fit quality as a function of log-rate, integrate over the shared
  log-rate interval; the mean quality difference, in the metric's own unit (dB for PSNR).

The quality metric may be any monotone one: higher-is-better (PSNR, MS-SSIM in dB) or lower-is-better
(FLIP): the mean over the shared interval does not depend on the direction of the axis. Both
functions need ≥ 2 points per curve, positive rates, finite values, distinct x values of the fit
(qualities for BD-rate, rates for BD-quality), and an overlap of positive length; otherwise ValueError.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator


def _curve(rate: Sequence[float], quality: Sequence[float], label: str) -> tuple[np.ndarray, np.ndarray]:
    """(log rate, quality) as float arrays, checked."""
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.size != q.size:
        raise ValueError(f"{label}: {r.size} rates but {q.size} quality values")
    if r.size < 2:
        raise ValueError(f"{label}: at least 2 rate points are needed, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise ValueError(f"{label}: rates and quality values must be finite")
    if np.any(r <= 0):
        raise ValueError(f"{label}: rates must be positive")
    return np.log(r), q


def _fit(x: np.ndarray, y: np.ndarray, label: str, what: str) -> PchipInterpolator:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise ValueError(f"{label}: two points share the same {what}; pchip needs distinct values")
    return PchipInterpolator(x, y, extrapolate=False)


def _mean_difference(x_a: np.ndarray, y_a: np.ndarray, x_b: np.ndarray, y_b: np.ndarray, what: str) -> float:
    """Mean of fit_b − fit_a (y as a pchip function of x) over the x interval both curves cover."""
    fit_a, fit_b = _fit(x_a, y_a, "anchor", what), _fit(x_b, y_b, "test", what)
    low, high = max(x_a.min(), x_b.min()), min(x_a.max(), x_b.max())
    if not high > low:
        raise ValueError(f"the curves do not overlap in {what} (anchor {x_a.min():g} … {x_a.max():g}, "
                         f"test {x_b.min():g} … {x_b.max():g})")
    return float((fit_b.integrate(low, high) - fit_a.integrate(low, high)) / (high - low))


def bd_rate(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
            rate_test: Sequence[float], quality_test: Sequence[float]) -> float:
    """Bjøntegaard delta rate of the test curve against the anchor, in percent.

    Rates in any positive unit (bpp, kbit/s), the same for both curves. −10.0 means the test curve
    needs 10 % fewer bits than the anchor on average over the quality range both reach.
    """
    log_ra, q_a = _curve(rate_anchor, quality_anchor, "anchor")
    log_rb, q_b = _curve(rate_test, quality_test, "test")
    mean_log_ratio = _mean_difference(q_a, log_ra, q_b, log_rb, "quality")
    return (math.exp(mean_log_ratio) - 1.0) * 100.0


def bd_quality(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
               rate_test: Sequence[float], quality_test: Sequence[float]) -> float:
    """Bjøntegaard delta quality: the test curve's mean quality minus the anchor's over the shared
    log-rate range, in the quality metric's unit (BD-PSNR in dB when the metric is PSNR)."""
    log_ra, q_a = _curve(rate_anchor, quality_anchor, "anchor")
    log_rb, q_b = _curve(rate_test, quality_test, "test")
    return _mean_difference(log_ra, q_a, log_rb, q_b, "rate")


def bd_psnr(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float]) -> float:
    """BD-PSNR in dB: :func:`bd_quality` with PSNR as the quality (positive = the test curve is better)."""
    return bd_quality(rate_anchor, psnr_anchor, rate_test, psnr_test)
