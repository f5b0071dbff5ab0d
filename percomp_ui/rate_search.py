"""Finding the largest rate whose file fits a bpp target, on a grid of rates.

The rate of a variable-rate model is continuous, coded in the stream on an integer grid
(``container.RATE_INTERP_SCALE`` steps per gain level). File size grows smoothly and almost
log-linearly along the grid, so :func:`search_rate` interpolates log(bpp) inside a bracket
(regula falsi), aiming just under the target, with a plain bisection step after any step that failed
to halve the bracket: it never does worse than bisection. It is pure: the caller says what a grid
point measures (a real encode, or a cheap estimate of one).

A search can also start where an earlier one on the same image ended (an app slider moves α or the
target a little): secant steps (:func:`secant_grid`) from the earlier answer, with the curve's slope
there (:func:`local_slope`), then :func:`bracket` turns whatever was measured into a search bracket.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

# Accept a point this close under the target without searching further.
BPP_TOLERANCE = 0.005

Point = tuple[int, float]  # (grid index, bpp)


def search_rate(measure: Callable[[int], float], lo: Point, hi: Point, target: float,
                tolerance: float = BPP_TOLERANCE) -> tuple[Point, Point]:
    """Narrow the bracket ``lo`` < ``hi`` (``lo``'s bpp ≤ ``target`` < ``hi``'s) around the largest
    grid index whose measured bpp is ≤ ``target``.

    ``measure`` is called only strictly inside the bracket. Stops once ``lo`` is within
    ``tolerance`` under the target or the bracket is one grid step wide; returns the final bracket.
    """
    aim = math.log(target * (1 - tolerance / 2))
    bisect_next = False
    while hi[0] - lo[0] > 1 and lo[1] < target * (1 - tolerance):
        width = hi[0] - lo[0]
        if bisect_next or not (0 < lo[1] < hi[1]):
            grid = (lo[0] + hi[0]) // 2
        else:
            fraction = (aim - math.log(lo[1])) / (math.log(hi[1]) - math.log(lo[1]))
            grid = min(max(lo[0] + round(fraction * width), lo[0] + 1), hi[0] - 1)
        bpp = measure(grid)
        if bpp <= target:
            lo = (grid, bpp)
        else:
            hi = (grid, bpp)
        bisect_next = not bisect_next and hi[0] - lo[0] > width // 2
    return lo, hi


def bracket(points: Mapping[int, float], target: float) -> tuple[Point | None, Point | None]:
    """The tightest bracket that measured ``points`` (grid → bpp) give: ``lo`` the highest grid whose bpp
    is ≤ ``target``, ``hi`` the lowest grid above it whose bpp is over; None for a side nothing shows."""
    under = [grid for grid, bpp in points.items() if bpp <= target]
    lo = max(under) if under else None
    over = [grid for grid, bpp in points.items() if bpp > target and (lo is None or grid > lo)]
    hi = min(over) if over else None
    return (None if lo is None else (lo, points[lo])), (None if hi is None else (hi, points[hi]))


def local_slope(points: Mapping[int, float], grid: int, min_change: float = 0.01) -> float | None:
    """d log(bpp) / d grid near ``grid``: from the two measured points closest around it whose bpp
    differ by at least ``min_change`` (relative; nearer points would measure the estimates' noise)."""
    pairs = [((a, points[a]), (b, points[b])) for a in points for b in points
             if a < b and points[a] > 0 and points[b] > 0 and abs(math.log(points[b] / points[a])) >= min_change]
    if not pairs:
        return None
    (a, bpp_a), (b, bpp_b) = min(pairs, key=lambda pair: max(abs(pair[0][0] - grid), abs(pair[1][0] - grid)))
    return math.log(bpp_b / bpp_a) / (b - a)


def secant_grid(point: Point, slope: float, target: float) -> int:
    """The grid at which a log-linear curve through ``point`` with ``slope`` reaches ``target``."""
    grid, bpp = point
    return grid + math.floor((math.log(target) - math.log(bpp)) / slope)
