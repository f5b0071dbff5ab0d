"""Scores of conditions from pairwise votes: Elo (CLIC style), Bradley–Terry, bootstrap intervals.

Pure functions over :class:`Comparison` lists; "not sure" is a draw (score 0.5) everywhere.

* **Elo** as in the CLIC human evaluations: the votes are replayed in many random orders
  (:data:`ELO_RUNS`), each run starting every condition at :data:`ELO_START` and updating with
  K = :data:`ELO_K` (expected score 1 / (1 + 10^((R_b − R_a)/400))); the reported rating is the
  mean over runs, which removes the dependence of plain Elo on vote order.
* **Bradley–Terry**: P(i preferred to j) = σ(θ_i − θ_j). θ is the maximum of the log-likelihood in
  which a draw counts as half a win for each side, plus a weak ridge term (:data:`BT_RIDGE`, a
  N(0, 1/ridge) prior) that keeps θ finite when a condition wins every vote. θ is in natural-log
  odds, mean 0 (the ridge makes the optimum centred). Fitted by Newton's method (the problem is
  strictly concave).
* **Bootstrap**: 95 % percentile intervals of θ from refits on resampled votes, resampling single
  votes (``by="vote"``) or whole raters (``by="rater"``, which respects that one rater's votes are
  correlated; it needs several raters to mean anything).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ELO_START = 1500.0
ELO_K = 32.0
ELO_RUNS = 1000
BT_RIDGE = 0.01
BOOTSTRAP_RESAMPLES = 1000
RESAMPLE_UNITS = ("vote", "rater")
_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Comparison:
    """One vote between two different conditions: ``score`` 1 = ``a`` preferred, 0 = ``b``, 0.5 = not sure."""

    a: str
    b: str
    score: float
    rater: str = ""


def _indexed(comparisons: Sequence[Comparison], conditions: Sequence[str]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = {c: i for i, c in enumerate(conditions)}
    ia = np.array([index[c.a] for c in comparisons], dtype=np.intp)
    ib = np.array([index[c.b] for c in comparisons], dtype=np.intp)
    score = np.array([c.score for c in comparisons], dtype=np.float64)
    return ia, ib, score


def elo_ratings(comparisons: Sequence[Comparison], conditions: Sequence[str], runs: int = ELO_RUNS,
                k: float = ELO_K, seed: int = 0) -> dict[str, float]:
    """Mean Elo rating of each condition over ``runs`` random orderings of the votes."""
    ia, ib, score = _indexed(comparisons, conditions)
    rng = np.random.default_rng(seed)
    ratings = np.full((runs, len(conditions)), ELO_START)
    orders = np.argsort(rng.random((runs, len(comparisons))), axis=1)
    rows = np.arange(runs)
    for step in range(len(comparisons)):
        picked = orders[:, step]
        a, b = ia[picked], ib[picked]
        expected = 1.0 / (1.0 + 10.0 ** ((ratings[rows, b] - ratings[rows, a]) / 400.0))
        change = k * (score[picked] - expected)
        ratings[rows, a] += change
        ratings[rows, b] -= change
    return dict(zip(conditions, ratings.mean(axis=0).tolist()))


def win_matrix(ia: np.ndarray, ib: np.ndarray, score: np.ndarray, size: int,
               weights: np.ndarray | None = None) -> np.ndarray:
    """W[i, j] = (weighted) wins of i over j, a draw counting half to each side."""
    weights = np.ones_like(score) if weights is None else weights
    wins = np.zeros((size, size))
    np.add.at(wins, (ia, ib), weights * score)
    np.add.at(wins, (ib, ia), weights * (1.0 - score))
    return wins


def fit_bradley_terry(wins: np.ndarray, ridge: float = BT_RIDGE) -> np.ndarray:
    """θ maximising Σ W_ij log σ(θ_i − θ_j) − ridge/2 ‖θ‖² (Newton's method)."""
    games = wins + wins.T
    theta = np.zeros(len(wins))
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = σ(θ_i − θ_j)
        gradient = (wins - games * p).sum(axis=1) - ridge * theta
        curvature = games * p * (1.0 - p)
        hessian = curvature - np.diag(curvature.sum(axis=1) + ridge)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < _NEWTON_TOLERANCE:
            break
    return theta


def bradley_terry(comparisons: Sequence[Comparison], conditions: Sequence[str],
                  ridge: float = BT_RIDGE) -> dict[str, float]:
    """Bradley–Terry θ of each condition (log-odds, mean 0)."""
    ia, ib, score = _indexed(comparisons, conditions)
    return dict(zip(conditions, fit_bradley_terry(win_matrix(ia, ib, score, len(conditions)), ridge).tolist()))


def bootstrap_intervals(comparisons: Sequence[Comparison], conditions: Sequence[str], by: str = "vote",
                        resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95, seed: int = 0,
                        ridge: float = BT_RIDGE) -> dict[str, tuple[float, float]]:
    """Percentile interval of each condition's Bradley–Terry θ over ``resamples`` bootstrap refits."""
    if by not in RESAMPLE_UNITS:
        raise ValueError(f"resample by one of {RESAMPLE_UNITS}, not {by!r}")
    ia, ib, score = _indexed(comparisons, conditions)
    rng = np.random.default_rng(seed)
    if by == "vote":
        units = np.arange(len(comparisons))
    else:
        raters = sorted({c.rater for c in comparisons})
        units = np.array([raters.index(c.rater) for c in comparisons], dtype=np.intp)
    count = int(units.max()) + 1 if len(units) else 0
    thetas = np.empty((resamples, len(conditions)))
    for r in range(resamples):
        drawn = np.bincount(rng.integers(0, count, count), minlength=count) if count else np.zeros(0)
        thetas[r] = fit_bradley_terry(win_matrix(ia, ib, score, len(conditions), drawn[units].astype(float)), ridge)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(thetas, [tail, 100 - tail], axis=0)
    return {c: (float(lo), float(hi)) for c, lo, hi in zip(conditions, low, high)}
