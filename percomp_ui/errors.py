"""Error types shared by every client of the codec core (CLI, app, evaluation, training).

Each error carries a one-line, user-facing message. ``exit_code`` follows the CLI contract:
2 for bad input or usage (the user can fix it), 1 for internal faults.
"""
from __future__ import annotations


class PercompError(Exception):
    """Base class: an internal fault unless a subclass says otherwise."""

    exit_code: int = 1


class InputError(PercompError):
    """The user's input (image, option, file path) cannot be used as given."""

    exit_code = 2


class StreamError(InputError):
    """A ``.pcmp`` stream is damaged, truncated, or made by another format version or other weights."""
