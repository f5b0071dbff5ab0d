"""Entropy decoding that a damaged or crafted stream cannot crash.

CompressAI's rANS decoder (C++) trusts its input: a stream whose header promises more symbols than
its strings hold (a forged size with a valid CRC, say) makes it read past its buffer and kill the
process with SIGSEGV. ``IsolatedEntropyCoder`` wraps an entropy model's coder: encoding is unchanged
(it never parses untrusted bytes), and decoding runs in a forked child that only executes the C++
decoder and sends the symbols back through a pipe. A crash, a non-zero exit, a wrong symbol count or
a time-out becomes a one-line ``StreamError``. Costs one ``fork`` per string (tens of ms for a
process holding a model); platforms without ``fork`` decode in-process.
"""
from __future__ import annotations

import os
import select
import signal
import time
from typing import Any, Sequence

import numpy as np

from ..errors import StreamError

DECODE_TIMEOUT_S = 120.0
_CHILD_FAILED = 3


class IsolatedEntropyCoder:
    """Drop-in for CompressAI's ``_EntropyCoder`` proxy (``encode_with_indexes``/``decode_with_indexes``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "ans")

    def encode_with_indexes(self, *args: Any, **kwargs: Any) -> bytes:
        return self.inner.encode_with_indexes(*args, **kwargs)

    def decode_with_indexes(self, string: bytes, indexes: Sequence[int], *tables: Any) -> list[int]:
        if not hasattr(os, "fork"):
            return self.inner.decode_with_indexes(string, indexes, *tables)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: decode, write int32 symbols, exit without running Python cleanup
            os.close(read_fd)
            try:
                values = np.asarray(self.inner.decode_with_indexes(string, indexes, *tables), dtype=np.int32)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(values.tobytes())
                os._exit(0)
            except BaseException:
                os._exit(_CHILD_FAILED)
        os.close(write_fd)
        try:
            payload = _read_all(read_fd, pid)
        finally:
            os.close(read_fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
            raise StreamError("entropy-coded data is corrupt (the decoder failed on it)")
        values = np.frombuffer(payload, dtype=np.int32)
        if values.size != len(indexes):
            raise StreamError("entropy-coded data is corrupt (wrong number of symbols)")
        return values.tolist()


def _read_all(fd: int, pid: int) -> bytes:
    chunks = []
    deadline = time.monotonic() + DECODE_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise StreamError(f"entropy decoding took longer than {DECODE_TIMEOUT_S:g} s: stream is corrupt")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def isolate(*entropy_models: Any) -> None:
    """Route the decoding of these CompressAI entropy models through a forked child."""
    for model in entropy_models:
        if not isinstance(model.entropy_coder, IsolatedEntropyCoder):
            model.entropy_coder = IsolatedEntropyCoder(model.entropy_coder)
