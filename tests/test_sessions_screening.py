"""Rater screening rules: traps, speed, flips; identical pairs reported as a side-bias check."""
from __future__ import annotations

from dataclasses import replace

from percomp_ui.sessions.schedule import COMPARISON, IDENTICAL, TRAINING, TRAP, TRAP_TRIAL
from percomp_ui.sessions.screening import ScreeningRules, failed_trap, screen, screen_rater
from percomp_ui.sessions.votelog import Vote

RULES = ScreeningRules(max_trap_failure_rate=0.25, min_median_response_s=1.0, min_median_flips=1.0)


def vote(trial: int, kind: str = COMPARISON, a: str = "jpeg", b: str = "webp", answer: str = "A",
         response_ms: int = 3000, flips: int = 3, rater: str = "ann") -> Vote:
    return Vote("s", rater, trial, kind, "img", "0,0,64,64", a, b, 0.3, 0.3, answer, response_ms, flips,
                "t0", "t1", kind == TRAINING, kind == TRAP_TRIAL, kind == IDENTICAL)


def careful_rater(rater: str = "ann") -> list[Vote]:
    return [vote(0, TRAINING, b=TRAP, answer="B", response_ms=200, flips=0, rater=rater),  # practice: ignored
            *(vote(i, rater=rater) for i in range(1, 9)),
            vote(9, TRAP_TRIAL, a=TRAP, answer="B", rater=rater), vote(10, TRAP_TRIAL, b=TRAP, answer="A", rater=rater),
            vote(11, IDENTICAL, b="jpeg", answer="A", rater=rater), vote(12, IDENTICAL, b="jpeg", answer="B", rater=rater)]


def test_a_careful_rater_is_kept() -> None:
    result = screen_rater("ann", careful_rater(), RULES)
    assert result.kept and result.failed == ()
    assert (result.trials, result.trap_trials, result.trap_failures) == (12, 2, 0)
    assert result.median_response_s == 3.0 and result.median_flips == 3
    assert result.identical_trials == 2 and result.identical_a_share == 0.5


def test_picking_the_trap_is_a_failure_but_not_sure_is_not() -> None:
    assert failed_trap(vote(1, TRAP_TRIAL, a=TRAP, answer="A"))
    assert failed_trap(vote(1, TRAP_TRIAL, b=TRAP, answer="B"))
    assert not failed_trap(vote(1, TRAP_TRIAL, b=TRAP, answer="A"))
    assert not failed_trap(vote(1, TRAP_TRIAL, a=TRAP, answer="not sure"))


def test_failed_traps_above_the_threshold_exclude() -> None:
    votes = careful_rater()
    votes[9] = replace(votes[9], answer="A")  # preferred the trap: 1 of 2 = 50 % > 25 %
    result = screen_rater("ann", votes, RULES)
    assert not result.kept and result.failed == ("failed traps (1/2)",)
    assert screen_rater("ann", votes, replace(RULES, max_trap_failure_rate=0.5)).kept  # exactly at the limit


def test_a_fast_clicker_is_excluded_and_the_training_trial_does_not_count() -> None:
    fast = [replace(v, response_ms=400) if not v.is_training else v for v in careful_rater()]
    assert screen_rater("ann", fast, RULES).failed == ("too fast (median 0.40 s)",)
    slow_training_only = careful_rater()
    assert screen_rater("ann", slow_training_only, RULES).kept  # its 200 ms training trial is ignored


def test_too_few_flips_exclude() -> None:
    lazy = [replace(v, flips=0) for v in careful_rater()]
    assert screen_rater("ann", lazy, RULES).failed == ("too few flips (median 0)",)
    assert screen_rater("ann", lazy, replace(RULES, min_median_flips=0)).kept


def test_several_rules_can_fail_together_and_raters_are_screened_separately() -> None:
    bad = [replace(v, flips=0, response_ms=100, answer="A") for v in careful_rater("bob")]
    results = screen(careful_rater("ann") + bad, RULES)
    assert [r.rater for r in results] == ["ann", "bob"]
    assert results[0].kept
    assert len(results[1].failed) == 3
    assert results[1].identical_a_share == 1.0  # always "A" on identical pairs: a side bias, reported


def test_rules_describe_their_thresholds() -> None:
    text = " ".join(RULES.describe())
    assert "25%" in text and "1 s" in text and "under 1" in text
