"""``percomp sessions create | report | serve``: subjective sessions from the command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli import float_option
from ..errors import InputError

DEFAULT_SESSIONS_DIR = Path("sessions")


_fraction = float_option(lambda v: 0 <= v <= 1, "a fraction between 0 and 1")
_non_negative = float_option(lambda v: 0 <= v < float("inf"), "a number ≥ 0")


def _resamples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 10:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 10, got {text!r}")
    return value


def add_sessions_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from .scoring import BOOTSTRAP_RESAMPLES, RESAMPLE_UNITS
    from .screening import ScreeningRules

    parser = sub.add_parser("sessions", help="blind pairwise subjective evaluation sessions", parents=[common])
    commands = parser.add_subparsers(dest="sessions_command", metavar="{create,report,serve}", required=True,
                                     parser_class=type(parser))

    p = commands.add_parser("create", help="render a session's stimuli and start its vote log", parents=[common])
    p.add_argument("spec", type=Path, help="session design, YAML or JSON (see examples/session.yaml)")
    p.add_argument("--sessions", type=Path, default=DEFAULT_SESSIONS_DIR,
                   help=f"folder of sessions (default ./{DEFAULT_SESSIONS_DIR})")
    p.set_defaults(run=cmd_create)

    rules = ScreeningRules()
    p = commands.add_parser("report", help="screening and scores of a session's vote log", parents=[common])
    p.add_argument("db", type=Path, help="the session's votes.sqlite")
    p.add_argument("--json", type=Path, help="write rules, raters, scores and raw votes as JSON")
    p.add_argument("--csv", type=Path, help="write the raw votes as CSV")
    p.add_argument("--scores-csv", type=Path, help="write the score table as CSV")
    p.add_argument("--by", choices=RESAMPLE_UNITS, default="vote", help="bootstrap unit (default vote)")
    p.add_argument("--resamples", type=_resamples, default=BOOTSTRAP_RESAMPLES,
                   help=f"bootstrap resamples (default {BOOTSTRAP_RESAMPLES})")
    p.add_argument("--max-trap-failures", type=_fraction, default=rules.max_trap_failure_rate,
                   help=f"exclude raters failing more than this share of traps (default {rules.max_trap_failure_rate:g})")
    p.add_argument("--min-response-s", type=_non_negative, default=rules.min_median_response_s,
                   help=f"exclude raters whose median response is faster (default {rules.min_median_response_s:g} s)")
    p.add_argument("--min-flips", type=_non_negative, default=rules.min_median_flips,
                   help=f"exclude raters whose median A/B switches per trial is lower (default {rules.min_median_flips:g})")
    p.set_defaults(run=cmd_report)

    p = commands.add_parser("serve", help="the sessions app (organise, rate, results) in a browser", parents=[common])
    p.add_argument("sessions", type=Path, nargs="?", default=DEFAULT_SESSIONS_DIR,
                   help=f"folder of sessions (default ./{DEFAULT_SESSIONS_DIR})")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7861)
    p.add_argument("--rater-only", action="store_true",
                   help="only the Rate tab: the page to give raters (no condition names anywhere in it)")
    p.set_defaults(run=cmd_serve)


def cmd_create(args: argparse.Namespace) -> int:
    from .design import load_spec
    from .folder import create_session
    from .schedule import plan_length

    spec = load_spec(args.spec)

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", file=sys.stderr)

    session = create_session(spec, args.sessions, args.zoo, progress)
    print(f"session {session.name}: {len(spec.images)} images × {len(spec.conditions)} conditions, "
          f"{plan_length(spec)} trials per rater; vote log {session.log.path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..fileio import atomic_write
    from .report import build_report, format_report, report_json, scores_csv, votes_csv
    from .screening import ScreeningRules

    if not args.db.is_file():
        raise InputError(f"{args.db}: no such vote log")
    rules = ScreeningRules(args.max_trap_failures, args.min_response_s, args.min_flips)
    report = build_report(args.db, rules, by=args.by, resamples=args.resamples)
    print(format_report(report), end="")
    outputs = [(args.json, lambda: json.dumps(report_json(report), indent=2) + "\n"),
               (args.csv, lambda: votes_csv(report.votes)), (args.scores_csv, lambda: scores_csv(report))]
    for path, text in outputs:
        if path is not None:
            atomic_write(path, text().encode("utf-8"))
            print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..app.sessions_tab import build_sessions_app

    args.sessions.mkdir(parents=True, exist_ok=True)
    app = build_sessions_app(args.sessions, zoo=args.zoo, rater_only=args.rater_only)
    app.queue(default_concurrency_limit=8).launch(server_name=args.host, server_port=args.port, show_api=False)
    return 0
