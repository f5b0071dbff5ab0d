"""Entropy decoding that a damaged or crafted stream cannot crash.

CompressAI's rANS decoder (C++) trusts its input: a stream whose header promises more symbols than
its strings hold (a forged size with a valid CRC, say) makes it read past its buffer and kill the
process with SIGSEGV. Here every decode runs in a separate worker process forked once per process
(lazily, at the first decode): the worker only runs the C++ decoder on requests that arrive over a
pipe and answers with the symbols. A crash, a wrong symbol count or a time-out becomes a one-line
``StreamError``, and the next decode forks a fresh worker. Encoding stays in-process (it never parses
untrusted bytes). Platforms without ``fork`` decode in-process.

.. code-block:: none

    parent: EntropyModel.decompress ─► IsolatedEntropyCoder.decode_with_indexes
                 │ pickle(string, indexes, cdfs, lengths, offsets)        ▲ int32 symbols
                 ▼                                                        │
    worker:  RansDecoder.decode_with_indexes (C++) ───────────────────────┘
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import time
from typing import Any, Sequence

import numpy as np

from ..errors import StreamError

DECODE_TIMEOUT_S = 120.0
_HEADER = struct.Struct("<Q")
_OK, _FAILED = b"\x00", b"\x01"


class _Worker:
    """One forked decoder process and the two pipes to it."""

    def __init__(self) -> None:
        request_r, request_w = os.pipe()
        response_r, response_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(request_w)
            os.close(response_r)
            try:
                _serve(request_r, response_w)
            finally:
                os._exit(0)
        os.close(request_r)
        os.close(response_w)
        self.pid, self.request, self.response = pid, request_w, response_r

    def call(self, payload: bytes) -> bytes:
        _write_frame(self.request, payload)
        return _read_frame(self.response, time.monotonic() + DECODE_TIMEOUT_S)

    def close(self) -> None:
        for fd in (self.request, self.response):
            os.close(fd)
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):  # already gone and reaped
            pass


def _serve(request_fd: int, response_fd: int) -> None:
    """Worker loop: decode until the parent closes its end of the request pipe."""
    from compressai.ans import RansDecoder

    decoder = RansDecoder()
    while True:
        try:
            string, indexes, *tables = pickle.loads(_read_frame(request_fd, None))
        except EOFError:
            return
        try:
            symbols = np.asarray(decoder.decode_with_indexes(string, indexes, *tables), dtype=np.int32)
            _write_frame(response_fd, _OK + symbols.tobytes())
        except Exception:  # noqa: BLE001 - any decoder failure is reported as a corrupt stream
            _write_frame(response_fd, _FAILED)


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None and not select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
            raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None) -> bytes:
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    return _read_exactly(fd, size, deadline)


class IsolatedEntropyCoder:
    """Drop-in for CompressAI's ``_EntropyCoder`` proxy (``encode_with_indexes``/``decode_with_indexes``)."""

    _worker: _Worker | None = None  # one per process, shared by every entropy model
    _worker_pid: int | None = None  # the process that forked it (a forked child must not reuse it)

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "ans")

    def encode_with_indexes(self, *args: Any, **kwargs: Any) -> bytes:
        return self.inner.encode_with_indexes(*args, **kwargs)

    def decode_with_indexes(self, string: bytes, indexes: Sequence[int], *tables: Any) -> list[int]:
        if not hasattr(os, "fork"):
            return self.inner.decode_with_indexes(string, indexes, *tables)
        worker = self._get_worker()
        try:
            answer = worker.call(pickle.dumps((string, list(indexes), *tables), protocol=pickle.HIGHEST_PROTOCOL))
        except (EOFError, TimeoutError, BrokenPipeError):
            self._discard_worker()
            raise StreamError("entropy-coded data is corrupt (the decoder failed on it)") from None
        if answer[:1] != _OK:
            raise StreamError("entropy-coded data is corrupt (the decoder rejected it)")
        symbols = np.frombuffer(answer, dtype=np.int32, offset=1)
        if symbols.size != len(indexes):
            raise StreamError("entropy-coded data is corrupt (wrong number of symbols)")
        return symbols.tolist()

    @classmethod
    def _get_worker(cls) -> _Worker:
        if cls._worker is None or cls._worker_pid != os.getpid():
            cls._worker, cls._worker_pid = _Worker(), os.getpid()
        return cls._worker

    @classmethod
    def _discard_worker(cls) -> None:
        if cls._worker is not None and cls._worker_pid == os.getpid():
            cls._worker.close()
        cls._worker = None


def start_worker() -> None:
    """Fork the decoder worker now rather than at the first decode. A server calls this first thing,
    while it runs one thread: a fork from a busy multi-threaded process copies whatever locks other
    threads hold at that instant (the import lock, an allocator's), and such a child can hang on its
    first request until the decode times out."""
    if hasattr(os, "fork"):
        IsolatedEntropyCoder._get_worker()


def isolate(*entropy_models: Any) -> None:
    """Route the decoding of these CompressAI entropy models through the decoder worker."""
    for model in entropy_models:
        if not isinstance(model.entropy_coder, IsolatedEntropyCoder):
            model.entropy_coder = IsolatedEntropyCoder(model.entropy_coder)
