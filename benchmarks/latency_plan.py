"""The slider moves both latency benchmarks make (``app_latency.py`` through the app's HTTP API,
``workbench_latency.py`` in process), so their numbers time the same encodes."""
from __future__ import annotations

import statistics
from typing import Any

# targets inside every shipped ROI model's range on kodim23 (roi-vr 5cd46a82 tops out at 0.55 bpp without a ROI)
START_ALPHA, START_BPP = 1.0, 0.30
GOAL_S = {"cpu": 1.0, "gpu": 0.1}


def fresh_alpha(index: int) -> float:
    """A value never used before in the run: a repeated one would be a cache hit, not a re-encode."""
    return round(0.45 + 0.1 * index, 2)


def fresh_target(index: int) -> float:
    """Below START_BPP, where the α moves left the ROI slot: that target again would be a cache hit."""
    return round(START_BPP - 0.01 * (index + 1), 2)


def summary(times: list[float]) -> dict[str, Any]:
    """Median, 90th percentile and minimum of some timings (seconds), and the timings."""
    ordered = sorted(times)
    return {"median": statistics.median(times), "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "min": ordered[0], "all": times}
