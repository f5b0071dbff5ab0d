"""One session's files for the browser: PNG panels, codec streams and the numbers as JSON.

Every file is named by its content digest inside the session's own folder, so a panel that did not
change is not encoded again (PNG encoding a 768×512 image costs 50 ms here even at zlib level 1), two
sessions never share a file, and :meth:`FileStore.close` removes them all. Only the newest
``MAX_FILES`` are kept, so moving a slider for an hour does not fill the disk.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write
from ..images import encode_png

DIGEST_BYTES = 8
MAX_FILES = 400  # a full update writes ~25 files (panels, reconstructions, streams, JSON)
PNG_LEVEL = 1  # served to a browser on the same machine or LAN: speed matters more than 10 % of size
ENCODED_PNGS = 16  # PNG encodings kept for pictures shown under several names (gallery, compare, download)


def digest(*parts: bytes | np.ndarray | str) -> str:
    """A short hex digest of arrays (shape, dtype and bytes), byte strings and text."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            h.update(f"{array.shape}|{array.dtype}|".encode())
            h.update(array.tobytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


def safe_stem(text: str) -> str:
    """``text`` reduced to ASCII characters that are safe in a file name."""
    stem = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in text).strip("-.")
    return "-".join(filter(None, stem.split("-")))[:80] or "file"


class FileStore:
    """Content-addressed files in a private temporary folder."""

    def __init__(self, parent: Path | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="percomp-app-", dir=parent))
        self._known: OrderedDict[str, Path] = OrderedDict()
        self._encoded: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()  # a tab's update and its R-D sweep may write at once

    def png(self, stem: str, rgb: np.ndarray) -> Path:
        """``rgb`` as ``STEM-DIGEST.png``; the same pixels are PNG-encoded once, whatever their names."""
        content = digest(rgb)
        key = digest(content, stem)
        known = self._known_path(key)
        if known is not None:
            return known
        with self._lock:
            data = self._encoded.get(content)
        if data is None:
            data = encode_png(rgb, PNG_LEVEL)
            with self._lock:
                self._encoded[content] = data
                while len(self._encoded) > ENCODED_PNGS:
                    self._encoded.popitem(last=False)
        return self._write(key, f"{safe_stem(stem)}-{key[:8]}.png", data)

    def data(self, stem: str, suffix: str, data: bytes) -> Path:
        """Raw file bytes (a ``.pcmp`` stream, a JPEG …) as ``STEM-DIGEST.SUFFIX``."""
        key = digest(data, stem, suffix)
        return self._known_path(key) or self._write(key, f"{safe_stem(stem)}-{key[:8]}{suffix}", data)

    def json(self, stem: str, payload: dict[str, Any]) -> Path:
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
        return self.data(stem, ".json", text.encode())

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        with self._lock:
            self._known.clear()
            self._encoded.clear()

    def _known_path(self, key: str) -> Path | None:
        with self._lock:
            path = self._known.get(key)
            if path is not None:
                self._known.move_to_end(key)
            return path

    def _write(self, key: str, name: str, data: bytes) -> Path:
        path = self.folder / name
        atomic_write(path, data)
        with self._lock:
            self._known[key] = path
            while len(self._known) > MAX_FILES:
                _, oldest = self._known.popitem(last=False)
                oldest.unlink(missing_ok=True)
        return path
