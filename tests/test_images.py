"""Tests for percomp_ui.images: decoding every kind of input to RGB uint8, atomic PNG output,
and the tensor helpers. Every test image is built in the test itself."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from percomp_ui.errors import InputError
from percomp_ui.images import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    crop_to,
    load_image,
    max_pixels_from_env,
    pad_to_multiple,
    rgb_to_tensor,
    save_png,
    tensor_to_rgb,
)

ORIENTATION_TAG = 0x0112
ALPHA_NOTE = "alpha channel dropped (composited over white)"


@pytest.fixture(autouse=True)
def _no_env_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERCOMP_MAX_PIXELS", raising=False)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes]) -> bytes:
    """A minimal PNG written by hand, for layouts neither Pillow nor OpenCV can write."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = zlib.compress(b"".join(b"\0" + row for row in rows))
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")
    )


def round_16_to_8(values: np.ndarray) -> np.ndarray:
    """Reference: round(v * 255 / 65535) in exact integer arithmetic."""
    return ((values.astype(np.int64) * 255 + 65535 // 2) // 65535).astype(np.uint8)


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def check_rgb(loaded: LoadedImage, height: int, width: int) -> None:
    assert loaded.rgb.shape == (height, width, 3)
    assert loaded.rgb.dtype == np.uint8
    assert loaded.rgb.flags.c_contiguous and loaded.rgb.flags.writeable


# --- plain decoding -------------------------------------------------------------------------


def test_rgb_png_exact_pixels_from_path_str_and_bytes(tmp_path: Path) -> None:
    rgb = random_rgb(13, 7)
    path = tmp_path / "image.png"
    Image.fromarray(rgb).save(path)
    for source in (path, str(path), path.read_bytes()):
        loaded = load_image(source)
        check_rgb(loaded, 13, 7)
        np.testing.assert_array_equal(loaded.rgb, rgb)
        assert loaded.notes == ()
        assert (loaded.source_format, loaded.source_mode) == ("PNG", "RGB")


def test_one_by_one_pixel() -> None:
    loaded = load_image(encode(Image.new("RGB", (1, 1), (9, 8, 7)), "PNG"))
    check_rgb(loaded, 1, 1)
    assert loaded.rgb[0, 0].tolist() == [9, 8, 7]


def test_grayscale_l_is_expanded() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    loaded = load_image(encode(Image.fromarray(gray), "PNG"))
    assert loaded.source_mode == "L"
    np.testing.assert_array_equal(loaded.rgb, np.repeat(gray[..., None], 3, axis=2))
    assert "grayscale expanded to RGB" in loaded.notes


def test_bilevel_image() -> None:
    im = Image.new("1", (3, 2), 0)
    im.putpixel((1, 0), 1)
    loaded = load_image(encode(im, "PNG"))
    assert loaded.source_mode == "1"
    assert loaded.rgb[0, 1].tolist() == [255, 255, 255]
    assert loaded.rgb[0, 0].tolist() == [0, 0, 0]


def test_la_composited_over_white() -> None:
    im = Image.new("LA", (3, 1))
    im.putdata([(100, 255), (100, 0), (0, 128)])
    loaded = load_image(encode(im, "PNG"))
    assert loaded.source_mode == "LA"
    assert loaded.rgb[0].tolist() == [[100] * 3, [255] * 3, [127] * 3]  # 255 - 255 * 128 / 255 = 127
    assert {"grayscale expanded to RGB", ALPHA_NOTE} <= set(loaded.notes)


def test_palette_expanded() -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.putpixel((1, 0), 1)
    loaded = load_image(encode(im, "PNG"))
    assert loaded.source_mode == "P"
    assert loaded.rgb[0].tolist() == [[10, 20, 30], [200, 100, 50]]
    assert loaded.notes == ("palette expanded to RGB",)


def test_palette_with_transparent_index() -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.putpixel((1, 0), 1)
    loaded = load_image(encode(im, "PNG", transparency=0))
    assert loaded.rgb[0].tolist() == [[255, 255, 255], [200, 100, 50]]
    assert ALPHA_NOTE in loaded.notes


def test_palette_alpha_pa() -> None:
    im = Image.new("PA", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.putdata([(0, 0), (1, 255)])
    loaded = load_image(encode(im, "TIFF"))
    assert loaded.source_mode == "PA"
    assert loaded.rgb[0].tolist() == [[255, 255, 255], [200, 100, 50]]
    assert {"palette expanded to RGB", ALPHA_NOTE} <= set(loaded.notes)


def test_rgba_composited_over_white() -> None:
    im = Image.new("RGBA", (3, 1))
    im.putdata([(10, 200, 30, 255), (10, 200, 30, 0), (0, 100, 255, 51)])
    loaded = load_image(encode(im, "PNG"))
    assert loaded.source_mode == "RGBA"
    assert loaded.rgb[0, 0].tolist() == [10, 200, 30]
    assert loaded.rgb[0, 1].tolist() == [255, 255, 255]
    assert loaded.rgb[0, 2].tolist() == [204, 224, 255]  # 0.2 * c + 0.8 * 255
    assert loaded.notes == (ALPHA_NOTE,)


@pytest.mark.parametrize("mode", ["YCbCr", "LAB"])
def test_ycbcr_and_lab_converted(mode: str) -> None:
    data = encode(Image.new(mode, (2, 2), (255, 128, 128)), "TIFF")
    try:
        Image.open(io.BytesIO(data)).load()
    except OSError:  # Pillow 11.3 (pinned by gradio 5) writes uncompressed YCbCr TIFFs it cannot read back
        pytest.skip(f"this Pillow cannot read back its own uncompressed {mode} TIFF")
    loaded = load_image(data)
    assert loaded.source_mode == mode
    assert f"{mode} converted to RGB" in loaded.notes
    assert loaded.rgb.min() >= 250  # white


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF", "WEBP"])
def test_modern_formats(fmt: str) -> None:
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif")
    colour = np.array([200, 60, 30])
    loaded = load_image(encode(Image.new("RGB", (24, 16), tuple(colour)), fmt, quality=95))
    check_rgb(loaded, 16, 24)
    assert loaded.source_format == fmt
    assert np.abs(loaded.rgb.astype(int) - colour).max() <= 10


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    loaded = load_image(data)
    assert "first of 3 frames used" in loaded.notes
    assert (loaded.rgb == [255, 0, 0]).all()


# --- 16-bit and numeric modes ---------------------------------------------------------------

SIXTEEN_BIT_VALUES = np.array([0, 128, 129, 255, 32767, 32768, 32896, 65407, 65408, 65535], dtype=np.uint16)


def test_reference_rounding_differs_from_truncation() -> None:
    assert (round_16_to_8(SIXTEEN_BIT_VALUES) != SIXTEEN_BIT_VALUES >> 8).any()


def test_16bit_gray_png() -> None:
    gray = SIXTEEN_BIT_VALUES.reshape(2, 5)
    loaded = load_image(encode(Image.fromarray(gray), "PNG"))
    assert loaded.source_mode.startswith("I;16")
    np.testing.assert_array_equal(loaded.rgb, np.repeat(round_16_to_8(gray)[..., None], 3, axis=2))
    assert "16-bit samples reduced to 8-bit" in loaded.notes


@pytest.mark.parametrize("extension", [".png", ".tiff"])
def test_16bit_rgb_rounded_not_truncated(extension: str) -> None:
    rgb16 = np.stack([SIXTEEN_BIT_VALUES, SIXTEEN_BIT_VALUES[::-1], np.roll(SIXTEEN_BIT_VALUES, 3)], axis=-1)
    rgb16 = rgb16.reshape(2, 5, 3)
    ok, encoded = cv2.imencode(extension, np.ascontiguousarray(rgb16[..., ::-1]))  # OpenCV wants BGR
    assert ok
    loaded = load_image(encoded.tobytes())
    np.testing.assert_array_equal(loaded.rgb, round_16_to_8(rgb16))
    assert loaded.notes == ("16-bit samples reduced to 8-bit",)


def test_16bit_rgba_png_composited_in_16_bit() -> None:
    bgra = np.array([[[1000, 30000, 65535, 65535], [1000, 30000, 65535, 0], [0, 0, 0, 32768]]], np.uint16)
    loaded = load_image(cv2.imencode(".png", bgra)[1].tobytes())
    assert loaded.rgb[0, 0].tolist() == round_16_to_8(np.array([65535, 30000, 1000])).tolist()
    assert loaded.rgb[0, 1].tolist() == [255, 255, 255]
    assert loaded.rgb[0, 2].tolist() == [127] * 3  # 255 * (1 - 32768 / 65535) = 127.498
    assert {"16-bit samples reduced to 8-bit", ALPHA_NOTE} <= set(loaded.notes)


def test_16bit_gray_alpha_png() -> None:
    rows = [struct.pack(">HHHH", 1000, 65535, 65535, 0)]
    loaded = load_image(raw_png(2, 1, 16, 4, rows))
    assert loaded.rgb[0].tolist() == [[4] * 3, [255] * 3]  # 1000 * 255 / 65535 = 3.89


@pytest.mark.parametrize(
    ("mode", "values", "expected", "note"),
    [
        ("I", [0, 100, 255], [0, 100, 255], "I samples used as 8-bit values"),
        ("I", [0, 129, 65535], [0, 1, 255], "I samples treated as 16-bit and reduced to 8-bit"),
        (
            "I",
            [0, 100_000, 200_000],
            [0, 128, 255],
            "I samples normalized by their maximum (200000) to 8-bit",
        ),
        ("F", [-5.0, 10.4, 200.6], [0, 10, 201], "F samples used as 8-bit values"),
    ],
)
def test_integer_and_float_modes(mode: str, values: list[float], expected: list[int], note: str) -> None:
    im = Image.new(mode, (3, 1))
    im.putdata(values)
    loaded = load_image(encode(im, "TIFF"))
    assert loaded.source_mode == mode
    assert loaded.rgb[0, :, 0].tolist() == expected
    assert note in loaded.notes


# --- CMYK and orientation -------------------------------------------------------------------


@pytest.mark.parametrize("icc_profile", [None, b"not an ICC profile"])
def test_cmyk_jpeg(icc_profile: bytes | None) -> None:
    im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    params = {"quality": 95} if icc_profile is None else {"quality": 95, "icc_profile": icc_profile}
    loaded = load_image(encode(im, "JPEG", **params))
    assert (loaded.source_format, loaded.source_mode) == ("JPEG", "CMYK")
    assert np.abs(loaded.rgb.astype(int) - [255, 0, 0]).max() <= 8
    assert "CMYK converted to RGB" in loaded.notes


def test_exif_orientation_6_rotates_clockwise() -> None:
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32] = (255, 0, 0)  # left half red
    stored[:, 32:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    loaded = load_image(encode(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
    check_rgb(loaded, 64, 32)
    assert np.abs(loaded.rgb[8, 16].astype(int) - [255, 0, 0]).max() <= 8  # top is red
    assert np.abs(loaded.rgb[56, 16].astype(int) - [0, 0, 255]).max() <= 8  # bottom is blue
    assert "EXIF orientation 6 applied" in loaded.notes


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    data = encode(Image.fromarray(random_rgb(3, 5, seed=orientation)), "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    loaded = load_image(data)
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert loaded.rgb.flags.c_contiguous and loaded.rgb.flags.owndata
    assert (f"EXIF orientation {orientation} applied" in loaded.notes) == (orientation != 1)


# --- pixel limit ----------------------------------------------------------------------------


def test_pixel_limit_argument() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    expected = r"100x100 = 10000 pixels exceeds the pixel limit of 5000 pixels"
    with pytest.raises(InputError, match=expected) as info:
        load_image(data, max_pixels=5000)
    assert "PERCOMP_MAX_PIXELS" in str(info.value)
    assert info.value.exit_code == 2
    check_rgb(load_image(data, max_pixels=10_000), 100, 100)


def test_pixel_limit_checked_from_header_before_decoding() -> None:
    # 20000 x 20000 would trip Pillow's decompression-bomb error; no pixel data is needed.
    data = raw_png(20_000, 20_000, 8, 2, [])
    with pytest.raises(InputError, match=r"20000x20000 = 400\.0 MP exceeds the pixel limit of 16\.8 MP"):
        load_image(data)


def test_pixel_limit_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_pixels_from_env() == DEFAULT_MAX_PIXELS == 4096 * 4096
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    monkeypatch.setenv("PERCOMP_MAX_PIXELS", "5000")
    assert max_pixels_from_env() == 5000
    with pytest.raises(InputError, match="pixel limit"):
        load_image(data)
    check_rgb(load_image(data, max_pixels=20_000), 100, 100)  # the argument wins


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_bad_env_limit(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PERCOMP_MAX_PIXELS", value)
    with pytest.raises(InputError, match="PERCOMP_MAX_PIXELS must be a positive integer"):
        max_pixels_from_env()


# --- bad input ------------------------------------------------------------------------------


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, not an image")
    with pytest.raises(InputError, match=r"notes\.txt: not an image Pillow can read"):
        load_image(path)
    with pytest.raises(InputError, match=r"<bytes>: not an image Pillow can read"):
        load_image(b"\x00\x01garbage")


def test_empty_inputs(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(InputError, match="empty file"):
        load_image(path)
    with pytest.raises(InputError, match="empty input"):
        load_image(b"")


def test_missing_path_and_folder(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    with pytest.raises(InputError, match=f"{missing}: no such file"):
        load_image(missing)
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(fmt: str) -> None:
    data = encode(Image.fromarray(random_rgb(64, 64)), fmt)
    with pytest.raises(InputError, match="<bytes>: image data is corrupt or truncated"):
        load_image(data[: len(data) // 2])


# --- save_png -------------------------------------------------------------------------------


def test_save_png_round_trip_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    for seed in (1, 2):  # the second save replaces the first
        rgb = random_rgb(9, 11, seed)
        save_png(rgb, path)
        np.testing.assert_array_equal(load_image(path).rgb, rgb)
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_png_failure_keeps_old_file_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    save_png(random_rgb(2, 2), path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        save_png(np.zeros((2, 2), np.uint8), path)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(InputError, match="cannot write"):
        save_png(random_rgb(2, 2), tmp_path / "folder.png")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["folder.png", "out.png"]


def test_save_png_needs_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        save_png(random_rgb(2, 2), tmp_path / "missing" / "out.png")


# --- tensor helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(1, 1), (17, 33), (3, 4000), (64, 128)])
def test_pad_then_crop_round_trip(height: int, width: int) -> None:
    x = torch.rand(2, 3, height, width)
    padded = pad_to_multiple(x, 64)
    assert padded.shape[:2] == (2, 3)
    assert padded.shape[2] % 64 == 0 and padded.shape[3] % 64 == 0
    assert height <= padded.shape[2] < height + 64 and width <= padded.shape[3] < width + 64
    torch.testing.assert_close(crop_to(padded, height, width), x, rtol=0, atol=0)
    # replicated edges: padded rows repeat the last row, padded columns repeat the last column
    below, right = padded[..., height:, :width], padded[..., width:]
    torch.testing.assert_close(below, x[..., -1:, :].expand_as(below), rtol=0, atol=0)
    torch.testing.assert_close(right, padded[..., width - 1 : width].expand_as(right), rtol=0, atol=0)


def test_pad_and_crop_reject_bad_arguments() -> None:
    x = torch.zeros(1, 3, 4, 4)
    assert pad_to_multiple(x, 4) is x
    with pytest.raises(ValueError):
        pad_to_multiple(x, 0)
    with pytest.raises(ValueError):
        crop_to(x, 5, 4)


def test_tensor_round_trip_is_exact() -> None:
    rgb = np.arange(256 * 3, dtype=np.int64).reshape(16, 16, 3).astype(np.uint8)
    x = rgb_to_tensor(rgb)
    assert x.shape == (1, 3, 16, 16) and x.dtype == torch.float32 and x.is_contiguous()
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    back = tensor_to_rgb(x)
    assert back.dtype == np.uint8 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, rgb)


def test_tensor_to_rgb_clamps_and_rounds() -> None:
    x = torch.tensor([-0.5, 1.5, 0.3 / 255, 0.7 / 255, 254.6 / 255], dtype=torch.float64).reshape(1, 1, 1, 5)
    rgb = tensor_to_rgb(x.expand(1, 3, 1, 5))
    assert rgb[0, :, 0].tolist() == [0, 255, 0, 1, 255]


def test_rgb_to_tensor_accepts_read_only_arrays() -> None:
    rgb = random_rgb(2, 3)
    rgb.flags.writeable = False
    np.testing.assert_array_equal(tensor_to_rgb(rgb_to_tensor(rgb)), rgb)
