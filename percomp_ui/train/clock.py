"""Training time that leaves out the time the process spent stopped.

A background trainer is often paused with SIGSTOP (``kill -STOP``) while a benchmark needs the cores,
and wall-clock time across such a pause would charge hours of waiting to the step that was running.
After a SIGCONT the step it interrupted counts as the median of the recent steps instead; every other
step counts its own wall-clock time. (A pause between two steps is outside every step already.)
"""
from __future__ import annotations

import signal
import statistics
import threading
from collections import deque
from types import FrameType
from typing import Any

RECENT_STEPS = 50


class StepClock:
    """Counts training seconds step by step: ``total += clock.count(seconds_the_step_took)``."""

    def __init__(self, recent: int = RECENT_STEPS) -> None:
        self._recent: deque[float] = deque(maxlen=recent)
        self._continued = False
        self._previous: Any = None
        self._watching = False

    def watch(self) -> StepClock:
        """Start noticing SIGCONT (main thread of a POSIX process only; elsewhere every step counts
        its wall-clock time). Undo with :meth:`close`."""
        if hasattr(signal, "SIGCONT") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGCONT, self._on_continue)
            self._watching = True
        return self

    def close(self) -> None:
        if self._watching:
            signal.signal(signal.SIGCONT, self._previous)
            self._watching = False

    def _on_continue(self, signum: int, frame: FrameType | None) -> None:
        self._continued = True

    def count(self, seconds: float) -> float:
        """The seconds to charge for a step that took ``seconds`` of wall-clock time."""
        if self._continued:
            self._continued = False
            return statistics.median(self._recent) if self._recent else 0.0
        self._recent.append(seconds)
        return seconds
