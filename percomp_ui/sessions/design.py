"""A session's design: which images, which conditions, at which rate, how many trials of each kind.

The same design is a YAML or JSON file (``examples/session.yaml``) so that a session can be repeated
exactly. Image paths in a file are relative to the file's folder. Every field is checked on load and
a bad one is refused with a one-line :class:`~percomp_ui.errors.InputError`; unknown keys are refused
too, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..conditions import Condition
from ..errors import InputError
from ..fileio import atomic_write

NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_CROP = 32
DEFAULT_CROP = 256
SPEC_KEYS = frozenset({"name", "images", "conditions", "target_bpp", "crop", "trials", "traps", "identical",
                       "training", "seed"})
IMAGE_KEYS = frozenset({"path", "bpp", "crop_at"})


@dataclass(frozen=True)
class SessionImage:
    """One test image and the rate every condition is matched to on it (bits per pixel of the whole image)."""

    path: Path
    target_bpp: float
    crop_at: tuple[int, int] | None = None  # top-left corner of the crop; None = the most detailed window


@dataclass(frozen=True)
class SessionSpec:
    """Everything that defines a session; the trial plan of each rater follows from it and the rater id."""

    name: str
    images: tuple[SessionImage, ...]
    conditions: tuple[str, ...]  # Condition keys, e.g. "jpeg", "base-vr", "base-vr+roi=auto@0.5"
    crop: int | None = DEFAULT_CROP  # side of the square crop shown to raters; None = the full image
    trials: int | None = None  # regular comparisons per rater; None = every pair on every image once
    traps: int = 2  # trials against an obviously worse image, per rater
    identical: int = 2  # trials with the same condition on both sides, per rater
    training: bool = True  # one unscored practice trial first
    seed: int = 0
    image_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_ids", _unique_ids([image.path.stem for image in self.images]))

    def image(self, image_id: str) -> SessionImage:
        return self.images[self.image_ids.index(image_id)]

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The design as plain data; image paths relative to ``relative_to`` where possible."""
        images = []
        for image in self.images:
            entry: dict[str, Any] = {"path": _path_text(image.path, relative_to), "bpp": image.target_bpp}
            if image.crop_at is not None:
                entry["crop_at"] = list(image.crop_at)
            images.append(entry)
        return {"name": self.name, "conditions": list(self.conditions), "images": images, "crop": self.crop,
                "trials": self.trials, "traps": self.traps, "identical": self.identical,
                "training": self.training, "seed": self.seed}


def spec_from_dict(data: object, base: Path) -> SessionSpec:
    """Check a design given as plain data (relative image paths resolved against ``base``)."""
    if not isinstance(data, dict):
        raise InputError("a session file must be a mapping with name, images and conditions")
    unknown = sorted(set(map(str, data)) - SPEC_KEYS)
    if unknown:
        raise InputError(f"unknown session field {unknown[0]!r} (fields: {', '.join(sorted(SPEC_KEYS))})")
    for key in ("name", "images", "conditions"):
        if key not in data:
            raise InputError(f"the session needs a {key!r} field")
    name = _name(data["name"])
    conditions = _conditions(data["conditions"])
    _check_name_is_blind(name, conditions)
    default_bpp = _optional(data.get("target_bpp"), _bpp, "target_bpp")
    images = _images(data["images"], base, default_bpp)
    crop = _optional(data.get("crop", DEFAULT_CROP), lambda v, f: _whole(v, f, MIN_CROP), "crop")
    return SessionSpec(
        name=name, images=images, conditions=conditions, crop=crop,
        trials=_optional(data.get("trials"), lambda v, f: _whole(v, f, 1), "trials"),
        traps=_whole(data.get("traps", 2), "traps", 0),
        identical=_whole(data.get("identical", 2), "identical", 0),
        training=_flag(data.get("training", True), "training"),
        seed=_whole(data.get("seed", 0), "seed", 0),
    )


def parse_spec(text: str, base: Path) -> SessionSpec:
    """A design from YAML (or JSON, which is YAML too) text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"the session file is not valid YAML{at}: {getattr(error, 'problem', error)}") from None
    return spec_from_dict(data, base)


def load_spec(path: Path) -> SessionSpec:
    """Read a ``.yaml``/``.yml``/``.json`` session file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    return parse_spec(text, path.resolve().parent)


def spec_text(spec: SessionSpec, relative_to: Path | None = None, as_json: bool = False) -> str:
    """The design as YAML (or JSON) text."""
    data = spec.to_dict(relative_to)
    if as_json:
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_spec(spec: SessionSpec, path: Path) -> None:
    """Write the design next to its images (paths relative to the file); JSON when ``path`` ends in .json."""
    text = spec_text(spec, path.resolve().parent, as_json=path.suffix.lower() == ".json")
    atomic_write(path, text.encode("utf-8"))


# -- field checks ---------------------------------------------------------------------------------
def _name(value: object) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InputError(f"session name {value!r} must be 1-64 characters from A-Z a-z 0-9 . _ -")
    return value


def _conditions(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("'conditions' must be a list of condition names, e.g. [jpeg, webp, base-vr]")
    keys = [Condition.parse(text).key for text in value]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise InputError(f"condition {duplicates[0]!r} is listed twice")
    if len(keys) < 2:
        raise InputError(f"a session compares at least 2 conditions, got {len(keys)}")
    return tuple(keys)


def _check_name_is_blind(name: str, conditions: tuple[str, ...]) -> None:
    """Raters see the session name, so it must not give a condition away."""
    for key in conditions:
        codec = Condition.parse(key).codec
        if codec.lower() in name.lower():
            raise InputError(f"session name {name!r} names condition {codec!r}; raters see the name, "
                             "so choose one that does not")


def _images(value: object, base: Path, default_bpp: float | None) -> tuple[SessionImage, ...]:
    if not isinstance(value, list) or not value:
        raise InputError("'images' must be a non-empty list of image paths")
    images = []
    for number, entry in enumerate(value, 1):
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
            raise InputError(f"image {number}: give a path, or a mapping with 'path' (and 'bpp', 'crop_at')")
        unknown = sorted(set(map(str, entry)) - IMAGE_KEYS)
        if unknown:
            raise InputError(f"image {number}: unknown field {unknown[0]!r} (fields: path, bpp, crop_at)")
        bpp = _optional(entry.get("bpp"), _bpp, f"image {number} bpp")
        if bpp is None:
            bpp = default_bpp
        if bpp is None:
            raise InputError(f"image {number}: no target bpp (give 'bpp' or a session-wide 'target_bpp')")
        path = Path(os.path.expanduser(entry["path"]))
        images.append(SessionImage(Path(os.path.normpath(base / path)), bpp,
                                   _optional(entry.get("crop_at"), _corner, f"image {number} crop_at")))
    return tuple(images)


def _optional(value: object, check: Any, what: str) -> Any:
    return None if value is None else check(value, what)


def _bpp(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be a positive number of bits per pixel, got {value!r}")
    return float(value)


def _whole(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{what} must be a whole number ≥ {minimum}, got {value!r}")
    return value


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{what} must be true or false, got {value!r}")
    return value


def _corner(value: object, what: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(f"{what} must be [x, y], the crop's top-left corner in pixels")
    x, y = (_whole(v, what, 0) for v in value)
    return x, y


def _unique_ids(stems: list[str]) -> tuple[str, ...]:
    ids: list[str] = []
    for stem in stems:
        candidate, n = stem, 2
        while candidate in ids:
            candidate, n = f"{stem}-{n}", n + 1
        ids.append(candidate)
    return tuple(ids)


def _path_text(path: Path, relative_to: Path | None) -> str:
    if relative_to is not None:
        try:
            return Path(os.path.relpath(path, relative_to)).as_posix()
        except ValueError:  # another drive on Windows
            pass
    return str(path)
