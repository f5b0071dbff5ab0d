"""Atomic file output: a target is either its old content or the complete new one, never partial."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import InputError


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path``."""
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: no such folder")
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        # os.open honours the umask (mkstemp would leave the final file mode 0600).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(temp, flags, 0o666), "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise InputError(f"{target}: cannot write ({error.strerror or error})") from error
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
