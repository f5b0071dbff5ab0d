"""The ``percomp`` command: real files, real bitstreams, exit codes and one-line errors.

A process that loads a model spends ~7 s importing torch + compressai on this machine, so exactly two such
real processes run (fixture ``real_runs``): ``python -m percomp_ui compress`` on a folder, then the ``percomp``
console script decompressing the result. ``info`` and argument errors never import torch, so those run as
real processes (``run_cli``) freely. The large matrices of corrupt streams and bad inputs run the same
``percomp_ui.cli.main`` in-process (``cli``); a stream that crashes the decoder runs in a forked child.
"""
from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import VENV_BIN, make_image, percomp_command, save_png
from percomp_ui.codec import LearnedCodec
from percomp_ui.container import pack, unpack
from percomp_ui.images import load_image

ERROR_PREFIX = "percomp: error: "


def assert_one_error_line(stderr: str, *fragments: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(ERROR_PREFIX), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        return np.asarray(im).copy()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in folder.rglob("*")}


@pytest.fixture
def image_png(tmp_path: Path, test_image: np.ndarray) -> Path:
    return save_png(test_image, tmp_path / "photo.png")


@pytest.fixture(scope="module")
def good_stream(codec: LearnedCodec, test_image: np.ndarray) -> bytes:
    return codec.encode(test_image, 6.5).data


# ----------------------------------------------------------------------------- end to end, real processes


@dataclasses.dataclass(frozen=True)
class RealRuns:
    folder: Path
    compress: subprocess.CompletedProcess
    decompress: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def real_runs(tiny_zoo: Path, test_image: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> RealRuns:
    """Two real processes: ``python -m percomp_ui compress`` on a folder, then the ``percomp`` console script
    decompressing what it wrote.

    A process that loads a model spends ~7 s importing torch + compressai on this machine, so the folder holds
    every case that needs a real process: an RGB photo, a grayscale PNG, an RGBA PNG and one corrupt PNG.
    """
    folder = tmp_path_factory.mktemp("real")
    src = folder / "in"
    src.mkdir()
    save_png(test_image, src / "photo.png")
    save_png(make_image(33, 47, seed=2), src / "gray.png", mode="L")
    save_png(make_image(64, 30, seed=3), src / "alpha.png", mode="RGBA")
    whole = (src / "photo.png").read_bytes()
    (src / "broken.png").write_bytes(whole[: len(whole) // 2])  # truncated inside the pixel data
    (src / "notes.txt").write_text("not an image suffix: skipped")

    def run(*args: object, script: Path | None = None) -> subprocess.CompletedProcess:
        command, env = percomp_command(tiny_zoo, *args, script=script)
        return subprocess.run(command, cwd=folder, env=env, text=True, capture_output=True, timeout=120)

    compress = run("compress", "--model", "tiny", "--level", "2.5", "--quiet", "in", "packed")
    decompress = run("decompress", "packed", "decoded", script=VENV_BIN / "percomp")
    return RealRuns(folder, compress, decompress)


def test_python_m_compress_folder_with_a_corrupt_image(real_runs: RealRuns, codec: LearnedCodec) -> None:
    result = real_runs.compress
    assert result.returncode == 2  # one file failed, the others were written
    assert result.stdout == ""
    line = assert_one_error_line(result.stderr, "broken.png")
    assert str(Path("in") / "broken.png") in line
    packed = real_runs.folder / "packed"
    assert sorted(p.name for p in packed.iterdir()) == ["alpha.pcmp", "gray.pcmp", "photo.pcmp"]
    # another process, another model instance: byte-identical to this process's encodes
    for name in ("photo", "gray", "alpha"):
        rgb = load_image(real_runs.folder / "in" / f"{name}.png").rgb
        assert (packed / f"{name}.pcmp").read_bytes() == codec.encode(rgb, 2.5).data, name


def test_console_script_decompress_folder(real_runs: RealRuns, codec: LearnedCodec, test_image: np.ndarray) -> None:
    assert (VENV_BIN / "percomp").is_file()
    result = real_runs.decompress
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "photo.pcmp → photo.png: 128x96" in result.stderr and "Traceback" not in result.stderr
    decoded = real_runs.folder / "decoded"
    assert sorted(p.name for p in decoded.iterdir()) == ["alpha.png", "gray.png", "photo.png"]
    for name in ("photo", "gray", "alpha"):
        rgb = load_image(real_runs.folder / "in" / f"{name}.png").rgb
        expected = codec.reconstruct(codec.encode(rgb, 2.5))
        assert np.array_equal(read_png(decoded / f"{name}.png"), expected), name
    assert read_png(decoded / "photo.png").shape == test_image.shape


def test_info_in_a_real_process(real_runs: RealRuns, codec: LearnedCodec, run_cli) -> None:
    packed = real_runs.folder / "packed" / "photo.pcmp"
    data = packed.read_bytes()
    result = run_cli("info", packed, zoo=False)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "pcmp" and info["format_version"] == 1
    assert (info["height"], info["width"], info["model"]) == (96, 128, "tiny")
    assert info["weights_hash"] == codec.weights_hash.hex()
    assert info["bytes"] == packed.stat().st_size == len(data)
    # 2.5 * 65535 = 163837.5 -> 163838 = 2 * 65535 + 32768
    assert info["rate"] == {"level": 2, "interp": 32768, "value": 2 + 32768 / 65535}
    assert info["roi"] is None
    assert info["strings"] == [len(s) for s in unpack(data).strings]
    assert sum(info["strings"]) + 4 * 2 + 35 + 4 == len(data)  # header (35 for "tiny"), lengths, crc
    assert info["bpp"] == pytest.approx(len(data) * 8 / (96 * 128))


def run_forked(argv: list[str], folder: Path, timeout: float = 60) -> tuple[int, str]:
    """``cli.main(argv)`` in a forked child, so that a crash kills only the child.

    Returns (exit code, or minus the signal number; stderr). The child runs torch single-threaded: an
    OpenMP thread pool inherited through fork is not usable. A child still running after ``timeout``
    is killed and the test fails outright (not as the expected failure).
    """
    from percomp_ui.cli import main

    err_path = folder / "child_stderr.txt"
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 70
        try:
            faulthandler.disable()  # the crash is the expected outcome: no dump on the terminal
            torch.set_num_threads(1)
            with open(err_path, "w") as err, open(os.devnull, "w") as out:
                sys.stderr, sys.stdout = err, out
                code = main(argv)
                err.flush()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"forked percomp {argv} still running after {timeout} s")
        time.sleep(0.02)
    stderr = err_path.read_text() if err_path.exists() else ""
    err_path.unlink(missing_ok=True)
    return os.waitstatus_to_exitcode(status), stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to contain a crash")
def test_crafted_size_does_not_crash_decompress(tiny_zoo: Path, codec: LearnedCodec, test_image: np.ndarray,
                                                tmp_path: Path) -> None:
    stream = codec.encode(test_image, 0.0).stream
    crafted = tmp_path / "crafted.pcmp"
    crafted.write_bytes(pack(dataclasses.replace(stream, height=1000, width=1000)))
    code, stderr = run_forked(["--zoo", str(tiny_zoo), "decompress", str(crafted), str(tmp_path / "out.png")],
                              tmp_path)
    assert code >= 0, f"percomp decompress was killed by signal {-code}"
    if code != 0:  # refusing the stream is the clean outcome
        assert code == 2
        assert_one_error_line(stderr)
        assert not (tmp_path / "out.png").exists()


# ----------------------------------------------------------------------------- in-process: compress / decompress


def test_compress_default_rate_and_level(cli, codec: LearnedCodec, image_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "default.pcmp"
    result = cli("compress", "--model", "tiny", image_png, out)
    assert result.returncode == 0, result.stderr
    stream = unpack(out.read_bytes())
    assert (stream.rate_level, stream.rate_interp) == (3, 0)  # the default --level 3
    assert out.read_bytes() == codec.encode(load_image(image_png).rgb, 3.0).data


def test_compress_into_an_existing_folder(cli, image_png: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dest"
    folder.mkdir()
    result = cli("compress", "--model", "tiny", "--level", "7", image_png, folder)
    assert result.returncode == 0, result.stderr
    assert listing(folder) == ["photo.pcmp"]
    assert unpack((folder / "photo.pcmp").read_bytes()).rate == 7.0


def test_compress_bpp_target(cli, run_cli, codec: LearnedCodec, image_png: Path, tmp_path: Path) -> None:
    rgb = load_image(image_png).rgb
    prepared = codec.prepare(rgb)
    low, high = codec.encode_prepared(prepared, 0.0).bpp, codec.encode_prepared(prepared, 7.0).bpp
    # a bpp strictly between the extremes that the bisection meets early (rate 401401/65535 is its third
    # probe), which keeps this test short; the assertions hold for any target
    target = codec.encode_prepared(prepared, 401401 / 65535).bpp
    assert low < target < high
    out = tmp_path / "target.pcmp"
    result = cli("compress", "--model", "tiny", "--bpp", target, image_png, out)
    assert result.returncode == 0, result.stderr
    info = json.loads(run_cli("info", out, zoo=False).stdout)
    assert info["bpp"] <= target
    assert f"{info['bpp']:.4f} bpp" in result.stderr
    assert info["bytes"] == out.stat().st_size
    assert low <= info["bpp"] < high
    assert 0 < info["rate"]["value"] < 7


def test_compress_with_refinement_decodes_with_the_plain_decoder(cli, codec: LearnedCodec, image_png: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "refined.pcmp"
    result = cli("compress", "--model", "tiny", "--level", "7", "--refine", "3", image_png, out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() != codec.encode(np.asarray(Image.open(image_png).convert("RGB")), 7.0).data
    assert cli("decompress", out, tmp_path / "refined.png").returncode == 0
    assert Image.open(tmp_path / "refined.png").size == Image.open(image_png).size


def test_compress_bpp_above_the_top_rate(cli, codec: LearnedCodec, image_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "top.pcmp"
    result = cli("compress", "--model", "tiny", "--bpp", "50", image_png, out)
    assert result.returncode == 0, result.stderr
    assert "top rate stays under the 50 bpp target" in result.stderr
    assert unpack(out.read_bytes()).rate == codec.max_rate


def test_compress_bpp_below_the_lowest_rate(cli, image_png: Path, tmp_path: Path) -> None:
    before = listing(tmp_path)
    result = cli("compress", "--model", "tiny", "--bpp", "0.0001", image_png, tmp_path / "x.pcmp")
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "below the lowest rate of model 'tiny'")
    assert listing(tmp_path) == before


def test_batch_decompress_with_a_corrupt_stream(cli, good_stream: bytes, tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "good1.pcmp").write_bytes(good_stream)
    (src / "good2.pcmp").write_bytes(good_stream)
    (src / "bad.pcmp").write_bytes(good_stream[:-3])
    result = cli("decompress", "--quiet", src, dst)
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "truncated")
    assert sorted(p.name for p in dst.iterdir()) == ["good1.png", "good2.png"]


def test_batch_decompress_error_names_the_file(cli, good_stream: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.pcmp").write_bytes(good_stream)
    (src / "bad.pcmp").write_bytes(good_stream[:-3])
    result = cli("decompress", "--quiet", src, tmp_path / "out")
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "bad.pcmp")


def test_decompress_picks_the_model_named_in_the_stream(cli, codec2: LearnedCodec, test_image: np.ndarray,
                                                        tmp_path: Path) -> None:
    encoded = codec2.encode(test_image[:40, :50], 6.9)
    (tmp_path / "two.pcmp").write_bytes(encoded.data)
    result = cli("decompress", tmp_path / "two.pcmp", tmp_path / "two.png")
    assert result.returncode == 0, result.stderr
    assert np.array_equal(read_png(tmp_path / "two.png"), codec2.reconstruct(encoded))


# ----------------------------------------------------------------------------- models


def test_models_table_and_json(cli, tiny_zoo: Path) -> None:
    result = cli("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "architecture", "levels"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"tiny", "tiny2"}
    card = json.loads((tiny_zoo / "tiny.json").read_text())
    assert card["weights_hash"] in rows["tiny"]
    assert "untrained tiny test model" in rows["tiny"]
    assert "64–8192" in rows["tiny"] and " 8 " in rows["tiny"]

    result = cli("models", "--json")
    assert result.returncode == 0, result.stderr
    cards = json.loads(result.stdout)
    assert [c["name"] for c in cards] == ["tiny", "tiny2"]
    assert cards[0] == card


def test_models_uses_env_zoo_and_empty_zoo(cli, tmp_path: Path) -> None:
    result = cli("models", "--json", zoo=False)  # PERCOMP_CHECKPOINTS points at the tiny zoo
    assert [c["name"] for c in json.loads(result.stdout)] == ["tiny", "tiny2"]
    result = cli("--zoo", tmp_path, "models", zoo=False)
    assert result.returncode == 0
    assert result.stdout == "" and "no models" in result.stderr


# ----------------------------------------------------------------------------- corrupt streams


def truncation_points(data: bytes) -> dict[str, tuple[int, str]]:
    """Cut offsets inside each field of a "tiny" stream, from the format table (not the module)."""
    name_len = data[6]
    assert name_len == 4 and data[7:11] == b"tiny"
    (len1,) = struct.unpack(">I", data[35:39])
    s1 = 39
    len2_at = s1 + len1
    (len2,) = struct.unpack(">I", data[len2_at : len2_at + 4])
    s2 = len2_at + 4
    assert s2 + len2 + 4 == len(data)
    return {
        "empty": (0, "empty stream"),
        "magic": (2, "field 'magic'"),
        "version": (4, "field 'format_version'"),
        "flags": (5, "field 'flags'"),
        "name_len": (6, "field 'model_name_len'"),
        "model_name": (9, "field 'model_name'"),
        "weights_hash": (15, "field 'weights_hash'"),
        "height": (21, "field 'height'"),
        "width": (25, "field 'width'"),
        "rate_level": (27, "field 'rate_level'"),
        "rate_interp": (29, "field 'rate_interp'"),
        "roi_len": (32, "field 'roi_len'"),
        "n_strings": (34, "field 'n_strings'"),
        "string1_len": (37, "the length of string 1 of 2"),
        "string1": (s1 + len1 // 2, "inside string 1 of 2"),
        "string2_len": (len2_at + 2, "the length of string 2 of 2"),
        "string2": (s2 + len2 // 2, "inside string 2 of 2"),
        "crc": (len(data) - 2, "field 'crc32'"),
        "no_crc": (len(data) - 4, "field 'crc32'"),
    }


TRUNCATIONS = ["empty", "magic", "version", "flags", "name_len", "model_name", "weights_hash", "height", "width",
               "rate_level", "rate_interp", "roi_len", "n_strings", "string1_len", "string1", "string2_len",
               "string2", "crc", "no_crc"]


def corrupt(data: bytes, case: str, codec: LearnedCodec) -> tuple[bytes, tuple[str, ...]]:
    """(damaged bytes, fragments the error line must contain)."""
    stream = unpack(data)
    if case in TRUNCATIONS:
        cut, field = truncation_points(data)[case]
        return data[:cut], (("truncated", field) if cut else (field,))
    if case == "flipped_string_byte":
        (len1,) = struct.unpack(">I", data[35:39])
        damaged = bytearray(data)
        damaged[39 + len1 // 2] ^= 0x10
        return bytes(damaged), ("checksum mismatch",)
    if case == "wrong_magic":
        return b"PCMZ" + data[4:], ("bad magic",)
    if case == "png_bytes":
        return b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ("bad magic",)
    if case == "newer_version":
        return data[:4] + b"\x02" + data[5:], ("newer percomp", "format version 2")
    if case == "trailing_byte":
        return data + b"\x00", ("trailing byte",)
    if case == "unknown_model":
        return pack(dataclasses.replace(stream, model_name="nosuch")), ("unknown model 'nosuch'", "tiny, tiny2")
    if case == "other_weights":
        other = bytes(b ^ 0x5A for b in stream.weights_hash)
        return pack(dataclasses.replace(stream, weights_hash=other)), ("other weights", other.hex())
    if case == "other_model":
        return pack(dataclasses.replace(stream, model_name="tiny2")), ("other weights of model 'tiny2'",)
    raise AssertionError(case)


HEADER_CASES = [*TRUNCATIONS, "flipped_string_byte", "wrong_magic", "png_bytes", "newer_version", "trailing_byte"]
MODEL_CASES = ["unknown_model", "other_weights", "other_model"]


@pytest.mark.parametrize("case", HEADER_CASES + MODEL_CASES)
def test_decompress_refuses_corrupt_stream(cli, codec: LearnedCodec, good_stream: bytes, tmp_path: Path,
                                           case: str) -> None:
    damaged, fragments = corrupt(good_stream, case, codec)
    (tmp_path / "in.pcmp").write_bytes(damaged)
    before = listing(tmp_path)
    result = cli("decompress", tmp_path / "in.pcmp", tmp_path / "out.png")
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_error_line(result.stderr, *fragments)
    assert listing(tmp_path) == before  # no output, no temp file


@pytest.mark.parametrize("case", ["empty", "magic", "model_name", "n_strings", "string2", "crc", "flipped_string_byte",
                                  "newer_version", "trailing_byte"])
def test_info_refuses_corrupt_stream_in_a_real_process(run_cli, codec: LearnedCodec, good_stream: bytes,
                                                       tmp_path: Path, case: str) -> None:
    damaged, fragments = corrupt(good_stream, case, codec)
    (tmp_path / "in.pcmp").write_bytes(damaged)
    result = run_cli("info", tmp_path / "in.pcmp", zoo=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_error_line(result.stderr, *fragments)


def test_undamaged_stream_decompresses(cli, codec: LearnedCodec, good_stream: bytes, test_image: np.ndarray,
                                       tmp_path: Path) -> None:
    """The control for the corruption matrix: the undamaged bytes decode."""
    (tmp_path / "in.pcmp").write_bytes(good_stream)
    result = cli("decompress", tmp_path / "in.pcmp", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    assert np.array_equal(read_png(tmp_path / "out.png"), codec.decode(good_stream))


# ----------------------------------------------------------------------------- bad usage


USAGE_CASES = {
    "unknown_option": (["compress", "a.png", "b.pcmp", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    "no_command": ([], "the following arguments are required: command"),
    "unknown_command": (["frobnicate"], "invalid choice: 'frobnicate'"),
    "missing_args": (["compress"], "the following arguments are required: input, output"),
    "missing_output": (["decompress", "a.pcmp"], "required: output"),
    "bpp_negative": (["compress", "a.png", "b.pcmp", "--bpp", "-1"], "expected a positive number, got '-1'"),
    "bpp_text": (["compress", "a.png", "b.pcmp", "--bpp", "abc"], "expected a number, got 'abc'"),
    "bpp_zero": (["compress", "a.png", "b.pcmp", "--bpp", "0"], "expected a positive number"),
    "bpp_inf": (["compress", "a.png", "b.pcmp", "--bpp", "inf"], "expected a positive number"),
    "bpp_nan": (["compress", "a.png", "b.pcmp", "--bpp", "nan"], "expected a positive number"),
    "bpp_and_level": (["compress", "a.png", "b.pcmp", "--bpp", "1", "--level", "2"], "not allowed with"),
    "level_text": (["compress", "a.png", "b.pcmp", "--level", "high"], "invalid float value: 'high'"),
    "max_pixels_zero": (["decompress", "a.pcmp", "b.png", "--max-pixels", "0"], "positive whole number"),
    "bad_device": (["decompress", "a.pcmp", "b.png", "--device", "tpu"], "invalid choice: 'tpu'"),
    "info_missing_file": (["info", "missing.pcmp"], "missing.pcmp: no such file"),
    "info_folder": (["info", "."], "is a folder"),
}


@pytest.mark.parametrize("case", list(USAGE_CASES))
def test_bad_usage_in_a_real_process(run_cli, tmp_path: Path, case: str) -> None:
    argv, fragment = USAGE_CASES[case]
    result = run_cli(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_error_line(result.stderr, fragment)
    assert listing(tmp_path) == []


def test_debug_shows_a_traceback(run_cli, tmp_path: Path) -> None:
    result = run_cli("--debug", "compress", "a.png", "b.pcmp", "--bpp", "abc")
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(ERROR_PREFIX + "argument --bpp")
    # --debug is accepted after the command name too
    result = run_cli("info", "missing.pcmp", "--debug", zoo=False)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "InputError" in result.stderr


def test_debug_traceback_for_unknown_model(cli, image_png: Path, tmp_path: Path) -> None:
    result = cli("--debug", "compress", "--model", "nosuch", image_png, tmp_path / "x.pcmp")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(ERROR_PREFIX + "unknown model 'nosuch'")
    assert not (tmp_path / "x.pcmp").exists()


def test_debug_traceback_for_a_per_file_error(cli, good_stream: bytes, tmp_path: Path) -> None:
    (tmp_path / "bad.pcmp").write_bytes(good_stream[:-1])
    result = cli("--debug", "decompress", tmp_path / "bad.pcmp", tmp_path / "out.png")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def write_inputs(tmp_path: Path, image_png: Path, good_stream: bytes) -> None:
    (tmp_path / "notes.png").write_text("this is text, not a PNG")
    (tmp_path / "notes.txt").write_text("plain text")
    (tmp_path / "in.pcmp").write_bytes(good_stream)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["compress", "--model", "tiny", "--level", "99", "photo.png", "out.pcmp"], "--level 99 is outside"),
        (["compress", "--model", "tiny", "--level", "-1", "photo.png", "out.pcmp"], "--level -1 is outside"),
        (["compress", "--model", "tiny", "--level", "7.001", "photo.png", "out.pcmp"], "outside the model's range"),
        (["compress", "--model", "nosuch", "photo.png", "out.pcmp"], "unknown model 'nosuch'"),
        (["compress", "--model", "../x", "photo.png", "out.pcmp"], "invalid model name"),
        (["compress", "--model", "tiny", "notes.png", "out.pcmp"], "not an image Pillow can read"),
        (["compress", "--model", "tiny", "notes.txt", "out.pcmp"], "not an image Pillow can read"),
        (["compress", "--model", "tiny", "in.pcmp", "out.pcmp"], "not an image Pillow can read"),
        (["compress", "--model", "tiny", "missing.png", "out.pcmp"], "missing.png: no such file"),
        (["compress", "--model", "tiny", "photo.png", "out.jpg"], "output file must end in .pcmp"),
        (["compress", "--model", "tiny", "photo.png", "photo.png"], "output file must end in .pcmp"),
        (["compress", "--model", "tiny", "photo.png", "nowhere/out.pcmp"], "no such folder"),
        (["compress", "--model", "tiny", "--max-pixels", "100", "photo.png", "out.pcmp"], "exceeds the pixel limit"),
        (["decompress", "in.pcmp", "out.jpg"], "output file must end in .png"),
        (["decompress", "missing.pcmp", "out.png"], "missing.pcmp: no such file"),
        (["decompress", "in.pcmp", "nowhere/deeper/out.png"], "no such folder"),
        (["decompress", "--max-pixels", "1000", "in.pcmp", "out.png"], "exceeds the pixel limit"),
        (["decompress", "notes.png", "notes.png"], "output would overwrite the input"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
def test_bad_input_gives_one_line_and_no_output(cli, image_png: Path, good_stream: bytes, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, argv: list[str], fragment: str) -> None:
    write_inputs(tmp_path, image_png, good_stream)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    result = cli(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_error_line(result.stderr, fragment)
    assert snapshot(tmp_path) == before  # nothing created (not even a folder or temp file), nothing changed


def test_input_folder_into_an_existing_file(cli, image_png: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (tmp_path / "taken.pcmp").write_bytes(b"keep me")
    result = cli("compress", "--model", "tiny", src, tmp_path / "taken.pcmp")
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "the output must be a folder")
    assert (tmp_path / "taken.pcmp").read_bytes() == b"keep me"


def test_empty_input_folder_creates_nothing(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("compress", "--model", "tiny", tmp_path / "empty", tmp_path / "out")
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "no ")
    assert not (tmp_path / "out").exists()


def test_batch_inputs_with_the_same_stem_are_not_lost(cli, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    save_png(make_image(20, 20, seed=1), src / "x.png")
    Image.fromarray(make_image(20, 20, seed=2)).save(src / "x.bmp")
    result = cli("compress", "--model", "tiny", "--quiet", src, tmp_path / "out")
    assert result.returncode == 2
    assert "x.bmp and x.png would both write x.pcmp" in result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written
