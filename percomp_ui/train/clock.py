"""Training time that leaves out the time the process spent stopped.

A background trainer is often paused with SIGSTOP (``kill -STOP``) while a benchmark needs the cores,
and wall-clock time across such a pause would charge hours of waiting to the step that was running.
After a SIGCONT the step it interrupted counts as the median of the recent steps instead; every other
step counts its own wall-clock time. (A pause between two steps is outside every step already.)
"""
from __future__ import annotations

import statistics
from collections import deque

from .signals import SignalFlag

RECENT_STEPS = 50


class StepClock:
    """Counts training seconds step by step: ``total += clock.count(seconds_the_step_took)``."""

    def __init__(self, recent: int = RECENT_STEPS) -> None:
        self._recent: deque[float] = deque(maxlen=recent)
        self._continued = SignalFlag("SIGCONT")

    def watch(self) -> StepClock:
        """Start noticing SIGCONT (main thread of a POSIX process only; elsewhere every step counts
        its wall-clock time). Undo with :meth:`close`."""
        self._continued.watch()
        return self

    def close(self) -> None:
        self._continued.close()

    def count(self, seconds: float) -> float:
        """The seconds to charge for a step that took ``seconds`` of wall-clock time."""
        if self._continued.raised:
            self._continued.raised = False
            return statistics.median(self._recent) if self._recent else 0.0
        self._recent.append(seconds)
        return seconds
