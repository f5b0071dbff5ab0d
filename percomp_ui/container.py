"""The ``.pcmp`` container: one compressed image, format version 1.

A ``.pcmp`` stream carries everything the decoder needs besides the model weights: which model
and weights made it (name plus a short hash), the image size, the rate point, an optional
region-of-interest (ROI) section, and the entropy-coded byte strings. All integers are big-endian.

    size       field             rule
    ---------  ----------------  ------------------------------------------------------------
    4          magic             b"PCMP"
    1          format_version    u8, 1 (larger: made by a newer percomp; 0: invalid)
    1          flags             u8, bit0 = ROI section present; every other bit must be 0
    1          model_name_len    u8, 1..64
    n          model_name        ASCII [A-Za-z0-9._-]+
    8          weights_hash      opaque short hash of the checkpoint weights
    4          height            u32, 1..2**20
    4          width             u32, 1..2**20
    1          rate_level        u8, gain level index s, 0..254
    2          rate_interp       u16, interpolation l = rate_interp / 65535 toward level s+1
    4          roi_len           u32, 0 when flags bit0 is clear, > 0 when it is set
    roi_len    ROI section       present when roi_len > 0; must be consumed exactly:
      4          roi_alpha         f32, finite, > 0
      2          roi_grid_h        u16, >= 1
      2          roi_grid_w        u16, >= 1
      4          roi_map_len       u32
      m          roi_map           coded ROI map, roi_map_len bytes
    1          n_strings         u8, 1..16
    4 + k      string i          u32 length k (may be 0), then k bytes; repeated n_strings times
    4          crc32             u32, zlib.crc32 of every byte before it
               (end)             nothing may follow the checksum

``unpack`` checks, in order: magic, format version, every field with its range as it is read,
the checksum, then trailing bytes. Every problem with stream bytes raises ``StreamError``;
``pack`` raises ``InputError`` for a ``Stream`` it cannot store. The ROI alpha is stored as
float32, so ``unpack(pack(s)) == s`` holds when ``s.roi.alpha`` is a float32 value.
"""
from __future__ import annotations

import math
import numbers
import string
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from percomp_ui.errors import InputError, StreamError

MAGIC = b"PCMP"
FORMAT_VERSION = 1
WEIGHTS_HASH_BYTES = 8
RATE_INTERP_SCALE = 65535
FLAG_ROI = 0x01
MAX_MODEL_NAME_LEN = 64
MAX_SIDE = 1 << 20
MAX_RATE_LEVEL = 254
MAX_GRID_SIDE = 0xFFFF
MAX_STRINGS = 16

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_F32 = struct.Struct(">f")
_U32_MAX = 0xFFFFFFFF
_ROI_FIXED_BYTES = _F32.size + 2 * _U16.size + _U32.size
_MODEL_NAME_CHARS = frozenset((string.ascii_letters + string.digits + "._-").encode("ascii"))


@dataclass(frozen=True)
class RoiSection:
    """Region-of-interest side information: strength ``alpha`` and a coded importance map."""

    alpha: float
    grid_shape: tuple[int, int]
    coded_map: bytes


@dataclass(frozen=True)
class Stream:
    """The decoded contents of one ``.pcmp`` stream."""

    model_name: str
    weights_hash: bytes
    height: int
    width: int
    rate_level: int
    rate_interp: int
    strings: tuple[bytes, ...]
    roi: RoiSection | None = None

    @property
    def rate(self) -> float:
        """The continuous rate point: level plus the interpolation toward the next level."""
        return self.rate_level + self.rate_interp / RATE_INTERP_SCALE


# ----------------------------------------------------------------------------- shared checks


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _check_int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{what} must be an integer (got {type(value).__name__})")
    if not low <= value <= high:
        raise InputError(f"{what} {value} is out of range {low}..{high}")
    return int(value)


def _check_model_name_chars(raw: bytes, error: type[InputError]) -> None:
    for position, byte in enumerate(raw):
        if byte not in _MODEL_NAME_CHARS:
            raise error(
                f"model name has a character outside A-Z a-z 0-9 . _ - at position {position}"
            )


def _check_alpha(alpha: float, error: type[InputError]) -> None:
    if not (math.isfinite(alpha) and alpha > 0):
        raise error(f"roi alpha must be a finite float32 > 0 (got {alpha!r})")


# ----------------------------------------------------------------------------- packing


def pack(stream: Stream) -> bytes:
    """Serialise ``stream``; raises ``InputError`` for any field the format cannot hold."""
    if not isinstance(stream, Stream):
        raise InputError(f"can only pack a Stream (got {type(stream).__name__})")
    body = b"".join(
        (_pack_header(stream), _pack_roi(stream.roi), _pack_strings(stream.strings))
    )
    return body + _U32.pack(zlib.crc32(body))


def _pack_header(stream: Stream) -> bytes:
    name = _encode_model_name(stream.model_name)
    weights_hash = stream.weights_hash
    if not isinstance(weights_hash, bytes) or len(weights_hash) != WEIGHTS_HASH_BYTES:
        raise InputError(f"weights hash must be {WEIGHTS_HASH_BYTES} bytes")
    flags = 0 if stream.roi is None else FLAG_ROI
    return b"".join(
        (
            MAGIC,
            _U8.pack(FORMAT_VERSION),
            _U8.pack(flags),
            _U8.pack(len(name)),
            name,
            weights_hash,
            _U32.pack(_check_int(stream.height, 1, MAX_SIDE, "height")),
            _U32.pack(_check_int(stream.width, 1, MAX_SIDE, "width")),
            _U8.pack(_check_int(stream.rate_level, 0, MAX_RATE_LEVEL, "rate level")),
            _U16.pack(_check_int(stream.rate_interp, 0, RATE_INTERP_SCALE, "rate interp")),
        )
    )


def _encode_model_name(name: object) -> bytes:
    if not isinstance(name, str):
        raise InputError(f"model name must be a string (got {type(name).__name__})")
    raw = name.encode("ascii", errors="replace")  # each non-ASCII character becomes b"?": rejected
    _check_int(len(raw), 1, MAX_MODEL_NAME_LEN, "model name length")
    _check_model_name_chars(raw, InputError)
    return raw


def _check_bytes(value: object, what: str, max_len: int) -> bytes:
    if not isinstance(value, bytes):
        raise InputError(f"{what} must be bytes (got {type(value).__name__})")
    if len(value) > max_len:
        raise InputError(f"{what} is too long ({len(value)} bytes, at most {max_len})")
    return value


def _pack_roi(roi: RoiSection | None) -> bytes:
    if roi is None:
        return _U32.pack(0)
    if not isinstance(roi, RoiSection):
        raise InputError(f"roi must be a RoiSection or None (got {type(roi).__name__})")
    coded_map = _check_bytes(roi.coded_map, "roi coded map", _U32_MAX - _ROI_FIXED_BYTES)
    section = b"".join(
        (
            _encode_alpha(roi.alpha),
            _encode_grid(roi.grid_shape),
            _U32.pack(len(coded_map)),
            coded_map,
        )
    )
    return _U32.pack(len(section)) + section


def _encode_alpha(alpha: object) -> bytes:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise InputError(f"roi alpha must be a number (got {type(alpha).__name__})")
    try:
        raw = _F32.pack(float(alpha))
    except OverflowError:
        raise InputError("roi alpha is too large for float32") from None
    _check_alpha(_F32.unpack(raw)[0], InputError)
    return raw


def _encode_grid(grid_shape: object) -> bytes:
    if not isinstance(grid_shape, tuple) or len(grid_shape) != 2:
        raise InputError("roi grid shape must be a (height, width) tuple")
    grid_h = _check_int(grid_shape[0], 1, MAX_GRID_SIDE, "roi grid height")
    grid_w = _check_int(grid_shape[1], 1, MAX_GRID_SIDE, "roi grid width")
    return _U16.pack(grid_h) + _U16.pack(grid_w)


def _pack_strings(strings: object) -> bytes:
    if not isinstance(strings, tuple):
        raise InputError(f"strings must be a tuple of bytes (got {type(strings).__name__})")
    count = _check_int(len(strings), 1, MAX_STRINGS, "string count")
    parts = [_U8.pack(count)]
    for index, item in enumerate(strings, 1):
        data = _check_bytes(item, f"string {index}", _U32_MAX)
        parts += (_U32.pack(len(data)), data)
    return b"".join(parts)


# ----------------------------------------------------------------------------- unpacking


class _Reader:
    """Reads fields in order; running out of data raises ``StreamError`` naming the field."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, size: int, what: str) -> bytes:
        if size > self.left:
            raise StreamError(
                f"stream truncated inside {what} (needs {_plural(size, 'byte')}, {self.left} left)"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def number(self, layout: struct.Struct, what: str) -> Any:
        return layout.unpack(self.take(layout.size, what))[0]

    def field(self, layout: struct.Struct, name: str) -> Any:
        return self.number(layout, f"field '{name}'")

    def bounded(self, layout: struct.Struct, name: str, low: int, high: int) -> int:
        value = self.field(layout, name)
        if not low <= value <= high:
            raise StreamError(f"field '{name}' value {value} is out of range {low}..{high}")
        return value


def unpack(data: bytes) -> Stream:
    """Parse and validate a whole ``.pcmp`` stream (any bytes-like); ``StreamError`` if damaged."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"unpack needs bytes, not {type(data).__name__}")
    reader = _Reader(bytes(data))
    _read_preamble(reader)
    has_roi = _read_flags(reader)
    model_name = _read_model_name(reader)
    weights_hash = reader.take(WEIGHTS_HASH_BYTES, "field 'weights_hash'")
    height = reader.bounded(_U32, "height", 1, MAX_SIDE)
    width = reader.bounded(_U32, "width", 1, MAX_SIDE)
    rate_level = reader.bounded(_U8, "rate_level", 0, MAX_RATE_LEVEL)
    rate_interp = reader.field(_U16, "rate_interp")
    roi = _read_roi(reader, has_roi)
    strings = _read_strings(reader)
    _read_checksum(reader)
    return Stream(model_name, weights_hash, height, width, rate_level, rate_interp, strings, roi)


def _read_preamble(reader: _Reader) -> None:
    if not reader.data:
        raise StreamError("empty stream")
    if not MAGIC.startswith(reader.data[: len(MAGIC)]):
        raise StreamError("not a .pcmp stream (bad magic)")
    reader.take(len(MAGIC), "field 'magic'")
    version = reader.field(_U8, "format_version")
    if version > FORMAT_VERSION:
        raise StreamError(
            f"made by a newer percomp (format version {version}; this build reads {FORMAT_VERSION})"
        )
    if version == 0:
        raise StreamError("invalid format version 0")


def _read_flags(reader: _Reader) -> bool:
    flags = reader.field(_U8, "flags")
    unknown = flags & ~FLAG_ROI
    if unknown:
        raise StreamError(
            f"unknown flag bits 0x{unknown:02x} set (this build knows 0x{FLAG_ROI:02x})"
        )
    return bool(flags & FLAG_ROI)


def _read_model_name(reader: _Reader) -> str:
    length = reader.bounded(_U8, "model_name_len", 1, MAX_MODEL_NAME_LEN)
    raw = reader.take(length, "field 'model_name'")
    _check_model_name_chars(raw, StreamError)
    return raw.decode("ascii")


def _read_roi(reader: _Reader, has_roi: bool) -> RoiSection | None:
    roi_len = reader.field(_U32, "roi_len")
    if not has_roi:
        if roi_len:
            raise StreamError(f"roi section length is {roi_len} but the roi flag is clear")
        return None
    if roi_len == 0:
        raise StreamError("roi flag is set but the roi section is empty")
    start = reader.pos
    alpha = reader.field(_F32, "roi_alpha")
    _check_alpha(alpha, StreamError)
    grid_h = reader.bounded(_U16, "roi_grid_h", 1, MAX_GRID_SIDE)
    grid_w = reader.bounded(_U16, "roi_grid_w", 1, MAX_GRID_SIDE)
    coded_map = reader.take(reader.field(_U32, "roi_map_len"), "field 'roi_map'")
    used = reader.pos - start
    if used != roi_len:
        raise StreamError(
            f"roi section length mismatch (declared {roi_len} bytes, contents use {used})"
        )
    return RoiSection(alpha, (grid_h, grid_w), coded_map)


def _read_strings(reader: _Reader) -> tuple[bytes, ...]:
    count = reader.bounded(_U8, "n_strings", 1, MAX_STRINGS)
    labels = (f"string {index} of {count}" for index in range(1, count + 1))
    return tuple(_read_string(reader, label) for label in labels)


def _read_string(reader: _Reader, label: str) -> bytes:
    return reader.take(reader.number(_U32, f"the length of {label}"), label)


def _read_checksum(reader: _Reader) -> None:
    expected = zlib.crc32(reader.data[: reader.pos])
    if reader.field(_U32, "crc32") != expected:
        raise StreamError("checksum mismatch: stream is corrupt")
    if reader.left:
        raise StreamError(f"stream has {_plural(reader.left, 'trailing byte')} after the checksum")


# ----------------------------------------------------------------------------- reporting


def header_dict(stream: Stream, total_bytes: int) -> dict[str, Any]:
    """A JSON-ready summary of ``stream``; ``total_bytes`` is its packed size (for bpp)."""
    if isinstance(total_bytes, bool) or not isinstance(total_bytes, numbers.Integral):
        raise InputError(f"total bytes must be an integer (got {type(total_bytes).__name__})")
    if total_bytes < 0:
        raise InputError(f"total bytes must be a non-negative integer (got {total_bytes!r})")
    roi = stream.roi
    return {
        "format": "pcmp",
        "format_version": FORMAT_VERSION,
        "model": stream.model_name,
        "weights_hash": stream.weights_hash.hex(),
        "height": stream.height,
        "width": stream.width,
        "rate": {"level": stream.rate_level, "interp": stream.rate_interp, "value": stream.rate},
        "roi": None
        if roi is None
        else {"alpha": roi.alpha, "grid": list(roi.grid_shape), "bytes": len(roi.coded_map)},
        "strings": [len(item) for item in stream.strings],
        "bytes": total_bytes,
        "bpp": total_bytes * 8 / (stream.height * stream.width),
    }


def quantize_rate(rate: float, max_level: int) -> tuple[int, int]:
    """Map a continuous rate in ``[0, max_level]`` to ``(rate_level, rate_interp)``.

    The rate is rounded to the nearest point of the 1/65535 grid. The top of the range has no
    level of its own: ``max_level`` becomes ``(max_level - 1, 65535)`` (``(0, 0)`` when
    ``max_level`` is 0), so the pair always fits the stream fields.
    """
    _check_int(max_level, 0, MAX_RATE_LEVEL + 1, "max rate level")
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise InputError(f"rate must be a number (got {type(rate).__name__})")
    if not 0 <= rate <= max_level:
        raise InputError(f"rate {rate!r} is out of range 0..{max_level}")
    level, interp = divmod(round(rate * RATE_INTERP_SCALE), RATE_INTERP_SCALE)
    if level == max_level:
        return (max_level - 1, RATE_INTERP_SCALE) if max_level else (0, 0)
    return level, interp
