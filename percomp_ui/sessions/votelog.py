"""The vote log: one SQLite file per session, one row per vote, committed before the rater moves on.

The database runs in WAL mode with ``synchronous=FULL``, so a vote whose insert returned is on disk
even if the process is killed the next instant. Every call opens its own short-lived connection, so
concurrent raters (Gradio worker threads) never share one; ``UNIQUE(session, rater, trial)`` makes a
double submit (two clicks, two tabs, a retried request) a no-op instead of a second vote. The design
and the stimulus manifest are stored in the same file, so ``percomp sessions report DB`` needs
nothing else.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError

ANSWERS = ("A", "B", "not sure")
RATER_PATTERN = re.compile(r"[\w.@+-]{1,64}")
BUSY_TIMEOUT_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY,
    spec TEXT NOT NULL,          -- the design as JSON
    manifest TEXT NOT NULL,      -- the stimuli as JSON (files, crops, real bpp)
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS raters (
    session TEXT NOT NULL,
    rater TEXT NOT NULL,
    display TEXT NOT NULL,       -- what the rater said about the screen and viewing conditions
    joined_at TEXT NOT NULL,
    PRIMARY KEY (session, rater)
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    rater TEXT NOT NULL,
    trial INTEGER NOT NULL,      -- position in the rater's plan (0 = training trial when there is one)
    kind TEXT NOT NULL,          -- training, comparison, trap, identical
    image TEXT NOT NULL,
    crop TEXT NOT NULL,          -- x,y,width,height in the image
    condition_a TEXT NOT NULL,   -- condition key shown as A ('trap' for the obviously worse image)
    condition_b TEXT NOT NULL,
    bpp_a REAL NOT NULL,         -- real bits per pixel of the file behind A (whole image)
    bpp_b REAL NOT NULL,
    answer TEXT NOT NULL CHECK (answer IN ('A', 'B', 'not sure')),
    response_ms INTEGER NOT NULL,
    flips INTEGER NOT NULL,      -- switches between A and B before answering
    shown_at TEXT NOT NULL,      -- UTC, ISO 8601
    answered_at TEXT NOT NULL,
    is_training INTEGER NOT NULL,
    is_trap INTEGER NOT NULL,
    is_identical INTEGER NOT NULL,
    UNIQUE (session, rater, trial)
);
"""


@dataclass(frozen=True)
class Vote:
    """One committed answer, as stored."""

    session: str
    rater: str
    trial: int
    kind: str
    image: str
    crop: str
    condition_a: str
    condition_b: str
    bpp_a: float
    bpp_b: float
    answer: str
    response_ms: int
    flips: int
    shown_at: str
    answered_at: str
    is_training: bool
    is_trap: bool
    is_identical: bool


VOTE_COLUMNS = tuple(f.name for f in fields(Vote))


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_rater(rater: str) -> str:
    """A rater id as stored: stripped, 1-64 letters, digits or . _ @ + -."""
    rater = (rater or "").strip()
    if not RATER_PATTERN.fullmatch(rater):
        raise InputError("rater id must be 1-64 letters, digits or . _ @ + - (no spaces)")
    return rater


class VoteLog:
    """The SQLite file of one session."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as error:
            raise InputError(f"{self.path}: cannot open the vote log ({error})") from None
        try:
            connection.execute("PRAGMA synchronous=FULL")
            yield connection
        except sqlite3.DatabaseError as error:
            raise InputError(f"{self.path}: vote log error ({error})") from None
        finally:
            connection.close()

    def initialise(self, session: str, spec: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Create the tables (WAL mode) and store or replace the session's design and stimuli."""
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            with db:
                db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?)",
                           (session, json.dumps(spec), json.dumps(manifest), utc_now()))

    def session(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The stored session name, design and manifest."""
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such vote log")
        with self._connect() as db:
            rows = db.execute("SELECT session, spec, manifest FROM sessions").fetchall()
        if len(rows) != 1:
            raise InputError(f"{self.path}: expected one session in the vote log, found {len(rows)}")
        name, spec, manifest = rows[0]
        return name, json.loads(spec), json.loads(manifest)

    def add_rater(self, session: str, rater: str, display: str) -> None:
        """Register a rater (kept as first given when the rater comes back)."""
        with self._connect() as db, db:
            db.execute("INSERT OR IGNORE INTO raters VALUES (?, ?, ?, ?)", (session, rater, display.strip(), utc_now()))

    def raters(self, session: str) -> dict[str, str]:
        """Rater id → display information."""
        with self._connect() as db:
            return dict(db.execute("SELECT rater, display FROM raters WHERE session = ? ORDER BY joined_at",
                                   (session,)).fetchall())

    def record(self, vote: Vote) -> bool:
        """Commit one vote; False (and nothing written) when this trial already has one."""
        if vote.answer not in ANSWERS:
            raise InputError(f"answer must be one of {', '.join(ANSWERS)}, got {vote.answer!r}")
        placeholders = ", ".join("?" * len(VOTE_COLUMNS))
        with self._connect() as db, db:
            cursor = db.execute(f"INSERT INTO votes ({', '.join(VOTE_COLUMNS)}) VALUES ({placeholders}) "
                                "ON CONFLICT (session, rater, trial) DO NOTHING", astuple(vote))
            return cursor.rowcount == 1

    def answered(self, session: str, rater: str) -> set[int]:
        """The trial indexes this rater has answered."""
        with self._connect() as db:
            rows = db.execute("SELECT trial FROM votes WHERE session = ? AND rater = ?", (session, rater))
            return {trial for (trial,) in rows}

    def votes(self, session: str) -> list[Vote]:
        """Every vote of the session, in the order committed."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(VOTE_COLUMNS)} FROM votes WHERE session = ? ORDER BY id",
                              (session,)).fetchall()
        booleans = {"is_training", "is_trap", "is_identical"}
        return [Vote(*(bool(v) if name in booleans else v for name, v in zip(VOTE_COLUMNS, row))) for row in rows]
