"""A flag a POSIX signal raises, for the training loop to read between steps.

Two uses (:mod:`.trainer`, :mod:`.clock`):

- SIGTERM — a polite stop. ``kill PID`` (what ``scripts/campaign.sh stop`` and ``finalize`` send) would
  otherwise lose every step since the last periodic save (up to ``save_every_s``); while watched it
  only raises the flag, and the loop finishes its step, saves and returns. Only a one-process run
  watches it: under torchrun every rank would have to agree on the step to stop at, so there SIGTERM
  keeps its default meaning (and the run resumes from the last save).
- SIGCONT — the trainer was paused (``kill -STOP``) and goes on: the step clock leaves the pause out.

A flag watches only in the main thread and only where the platform has the signal; elsewhere it
never rises.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class SignalFlag:
    """``flag = SignalFlag("SIGTERM").watch(); while … and not flag.raised: …; flag.close()``."""

    def __init__(self, name: str) -> None:
        self.signum: int | None = getattr(signal, name, None)
        self.raised = False
        self._previous: Any = None
        self._watching = False

    def watch(self, enabled: bool = True) -> SignalFlag:
        if enabled and self.signum is not None and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(self.signum, self._on_signal)
            self._watching = True
        return self

    def close(self) -> None:
        """Give the previous handler back."""
        if self._watching:
            signal.signal(self.signum, self._previous)
            self._watching = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.raised = True
