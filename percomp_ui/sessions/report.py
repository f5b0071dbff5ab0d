"""A session's results: screening, per-condition scores, the text table, a plot, CSV and JSON.

Scores use the regular comparisons of the raters who pass screening; training, trap and identical
trials never enter them. ``percomp sessions report DB`` and the app's Results tab both print
:func:`format_report` of :func:`build_report`, so the two always agree.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..conditions import Condition
from .design import spec_from_dict
from .schedule import COMPARISON
from .scoring import (BOOTSTRAP_RESAMPLES, BT_RIDGE, ELO_K, ELO_RUNS, ELO_START, Comparison,
                      bootstrap_intervals, bradley_terry, elo_ratings)
from .screening import RaterScreen, ScreeningRules, screen
from .stimuli import manifest_from_dict
from .votelog import VOTE_COLUMNS, Vote, VoteLog

ANSWER_SCORE = {"A": 1.0, "B": 0.0, "not sure": 0.5}


@dataclass(frozen=True)
class ConditionScore:
    condition: str  # key
    label: str
    mean_bpp: float  # over the session's images (real file sizes)
    votes: int
    wins: int
    ties: int
    losses: int
    elo: float
    bt: float  # Bradley–Terry θ (log-odds, mean 0)
    bt_low: float
    bt_high: float


@dataclass(frozen=True)
class SessionReport:
    session: str
    rules: ScreeningRules
    raters: list[RaterScreen]
    scores: list[ConditionScore]  # best first (by Bradley–Terry θ)
    settings: dict[str, Any]
    votes: list[Vote]

    @property
    def scored_votes(self) -> int:
        return sum(s.votes for s in self.scores) // 2


def comparisons(votes: list[Vote], raters: set[str]) -> list[Comparison]:
    """The scored votes: regular comparisons of the given raters."""
    return [Comparison(v.condition_a, v.condition_b, ANSWER_SCORE[v.answer], v.rater)
            for v in votes if v.kind == COMPARISON and v.rater in raters]


def build_report(db: Path, rules: ScreeningRules | None = None, by: str = "vote",
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> SessionReport:
    """Screen the raters of the session in ``db`` (default rules unless given) and score its conditions."""
    rules = rules or ScreeningRules()
    log = VoteLog(db)
    name, spec_data, manifest_data = log.session()
    spec = spec_from_dict(spec_data, db.parent)
    manifest = manifest_from_dict(manifest_data)
    votes = log.votes(name)
    raters = screen(votes, rules)
    scored = comparisons(votes, {r.rater for r in raters if r.kept})
    conditions = list(spec.conditions)
    elo = elo_ratings(scored, conditions, seed=seed)
    bt = bradley_terry(scored, conditions)
    intervals = bootstrap_intervals(scored, conditions, by=by, resamples=resamples, seed=seed)
    scores = []
    for key in conditions:
        mine = [c for c in scored if key in (c.a, c.b)]
        won = sum(1 for c in mine if (c.a == key and c.score == 1) or (c.b == key and c.score == 0))
        ties = sum(1 for c in mine if c.score == 0.5)
        bpps = [image.stimuli[key].bpp for image in manifest.values()]
        scores.append(ConditionScore(key, Condition.parse(key).label, sum(bpps) / len(bpps), len(mine), won, ties,
                                     len(mine) - won - ties, elo[key], bt[key], *intervals[key]))
    scores.sort(key=lambda s: -s.bt)
    settings = {"elo": {"k": ELO_K, "runs": ELO_RUNS, "start": ELO_START, "not_sure": "draw"},
                "bradley_terry": {"ties": "half a win each", "ridge": BT_RIDGE, "units": "log-odds, mean 0"},
                "bootstrap": {"resample": by, "resamples": resamples, "interval": "95 % percentile"},
                "target_bpp": {i: spec.image(i).target_bpp for i in spec.image_ids}}
    return SessionReport(name, rules, raters, scores, settings, votes)


def format_report(report: SessionReport) -> str:
    """The report as plain text: screening rules and raters, then the score table."""
    kept = sum(r.kept for r in report.raters)
    lines = [(f"session {report.session}: {len(report.votes)} votes from {len(report.raters)} raters "
              f"({kept} kept), {report.scored_votes} scored comparisons"), "",
             "screening (a rater is excluded when any rule fails; training trials ignored):"]
    lines += [f"  - {rule}" for rule in report.rules.describe()]
    lines += ["", _table([("rater", "trials", "traps failed", "median s", "median flips", "identical: A share",
                           "status")] + [
        (r.rater, str(r.trials), f"{r.trap_failures}/{r.trap_trials}", _number(r.median_response_s, ".2f"),
         _number(r.median_flips, "g"), _number(r.identical_a_share, ".2f"), "kept" if r.kept else
         "excluded: " + "; ".join(r.failed)) for r in report.raters])]
    boot = report.settings["bootstrap"]
    lines += ["", (f"scores (Elo: mean of {ELO_RUNS} shuffled runs, K={ELO_K:g}, not sure = draw; Bradley–Terry θ: "
                   f"log-odds, ties half a win; 95 % bootstrap over {boot['resample']}s, {boot['resamples']} resamples):"),
              _table([SCORE_HEADERS, *score_rows(report)])]
    return "\n".join(lines) + "\n"


SCORE_HEADERS = ("condition", "mean bpp", "votes", "won", "tied", "lost", "Elo", "BT θ", "95 % interval")


def score_rows(report: SessionReport) -> list[tuple[str, ...]]:
    """The score table as text cells (scores of a condition without votes shown as "-")."""
    rows = []
    for s in report.scores:
        scored = (f"{s.elo:.0f}", f"{s.bt:+.2f}", f"[{s.bt_low:+.2f}, {s.bt_high:+.2f}]") if s.votes else ("-",) * 3
        rows.append((s.label, f"{s.mean_bpp:.3f}", str(s.votes), str(s.wins), str(s.ties), str(s.losses), *scored))
    return rows


def report_json(report: SessionReport) -> dict[str, Any]:
    """Everything: rules, settings, raters, scores and the raw votes."""
    return {"session": report.session, "rules": report.rules.describe(), "thresholds": asdict(report.rules),
            "settings": report.settings,
            "raters": [{**asdict(r), "kept": r.kept} for r in report.raters],
            "scores": [asdict(s) for s in report.scores], "votes": [asdict(v) for v in report.votes]}


def votes_csv(votes: list[Vote]) -> str:
    """The raw votes, one row each, every column of the vote log."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(VOTE_COLUMNS)
    writer.writerows([getattr(v, c) for c in VOTE_COLUMNS] for v in votes)
    return buffer.getvalue()


def scores_csv(report: SessionReport) -> str:
    """The score table, one row per condition."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(report.scores[0])) if report.scores else [],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(s) for s in report.scores)
    return buffer.getvalue()


def scores_figure(report: SessionReport):  # -> matplotlib.figure.Figure
    """Bradley–Terry θ with 95 % intervals (left) and Elo (right), best condition on top."""
    from matplotlib.figure import Figure

    scores = report.scores[::-1]
    labels = [s.label for s in scores]
    figure = Figure(figsize=(9, 0.5 * len(scores) + 1.6), layout="constrained")
    bt_axes, elo_axes = figure.subplots(1, 2, sharey=True)
    positions = range(len(scores))
    bt_axes.errorbar([s.bt for s in scores], positions, fmt="o", capsize=4,
                     xerr=[[s.bt - s.bt_low for s in scores], [s.bt_high - s.bt for s in scores]])
    bt_axes.axvline(0, color="0.7", lw=1)
    bt_axes.set_yticks(list(positions), labels)
    bt_axes.set_xlabel("Bradley–Terry θ (log-odds), 95 % bootstrap")
    elo_axes.barh(list(positions), [s.elo - ELO_START for s in scores], left=ELO_START, color="tab:orange")
    elo_axes.set_xlabel(f"Elo (mean of {ELO_RUNS} shuffled runs)")
    figure.suptitle(f"{report.session}: {report.scored_votes} scored comparisons, "
                    f"{sum(r.kept for r in report.raters)} raters kept")
    return figure


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
