"""Tests for the ``.pcmp`` container (``percomp_ui.container``).

The streams under test are built by a small encoder written here from the format table, so the
byte layout, field offsets and expected messages do not come from the module being tested.
"""
from __future__ import annotations

import dataclasses
import json
import math
import string
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from percomp_ui.container import (
    FORMAT_VERSION,
    MAGIC,
    RATE_INTERP_SCALE,
    WEIGHTS_HASH_BYTES,
    RoiSection,
    Stream,
    header_dict,
    pack,
    quantize_rate,
    unpack,
)
from percomp_ui.errors import InputError, StreamError

HASH = bytes.fromhex("0123456789abcdef")
NAME = "hific-lo.v2_b"
ROI = RoiSection(alpha=2.5, grid_shape=(3, 4), coded_map=b"\x01\x02\x03")
STRINGS = (b"\x10\x20\x30\x40\x50", b"abcdefg")
REFERENCE = Stream(NAME, HASH, 480, 640, 3, 12345, STRINGS, ROI)
NO_ROI = dataclasses.replace(REFERENCE, roi=None, strings=(b"\x07", b"", b"xyz"))

Chunk = tuple[str, bytes]  # (what a truncation message names, bytes)


# ----------------------------------------------------------------------------- reference encoder


def _num(name: str, fmt: str, value: float) -> Chunk:
    return f"field '{name}'", struct.pack(">" + fmt, value)


def _raw(name: str, data: bytes) -> Chunk:
    return f"field '{name}'", data


def roi_chunks(
    alpha: float = 2.5,
    grid: tuple[int, int] = (3, 4),
    coded_map: bytes = b"\x01\x02\x03",
    map_len: int | None = None,
    extra: bytes = b"",
) -> tuple[Chunk, ...]:
    chunks = (
        _num("roi_alpha", "f", alpha),
        _num("roi_grid_h", "H", grid[0]),
        _num("roi_grid_w", "H", grid[1]),
        _num("roi_map_len", "I", len(coded_map) if map_len is None else map_len),
        _raw("roi_map", coded_map),
    )
    return chunks + ((("roi padding", extra),) if extra else ())


def layout(
    *,
    magic: bytes = MAGIC,
    version: int = 1,
    flags: int | None = None,
    name: bytes = NAME.encode(),
    name_len: int | None = None,
    weights_hash: bytes = HASH,
    height: int = 480,
    width: int = 640,
    rate_level: int = 3,
    rate_interp: int = 12345,
    roi: tuple[Chunk, ...] | None = roi_chunks(),
    roi_len: int | None = None,
    strings: tuple[bytes, ...] = STRINGS,
    n_strings: int | None = None,
) -> list[Chunk]:
    """Every chunk before the checksum; ``None`` overrides mean "the consistent value"."""
    roi_size = sum(len(data) for _, data in roi or ())
    chunks = [
        _raw("magic", magic),
        _num("format_version", "B", version),
        _num("flags", "B", (roi is not None) if flags is None else flags),
        _num("model_name_len", "B", len(name) if name_len is None else name_len),
        _raw("model_name", name),
        _raw("weights_hash", weights_hash),
        _num("height", "I", height),
        _num("width", "I", width),
        _num("rate_level", "B", rate_level),
        _num("rate_interp", "H", rate_interp),
        _num("roi_len", "I", roi_size if roi_len is None else roi_len),
        *(roi or ()),
        _num("n_strings", "B", len(strings) if n_strings is None else n_strings),
    ]
    for index, data in enumerate(strings, 1):
        label = f"string {index} of {len(strings)}"
        chunks += [(f"the length of {label}", struct.pack(">I", len(data))), (label, data)]
    return chunks


def encode(chunks: list[Chunk], crc: int | None = None, trailing: bytes = b"") -> bytes:
    body = b"".join(data for _, data in chunks)
    return body + struct.pack(">I", zlib.crc32(body) if crc is None else crc) + trailing


def build(crc: int | None = None, trailing: bytes = b"", **fields: object) -> bytes:
    return encode(layout(**fields), crc, trailing)


def assert_clean(message: str) -> None:
    """User-facing messages: one short line, lowercase start, no trailing period."""
    assert message and "\n" not in message
    assert message[0].islower(), message
    assert not message.endswith("."), message
    assert len(message) <= 120, message


def stream_error(data: bytes) -> str:
    with pytest.raises(StreamError) as excinfo:
        unpack(data)
    message = str(excinfo.value)
    assert_clean(message)
    return message


def input_error(stream: object) -> str:
    with pytest.raises(InputError) as excinfo:
        pack(stream)  # type: ignore[arg-type]
    assert excinfo.type is InputError, "pack reports bad values, not damaged streams"
    message = str(excinfo.value)
    assert_clean(message)
    return message


# ----------------------------------------------------------------------------- round trips


def test_pack_matches_the_format_table() -> None:
    assert pack(REFERENCE) == build()
    assert pack(NO_ROI) == build(roi=None, strings=NO_ROI.strings)


@pytest.mark.parametrize("roi", [None, ROI], ids=["no-roi", "roi"])
@pytest.mark.parametrize(
    "strings",
    [(b"",), (b"\x00\xff", b""), (b"", b"abc", bytes(range(256)) * 3)],
    ids=["1-empty", "2-strings", "3-strings"],
)
def test_round_trip_and_determinism(roi: RoiSection | None, strings: tuple[bytes, ...]) -> None:
    stream = dataclasses.replace(REFERENCE, roi=roi, strings=strings)
    packed = pack(stream)
    assert unpack(packed) == stream
    assert pack(stream) == packed
    assert pack(unpack(packed)) == packed


def test_unpack_accepts_any_bytes_like_and_rejects_other_types() -> None:
    packed = pack(REFERENCE)
    assert unpack(bytearray(packed)) == REFERENCE
    assert unpack(memoryview(packed)) == REFERENCE
    with pytest.raises(TypeError):
        unpack(packed.hex())  # type: ignore[arg-type]


def test_boundary_values_are_accepted() -> None:
    strings = tuple(bytes([i]) * i for i in range(16))
    data = build(
        name=b"M" * 64,
        height=1 << 20,
        width=1,
        rate_level=254,
        rate_interp=65535,
        roi=roi_chunks(alpha=1e-45, grid=(65535, 1), coded_map=b""),
        strings=strings,
    )
    smallest_f32 = struct.unpack(">f", struct.pack(">f", 1e-45))[0]
    roi = RoiSection(smallest_f32, (65535, 1), b"")
    stream = unpack(data)
    assert stream == Stream("M" * 64, HASH, 1 << 20, 1, 254, 65535, strings, roi)
    assert pack(stream) == data


def test_rate_property() -> None:
    assert REFERENCE.rate == 3 + 12345 / 65535
    assert dataclasses.replace(REFERENCE, rate_level=0, rate_interp=0).rate == 0.0
    assert dataclasses.replace(REFERENCE, rate_level=4, rate_interp=RATE_INTERP_SCALE).rate == 5.0


def test_pack_rounds_alpha_to_float32() -> None:
    stream = dataclasses.replace(REFERENCE, roi=dataclasses.replace(ROI, alpha=0.1))
    alpha = unpack(pack(stream)).roi.alpha  # type: ignore[union-attr]
    assert alpha == struct.unpack(">f", struct.pack(">f", 0.1))[0]


# ----------------------------------------------------------------------------- damaged streams


def test_truncation_at_every_offset_names_the_field() -> None:
    chunks = layout()
    data = encode(chunks)
    assert data == pack(REFERENCE)
    spans, start = [], 0
    for what, chunk in chunks + [("field 'crc32'", data[-4:])]:
        spans.append((start, start + len(chunk), what))
        start += len(chunk)
    assert start == len(data)
    assert stream_error(b"") == "empty stream"
    for cut in range(1, len(data)):
        begin, end, what = next(span for span in spans if span[0] <= cut < span[1])
        needs = "1 byte" if end - begin == 1 else f"{end - begin} bytes"
        expected = f"stream truncated inside {what} (needs {needs}, {cut - begin} left)"
        assert stream_error(data[:cut]) == expected, cut


@pytest.mark.parametrize("stream", [REFERENCE, NO_ROI], ids=["roi", "no-roi"])
def test_flipping_any_byte_is_detected(stream: Stream) -> None:
    data = pack(stream)
    for offset in range(len(data)):
        flipped = data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
        stream_error(flipped)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", "empty stream", id="empty"),
        pytest.param(build(magic=b"PCMQ"), "not a .pcmp stream (bad magic)", id="magic"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(40), "not a .pcmp stream (bad magic)", id="png"),
        pytest.param(b"GI", "not a .pcmp stream (bad magic)", id="short-non-magic"),
        pytest.param(
            build(version=2),
            "made by a newer percomp (format version 2; this build reads 1)",
            id="version-2",
        ),
        pytest.param(
            MAGIC + b"\xff",
            "made by a newer percomp (format version 255; this build reads 1)",
            id="version-255-only",
        ),
        pytest.param(build(version=0), "invalid format version 0", id="version-0"),
        pytest.param(build(flags=0x03), "unknown flag bits 0x02 set", id="flag-bit1"),
        pytest.param(build(flags=0x80, roi=None), "unknown flag bits 0x80 set", id="flag-bit7"),
        pytest.param(
            build(roi=()), "roi flag is set but the roi section is empty", id="roi-flag-len-0"
        ),
        pytest.param(
            build(flags=0), "roi section length is 15 but the roi flag is clear", id="roi-no-flag"
        ),
        pytest.param(
            build(roi_len=16),
            "roi section length mismatch (declared 16 bytes, contents use 15)",
            id="roi-len-long",
        ),
        pytest.param(
            build(roi_len=14),
            "roi section length mismatch (declared 14 bytes, contents use 15)",
            id="roi-len-short",
        ),
        pytest.param(
            build(roi=roi_chunks(extra=b"\x00\x00")),
            "roi section length mismatch (declared 17 bytes, contents use 15)",
            id="roi-leftover",
        ),
        pytest.param(
            build(roi=roi_chunks(map_len=4)),
            "roi section length mismatch (declared 15 bytes, contents use 16)",
            id="roi-shortfall",
        ),
        pytest.param(build(roi=roi_chunks(alpha=math.nan)), "roi alpha must be", id="alpha-nan"),
        pytest.param(build(roi=roi_chunks(alpha=math.inf)), "roi alpha must be", id="alpha-inf"),
        pytest.param(build(roi=roi_chunks(alpha=-math.inf)), "roi alpha must be", id="alpha-ninf"),
        pytest.param(build(roi=roi_chunks(alpha=0.0)), "roi alpha must be", id="alpha-zero"),
        pytest.param(build(roi=roi_chunks(alpha=-0.0)), "roi alpha must be", id="alpha-neg-zero"),
        pytest.param(build(roi=roi_chunks(alpha=-1.0)), "roi alpha must be", id="alpha-negative"),
        pytest.param(
            build(roi=roi_chunks(grid=(0, 4))),
            "field 'roi_grid_h' value 0 is out of range 1..65535",
            id="grid-h-0",
        ),
        pytest.param(
            build(roi=roi_chunks(grid=(3, 0))),
            "field 'roi_grid_w' value 0 is out of range 1..65535",
            id="grid-w-0",
        ),
        pytest.param(
            build(name=b""), "field 'model_name_len' value 0 is out of range 1..64", id="name-0"
        ),
        pytest.param(
            build(name=b"n" * 65),
            "field 'model_name_len' value 65 is out of range 1..64",
            id="name-65",
        ),
        pytest.param(
            build(name=b"bad name"),
            "model name has a character outside A-Z a-z 0-9 . _ - at position 3",
            id="name-space",
        ),
        pytest.param(build(name="café".encode()), "at position 3", id="name-utf8"),
        pytest.param(build(name=b"a/b"), "at position 1", id="name-slash"),
        pytest.param(build(name=b"x\x00"), "at position 1", id="name-nul"),
        pytest.param(
            build(height=0), "field 'height' value 0 is out of range 1..1048576", id="height-0"
        ),
        pytest.param(build(height=(1 << 20) + 1), "value 1048577 is out of", id="height-big"),
        pytest.param(build(width=0), "field 'width' value 0 is out of range", id="width-0"),
        pytest.param(
            build(rate_level=255),
            "field 'rate_level' value 255 is out of range 0..254",
            id="rate-level-255",
        ),
        pytest.param(
            build(strings=()), "field 'n_strings' value 0 is out of range 1..16", id="strings-0"
        ),
        pytest.param(
            build(strings=(b"",) * 17), "field 'n_strings' value 17 is out of", id="strings-17"
        ),
        pytest.param(
            build(crc=zlib.crc32(b"other")), "checksum mismatch: stream is corrupt", id="crc"
        ),
        pytest.param(
            build(trailing=b"\x00"), "stream has 1 trailing byte after the checksum", id="trail-1"
        ),
        pytest.param(
            build(trailing=b"abc"), "stream has 3 trailing bytes after the checksum", id="trail-3"
        ),
    ],
)
def test_invalid_stream(data: bytes, expected: str) -> None:
    assert expected in stream_error(data)


def test_field_checks_run_before_the_checksum() -> None:
    assert "format version 2" in stream_error(build(version=2, crc=0))
    assert "rate_level" in stream_error(build(rate_level=255, crc=0))


# ----------------------------------------------------------------------------- pack arguments


def _with(**changes: object) -> Stream:
    return dataclasses.replace(REFERENCE, **changes)


def _with_roi(**changes: object) -> Stream:
    return _with(roi=dataclasses.replace(ROI, **changes))


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param("not a stream", id="not-a-stream"),
        pytest.param(_with(model_name=""), id="name-empty"),
        pytest.param(_with(model_name="x" * 65), id="name-long"),
        pytest.param(_with(model_name="bad name"), id="name-space"),
        pytest.param(_with(model_name="café"), id="name-non-ascii"),
        pytest.param(_with(model_name=b"bytes"), id="name-bytes"),
        pytest.param(_with(weights_hash=HASH[:7]), id="hash-short"),
        pytest.param(_with(weights_hash=bytearray(WEIGHTS_HASH_BYTES)), id="hash-bytearray"),
        pytest.param(_with(weights_hash=HASH.hex()), id="hash-hex-str"),
        pytest.param(_with(height=0), id="height-0"),
        pytest.param(_with(height=(1 << 20) + 1), id="height-big"),
        pytest.param(_with(height=480.0), id="height-float"),
        pytest.param(_with(height=True), id="height-bool"),
        pytest.param(_with(width=-1), id="width-negative"),
        pytest.param(_with(rate_level=255), id="level-255"),
        pytest.param(_with(rate_level=-1), id="level-negative"),
        pytest.param(_with(rate_interp=65536), id="interp-big"),
        pytest.param(_with(rate_interp=-1), id="interp-negative"),
        pytest.param(_with(strings=()), id="strings-0"),
        pytest.param(_with(strings=(b"",) * 17), id="strings-17"),
        pytest.param(_with(strings=[b"a"]), id="strings-list"),
        pytest.param(_with(strings=(b"a", "b")), id="string-str"),
        pytest.param(_with(strings=(bytearray(b"a"),)), id="string-bytearray"),
        pytest.param(_with(roi="roi"), id="roi-type"),
        pytest.param(_with_roi(alpha=math.nan), id="alpha-nan"),
        pytest.param(_with_roi(alpha=math.inf), id="alpha-inf"),
        pytest.param(_with_roi(alpha=0), id="alpha-zero"),
        pytest.param(_with_roi(alpha=-1.0), id="alpha-negative"),
        pytest.param(_with_roi(alpha=1e39), id="alpha-f32-overflow"),
        pytest.param(_with_roi(alpha=10**400), id="alpha-huge-int"),
        pytest.param(_with_roi(alpha=1e-50), id="alpha-f32-underflow"),
        pytest.param(_with_roi(alpha=True), id="alpha-bool"),
        pytest.param(_with_roi(alpha="2"), id="alpha-str"),
        pytest.param(_with_roi(grid_shape=(0, 1)), id="grid-0"),
        pytest.param(_with_roi(grid_shape=(1, 65536)), id="grid-big"),
        pytest.param(_with_roi(grid_shape=[3, 4]), id="grid-list"),
        pytest.param(_with_roi(grid_shape=(3,)), id="grid-1d"),
        pytest.param(_with_roi(coded_map="map"), id="map-str"),
    ],
)
def test_pack_rejects_bad_values(stream: object) -> None:
    input_error(stream)


# ----------------------------------------------------------------------------- header_dict


def test_header_dict() -> None:
    total = len(pack(REFERENCE))
    header = header_dict(REFERENCE, total)
    assert json.loads(json.dumps(header)) == header
    assert header == {
        "format": "pcmp",
        "format_version": FORMAT_VERSION,
        "model": NAME,
        "weights_hash": "0123456789abcdef",
        "height": 480,
        "width": 640,
        "rate": {"level": 3, "interp": 12345, "value": 3 + 12345 / 65535},
        "roi": {"alpha": 2.5, "grid": [3, 4], "bytes": 3},
        "strings": [5, 7],
        "bytes": total,
        "bpp": total * 8 / (480 * 640),
    }
    assert header_dict(NO_ROI, 10)["roi"] is None
    assert header_dict(NO_ROI, 10)["strings"] == [1, 0, 3]
    with pytest.raises(InputError):
        header_dict(REFERENCE, -1)


# ----------------------------------------------------------------------------- quantize_rate


@pytest.mark.parametrize(
    ("rate", "max_level", "expected"),
    [
        (0, 0, (0, 0)),
        (0.0, 5, (0, 0)),
        (3, 5, (3, 0)),
        (2.5, 5, (2, 32768)),  # 163837.5 grid units round half to even
        (1 / 65535, 3, (0, 1)),
        (0.4 / 65535, 3, (0, 0)),
        (3 - 1e-9, 5, (3, 0)),
        (5 - 1e-9, 5, (4, 65535)),
        (5, 5, (4, 65535)),
        (1.0, 1, (0, 65535)),
        (255, 255, (254, 65535)),
        (254.5, 255, (254, 32768)),
    ],
)
def test_quantize_rate(rate: float, max_level: int, expected: tuple[int, int]) -> None:
    assert quantize_rate(rate, max_level) == expected


@pytest.mark.parametrize(
    ("rate", "max_level"),
    [
        (-1e-9, 5),
        (5.0001, 5),
        (1e-9, 0),
        (math.nan, 5),
        (math.inf, 5),
        (-math.inf, 5),
        ("1", 5),
        (True, 5),
        (None, 5),
        (0, -1),
        (0, 256),
        (0, 2.0),
        (0, True),
    ],
)
def test_quantize_rate_rejects(rate: object, max_level: object) -> None:
    with pytest.raises(InputError):
        quantize_rate(rate, max_level)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(level=st.integers(0, 254), interp=st.integers(0, 65535))
def test_quantize_rate_recovers_grid_points(level: int, interp: int) -> None:
    rate = _with(rate_level=level, rate_interp=interp).rate
    got_level, got_interp = quantize_rate(rate, 255)
    assert got_level + got_interp / RATE_INTERP_SCALE == pytest.approx(rate, abs=1e-12)
    pack(_with(rate_level=got_level, rate_interp=got_interp))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), max_level=st.integers(0, 255))
def test_quantize_rate_error_is_half_a_step(data: st.DataObject, max_level: int) -> None:
    rate = data.draw(st.floats(0, max_level))
    level, interp = quantize_rate(rate, max_level)
    assert 0 <= level <= max(max_level - 1, 0) and 0 <= interp <= RATE_INTERP_SCALE
    assert abs(level + interp / RATE_INTERP_SCALE - rate) <= 0.5 / RATE_INTERP_SCALE + 1e-9


# ----------------------------------------------------------------------------- properties

rois = st.builds(
    RoiSection,
    alpha=st.floats(min_value=0, exclude_min=True, allow_infinity=False, width=32),
    grid_shape=st.tuples(st.integers(1, 65535), st.integers(1, 65535)),
    coded_map=st.binary(max_size=64),
)
streams = st.builds(
    Stream,
    model_name=st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=64),
    weights_hash=st.binary(min_size=WEIGHTS_HASH_BYTES, max_size=WEIGHTS_HASH_BYTES),
    height=st.integers(1, 1 << 20),
    width=st.integers(1, 1 << 20),
    rate_level=st.integers(0, 254),
    rate_interp=st.integers(0, 65535),
    strings=st.lists(st.binary(max_size=64), min_size=1, max_size=16).map(tuple),
    roi=st.none() | rois,
)
prefixes = st.sampled_from(
    [b"", MAGIC, MAGIC + b"\x01", MAGIC + b"\x01\x01", MAGIC + b"\x01\x00\x04name" + HASH]
)


def unpack_or_stream_error(data: bytes) -> Stream | None:
    """``unpack`` result, or ``None`` after a clean ``StreamError``; any other exception fails."""
    try:
        stream = unpack(data)
    except StreamError as exc:
        assert_clean(str(exc))
        return None
    assert pack(stream) == data, "a stream that unpacks must be in canonical form"
    return stream


@settings(max_examples=300, deadline=None)
@given(prefix=prefixes, tail=st.binary(max_size=256))
def test_arbitrary_bytes_unpack_or_raise_stream_error(prefix: bytes, tail: bytes) -> None:
    unpack_or_stream_error(prefix + tail)


@settings(max_examples=300, deadline=None)
@given(stream=streams)
def test_round_trip_any_valid_stream(stream: Stream) -> None:
    packed = pack(stream)
    assert unpack(packed) == stream
    assert pack(stream) == packed


@settings(max_examples=300, deadline=None)
@given(stream=streams, data=st.data())
def test_mutated_stream_raises_stream_error(stream: Stream, data: st.DataObject) -> None:
    packed = pack(stream)
    pos = data.draw(st.integers(0, len(packed) - 1), label="pos")
    patch = data.draw(st.binary(min_size=1, max_size=8), label="patch")
    mutations = {
        "overwrite": packed[:pos] + patch + packed[pos + len(patch) :],
        "insert": packed[:pos] + patch + packed[pos:],
        "delete": packed[:pos] + packed[pos + len(patch) :],
        "truncate": packed[:pos],
    }
    mutated = mutations[data.draw(st.sampled_from(sorted(mutations)), label="mutation")]
    result = unpack_or_stream_error(mutated)
    assert result is None or result == stream
