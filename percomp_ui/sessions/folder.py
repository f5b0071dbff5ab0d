"""A session on disk and the rater's way through it.

``SESSIONS_DIR/NAME/`` holds ``session.yaml`` (the design, image paths relative to the folder),
``images/`` (copies of the source images), ``stimuli/`` (the PNG crops, opaque names),
``manifest.json`` and ``votes.sqlite`` (the vote log, which also stores design and manifest and is
what :func:`open_session` reads). A folder is self-contained: it can be copied to another machine
and rated or reported there.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError
from ..fileio import atomic_write
from ..images import load_image
from .design import SessionSpec, save_spec, spec_from_dict
from .schedule import IDENTICAL, TRAINING, TRAP_TRIAL, Trial, plan_trials
from .stimuli import STIMULI_FOLDER, Manifest, Progress, manifest_from_dict, manifest_to_dict, render_stimuli
from .votelog import Vote, VoteLog

SPEC_FILE, MANIFEST_FILE, VOTES_FILE, IMAGES_FOLDER = "session.yaml", "manifest.json", "votes.sqlite", "images"


@dataclass(frozen=True)
class Session:
    folder: Path
    spec: SessionSpec
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def log(self) -> VoteLog:
        return VoteLog(self.folder / VOTES_FILE)

    def plan(self, rater: str) -> list[Trial]:
        return plan_trials(self.spec, rater)

    def next_trial(self, rater: str) -> Trial | None:
        """The rater's first unanswered trial; None when they have answered all of them."""
        answered = self.log.answered(self.name, rater)
        return next((trial for trial in self.plan(rater) if trial.index not in answered), None)

    def stimulus_files(self, trial: Trial) -> tuple[Path, Path, Path]:
        """Reference, A and B crops of a trial."""
        image = self.manifest[trial.image]
        return (self.folder / image.reference, self.folder / image.stimuli[trial.a].file,
                self.folder / image.stimuli[trial.b].file)

    def vote(self, rater: str, trial: Trial, answer: str, flips: int, shown_at: datetime) -> bool:
        """Commit the rater's answer to ``trial``; False when it was answered already."""
        answered_at = datetime.now(timezone.utc)
        image = self.manifest[trial.image]
        return self.log.record(Vote(
            session=self.name, rater=rater, trial=trial.index, kind=trial.kind, image=trial.image,
            crop=image.crop_text, condition_a=trial.a, condition_b=trial.b,
            bpp_a=image.stimuli[trial.a].bpp, bpp_b=image.stimuli[trial.b].bpp, answer=answer,
            response_ms=max(0, round((answered_at - shown_at).total_seconds() * 1000)), flips=max(0, int(flips)),
            shown_at=shown_at.isoformat(timespec="milliseconds"),
            answered_at=answered_at.isoformat(timespec="milliseconds"),
            is_training=trial.kind == TRAINING, is_trap=trial.kind == TRAP_TRIAL, is_identical=trial.kind == IDENTICAL,
        ))


def create_session(spec: SessionSpec, sessions_dir: Path, zoo: Path | None = None,
                   progress: Progress | None = None) -> Session:
    """Copy the images, render the stimuli and start the vote log of a new session.

    An existing session of the same name is replaced only while nobody has voted in it.
    """
    folder = sessions_dir / spec.name
    log = VoteLog(folder / VOTES_FILE)
    if log.path.is_file() and log.votes(spec.name):
        raise InputError(f"session {spec.name!r} already has votes in {folder}; give the new session another name")
    for image in spec.images:
        load_image(image.path)  # every image readable before anything is written
    # Read first: a design saved from this very folder names images inside it.
    sources = [image.path.read_bytes() for image in spec.images]
    for stale in (folder / STIMULI_FOLDER, folder / IMAGES_FOLDER):
        shutil.rmtree(stale, ignore_errors=True)
    (folder / IMAGES_FOLDER).mkdir(parents=True)
    copies = []
    for image_id, image, data in zip(spec.image_ids, spec.images, sources):
        copy = folder / IMAGES_FOLDER / f"{image_id}{image.path.suffix.lower()}"
        atomic_write(copy, data)
        copies.append(replace(image, path=copy))
    spec = replace(spec, images=tuple(copies))
    manifest = render_stimuli(spec, folder, zoo, progress)
    save_spec(spec, folder / SPEC_FILE)
    atomic_write(folder / MANIFEST_FILE, (json.dumps(manifest_to_dict(manifest), indent=2) + "\n").encode())
    log.initialise(spec.name, spec.to_dict(folder), manifest_to_dict(manifest))
    return Session(folder, spec, manifest)


def open_session(folder: Path) -> Session:
    """A created session, from its vote log."""
    _, spec, manifest = VoteLog(folder / VOTES_FILE).session()
    return Session(folder, spec_from_dict(spec, folder), manifest_from_dict(manifest))


def list_sessions(sessions_dir: Path) -> list[str]:
    """Names of the created sessions in ``sessions_dir``."""
    if not sessions_dir.is_dir():
        return []
    return sorted(p.name for p in sessions_dir.iterdir() if (p / VOTES_FILE).is_file())
