"""Elo, Bradley–Terry and bootstrap intervals on synthetic votes drawn from a known ranking."""
from __future__ import annotations

import numpy as np
import pytest

from percomp_ui.sessions.scoring import (ELO_START, Comparison, bootstrap_intervals, bradley_terry, elo_ratings,
                                         fit_bradley_terry, win_matrix)

TRUE_THETA = {"best": 1.2, "good": 0.5, "fair": 0.0, "poor": -0.6, "worst": -1.1}
CONDITIONS = list(TRUE_THETA)


def synthetic_votes(count: int, seed: int, tie_band: float = 0.1, raters: int = 4) -> list[Comparison]:
    """Votes from the Bradley–Terry model with TRUE_THETA; answers near 50/50 become "not sure" sometimes."""
    rng = np.random.default_rng(seed)
    votes = []
    for n in range(count):
        a, b = rng.choice(len(CONDITIONS), 2, replace=False)
        p = 1 / (1 + np.exp(TRUE_THETA[CONDITIONS[b]] - TRUE_THETA[CONDITIONS[a]]))
        u = rng.random()
        score = 0.5 if abs(u - p) < tie_band / 2 else float(u < p)
        votes.append(Comparison(CONDITIONS[a], CONDITIONS[b], score, f"r{n % raters}"))
    return votes


def ranking(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda c: -scores[c])


def test_bradley_terry_recovers_the_ranking_and_the_scale() -> None:
    theta = bradley_terry(synthetic_votes(3000, seed=1), CONDITIONS)
    assert ranking(theta) == CONDITIONS
    assert abs(sum(theta.values())) < 1e-6  # centred
    truth = np.array(list(TRUE_THETA.values())) - np.mean(list(TRUE_THETA.values()))
    # Ties as half wins shrink θ a little towards 0; the shape must still match closely.
    assert np.max(np.abs(np.array([theta[c] for c in CONDITIONS]) - truth)) < 0.25


def test_elo_recovers_the_ranking() -> None:
    ratings = elo_ratings(synthetic_votes(1500, seed=2), CONDITIONS, runs=200)
    assert ranking(ratings) == CONDITIONS
    assert np.mean(list(ratings.values())) == pytest.approx(ELO_START)  # Elo is zero-sum


def test_elo_averages_out_the_order_of_votes() -> None:
    votes = synthetic_votes(300, seed=3)
    forward = elo_ratings(votes, CONDITIONS, runs=400, seed=0)
    backward = elo_ratings(votes[::-1], CONDITIONS, runs=400, seed=1)
    assert max(abs(forward[c] - backward[c]) for c in CONDITIONS) < 15


def test_not_sure_everywhere_is_a_draw() -> None:
    votes = [Comparison(a, b, 0.5) for a in CONDITIONS for b in CONDITIONS if a != b]
    assert all(abs(v) < 1e-9 for v in bradley_terry(votes, CONDITIONS).values())
    assert all(abs(v - ELO_START) < 1e-6 for v in elo_ratings(votes, CONDITIONS, runs=20).values())


def test_a_condition_that_wins_every_vote_has_a_finite_score() -> None:
    votes = [Comparison("best", "worst", 1.0)] * 30 + [Comparison("good", "worst", 0.5)] * 4
    theta = bradley_terry(votes, ["best", "good", "worst"])
    assert all(np.isfinite(list(theta.values())))
    assert theta["best"] > theta["good"] > theta["worst"]


def test_newton_fit_is_the_maximum_likelihood() -> None:
    votes = synthetic_votes(400, seed=4)
    index = {c: i for i, c in enumerate(CONDITIONS)}
    wins = win_matrix(np.array([index[v.a] for v in votes]), np.array([index[v.b] for v in votes]),
                      np.array([v.score for v in votes]), len(CONDITIONS))
    theta = fit_bradley_terry(wins, ridge=0.01)

    def objective(t: np.ndarray) -> float:
        p = 1 / (1 + np.exp(t[None, :] - t[:, None]))
        return float((wins * np.log(p)).sum() - 0.005 * (t ** 2).sum())

    rng = np.random.default_rng(0)
    assert all(objective(theta) >= objective(theta + rng.normal(0, 0.02, theta.shape)) for _ in range(50))


@pytest.mark.parametrize("by", ["vote", "rater"])
def test_bootstrap_intervals_shrink_with_more_votes(by: str) -> None:
    def widths(count: int) -> np.ndarray:
        votes = synthetic_votes(count, seed=5, raters=20)
        intervals = bootstrap_intervals(votes, CONDITIONS, by=by, resamples=300, seed=1)
        return np.array([intervals[c][1] - intervals[c][0] for c in CONDITIONS])

    few, many = widths(100), widths(1600)
    assert np.all(many < few)
    assert many.mean() < 0.45 * few.mean()  # ~1/sqrt(16) = 0.25 expected


def test_bootstrap_interval_contains_the_estimate_and_the_truth() -> None:
    votes = synthetic_votes(1200, seed=6)
    theta = bradley_terry(votes, CONDITIONS)
    intervals = bootstrap_intervals(votes, CONDITIONS, resamples=300)
    truth = {c: t - np.mean(list(TRUE_THETA.values())) for c, t in TRUE_THETA.items()}
    for c in CONDITIONS:
        low, high = intervals[c]
        assert low < theta[c] < high
        assert low - 0.1 < truth[c] < high + 0.1


def test_bootstrap_refuses_an_unknown_unit() -> None:
    with pytest.raises(ValueError):
        bootstrap_intervals([], CONDITIONS, by="image")
