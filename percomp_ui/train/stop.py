"""A polite stop: SIGTERM ends a training run after the step in progress, with its state saved.

``kill PID`` (what ``scripts/campaign.sh stop`` and ``finalize`` send) would otherwise lose every step
since the last periodic save (up to ``save_every_s``). While :class:`StopRequest` watches, SIGTERM
only sets :attr:`StopRequest.requested`; the training loop checks it between steps, saves and returns.
Only a one-process run in its main thread watches: under torchrun every rank would have to agree on
the step to stop at, so there SIGTERM keeps its default meaning (and the run resumes from the last save).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopRequest:
    """``stop = StopRequest().watch(); while … and not stop.requested: …; stop.close()``."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._watching = False

    def watch(self, enabled: bool = True) -> StopRequest:
        if enabled and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_terminate)
            self._watching = True
        return self

    def close(self) -> None:
        if self._watching:
            signal.signal(signal.SIGTERM, self._previous)
            self._watching = False

    def _on_terminate(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
