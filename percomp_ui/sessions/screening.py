"""Rater screening: who is left out of the scores, by rules that are printed with every report.

A rater is excluded when any rule fails, over their answered trials except the training trial:

* **traps**: the share of trap trials in which they preferred the obviously worse image is above
  ``max_trap_failure_rate`` ("not sure" on a trap is not counted as a failure);
* **too fast**: their median response time is below ``min_median_response_s``;
* **too few flips**: their median number of A/B switches per trial is below ``min_median_flips``
  (A and B share one viewport, so a rater who never switches never compared them).

Identical pairs are a bias check, not a rule: the report gives each rater's share of "A" answers on
them (about 0.5, or "not sure", is unbiased).
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .schedule import TRAP
from .votelog import Vote


@dataclass(frozen=True)
class ScreeningRules:
    max_trap_failure_rate: float = 0.25
    min_median_response_s: float = 1.0
    min_median_flips: float = 1.0

    def describe(self) -> list[str]:
        """The rules as sentences, for reports."""
        return [
            (f"failed traps: preferred the obviously worse image in more than "
             f"{self.max_trap_failure_rate:.0%} of trap trials"),
            f"too fast: median response time under {self.min_median_response_s:g} s",
            f"too few flips: median A/B switches per trial under {self.min_median_flips:g}",
        ]


@dataclass(frozen=True)
class RaterScreen:
    """One rater's screening numbers and the rules they failed (empty = kept)."""

    rater: str
    trials: int
    trap_trials: int
    trap_failures: int
    median_response_s: float | None
    median_flips: float | None
    identical_trials: int
    identical_a_share: float | None  # share of "A" among A/B answers on identical pairs
    failed: tuple[str, ...]

    @property
    def kept(self) -> bool:
        return not self.failed


def failed_trap(vote: Vote) -> bool:
    """Whether the rater preferred the trap image in a trap trial."""
    return (vote.answer == "A" and vote.condition_a == TRAP) or (vote.answer == "B" and vote.condition_b == TRAP)


def screen_rater(rater: str, votes: Sequence[Vote], rules: ScreeningRules) -> RaterScreen:
    """Screen one rater on their votes (the training trial is ignored)."""
    answered = [v for v in votes if not v.is_training]
    traps = [v for v in answered if v.is_trap]
    failures = sum(map(failed_trap, traps))
    identical = [v.answer for v in answered if v.is_identical]
    sided = [answer for answer in identical if answer != "not sure"]
    response = statistics.median(v.response_ms / 1000 for v in answered) if answered else None
    flips = statistics.median(v.flips for v in answered) if answered else None
    failed = []
    if traps and failures / len(traps) > rules.max_trap_failure_rate:
        failed.append(f"failed traps ({failures}/{len(traps)})")
    if response is not None and response < rules.min_median_response_s:
        failed.append(f"too fast (median {response:.2f} s)")
    if flips is not None and flips < rules.min_median_flips:
        failed.append(f"too few flips (median {flips:g})")
    return RaterScreen(rater, len(answered), len(traps), failures, response, flips, len(identical),
                       sided.count("A") / len(sided) if sided else None, tuple(failed))


def screen(votes: Sequence[Vote], rules: ScreeningRules) -> list[RaterScreen]:
    """Every rater of the votes, in order of first vote."""
    by_rater: dict[str, list[Vote]] = {}
    for vote in votes:
        by_rater.setdefault(vote.rater, []).append(vote)
    return [screen_rater(rater, rater_votes, rules) for rater, rater_votes in by_rater.items()]
