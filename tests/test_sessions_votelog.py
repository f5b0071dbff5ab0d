"""The vote log: WAL + synchronous FULL, one committed row per vote, double submits ignored, raters kept
apart under concurrency, and votes surviving a SIGKILL of the writing process."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from percomp_ui.errors import InputError
from percomp_ui.sessions.votelog import Vote, VoteLog, check_rater

SPEC = {"name": "s1", "conditions": ["jpeg", "webp"]}
MANIFEST = {"img": {"crop": [0, 0, 8, 8]}}


def vote(trial: int, rater: str = "ann", answer: str = "A") -> Vote:
    return Vote("s1", rater, trial, "comparison", "img", "0,0,8,8", "jpeg", "webp", 0.31, 0.29, answer, 1500, 2,
                "2025-01-01T00:00:00.000+00:00", "2025-01-01T00:00:01.500+00:00", False, False, False)


@pytest.fixture
def log(tmp_path: Path) -> VoteLog:
    log = VoteLog(tmp_path / "votes.sqlite")
    log.initialise("s1", SPEC, MANIFEST)
    return log


def test_the_log_is_in_wal_mode_and_stores_the_session(log: VoteLog) -> None:
    with sqlite3.connect(log.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.session() == ("s1", SPEC, MANIFEST)


def test_a_vote_round_trips_and_a_double_submit_is_ignored(log: VoteLog) -> None:
    assert log.record(vote(3))
    assert not log.record(vote(3, answer="B"))  # same trial again: nothing written
    assert log.votes("s1") == [vote(3)]
    assert log.answered("s1", "ann") == {3}
    assert log.answered("s1", "bob") == set()


def test_bad_answers_and_rater_ids_are_refused(log: VoteLog) -> None:
    with pytest.raises(InputError, match="answer must be"):
        log.record(vote(1, answer="C"))
    for bad in ("", "   ", "a b", "x" * 65, "a/b"):
        with pytest.raises(InputError, match="rater id"):
            check_rater(bad)
    assert check_rater("  rater.7@lab ") == "rater.7@lab"


def test_raters_keep_their_first_display_info(log: VoteLog) -> None:
    log.add_rater("s1", "ann", "27in sRGB, 60 cm ")
    log.add_rater("s1", "ann", "changed")
    assert log.raters("s1") == {"ann": "27in sRGB, 60 cm"}


def test_concurrent_raters_do_not_mix(log: VoteLog) -> None:
    def rate(rater: str) -> None:
        for trial in range(40):
            assert log.record(vote(trial, rater, "A" if rater == "ann" else "B"))
            log.record(vote(trial, rater, "not sure"))  # a racing double submit

    threads = [threading.Thread(target=rate, args=(r,)) for r in ("ann", "bob", "cy")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    votes = log.votes("s1")
    assert len(votes) == 120
    for rater, answer in (("ann", "A"), ("bob", "B"), ("cy", "B")):
        mine = [v for v in votes if v.rater == rater]
        assert sorted(v.trial for v in mine) == list(range(40))
        assert {v.answer for v in mine} == {answer}


def test_committed_votes_survive_sigkill(log: VoteLog) -> None:
    """A child commits votes and kills itself with SIGKILL mid-way; every committed vote is there."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_sessions_votelog import vote
        from percomp_ui.sessions.votelog import VoteLog
        log = VoteLog({str(log.path)!r})
        for trial in range(25):
            log.record(vote(trial, "kim"))
            print(trial, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    child = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).parent.parent)
    assert child.returncode == -signal.SIGKILL, child.stderr
    printed = [int(line) for line in child.stdout.split()]
    assert printed == list(range(25))
    assert sorted(VoteLog(log.path).answered("s1", "kim")) == printed


def test_a_file_that_is_not_a_vote_log_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(InputError, match="vote log"):
        VoteLog(junk).session()
    with pytest.raises(InputError, match="no such vote log"):
        VoteLog(tmp_path / "missing.sqlite").session()
