"""The trainer's clock: a step interrupted by SIGSTOP/SIGCONT is charged the recent median, not the
pause."""
from __future__ import annotations

import os
import signal

import pytest

from percomp_ui.train.clock import StepClock

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGCONT"), reason="POSIX signals")


def test_a_continued_step_counts_the_recent_median() -> None:
    clock = StepClock().watch()
    try:
        counted = [clock.count(s) for s in (1.0, 3.0, 2.0)]
        os.kill(os.getpid(), signal.SIGCONT)  # as after `kill -STOP` … `kill -CONT`
        counted.append(clock.count(3600.0))
        counted.append(clock.count(2.5))  # the next step counts its own time again
    finally:
        clock.close()
    assert counted == [1.0, 3.0, 2.0, 2.0, 2.5]


def test_close_gives_back_the_previous_handler() -> None:
    before = signal.getsignal(signal.SIGCONT)
    clock = StepClock().watch()
    assert signal.getsignal(signal.SIGCONT) != before
    clock.close()
    assert signal.getsignal(signal.SIGCONT) == before


def test_without_a_signal_every_step_counts_its_wall_time() -> None:
    clock = StepClock()  # not watching: a SIGCONT changes nothing
    assert [clock.count(s) for s in (0.5, 4.0)] == [0.5, 4.0]
