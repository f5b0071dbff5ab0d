"""Finding the largest rate whose file fits a bpp target, on a grid of rates.

The rate of a variable-rate model is continuous, coded in the stream on an integer grid
(``container.RATE_INTERP_SCALE`` steps per gain level). File size grows smoothly and almost
log-linearly along the grid, so :func:`search_rate` interpolates log(bpp) inside a bracket
(regula falsi), aiming just under the target, with a plain bisection step after any step that failed
to halve the bracket: it never does worse than bisection. It is pure: the caller says what a grid
point measures (a real encode, or a cheap estimate of one).
"""
from __future__ import annotations

import math
from collections.abc import Callable

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
