"""Image input/output for the codec: decode any image file to RGB uint8, write PNGs atomically,
and convert between RGB arrays and the N,C,H,W float tensors the models use.

``load_image`` is the single entry point for user images. It checks the pixel count from the
header before any pixel is decoded, applies the EXIF orientation, and converts every Pillow mode
to 8-bit RGB, recording each conversion as a one-line note for the user. Colour images with 16-bit
samples (PNG, TIFF) are decoded with OpenCV, because Pillow truncates them to their high byte.

Importing this module disables Pillow's own decompression-bomb check (``Image.MAX_IMAGE_PIXELS``)
process-wide: ``load_image`` applies its own, configurable limit at the same point instead.
"""
from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from percomp_ui.errors import InputError
from percomp_ui.fileio import atomic_write

try:
    from pillow_heif import register_heif_opener
except ImportError:  # HEIC input is optional
    pass
else:
    register_heif_opener()

Image.MAX_IMAGE_PIXELS = None  # replaced by the limit in load_image

DEFAULT_MAX_PIXELS: int = 4096 * 4096
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm",
                            ".heic", ".heif", ".avif"})
MAX_PIXELS_ENV = "PERCOMP_MAX_PIXELS"

_BYTES_NAME = "<bytes>"
_PNG_BIT_DEPTH_OFFSET = 24  # 8-byte signature, IHDR length and type, width, height, then bit depth
_ALPHA_NOTE = "alpha channel dropped (composited over white)"
_SIXTEEN_BIT_NOTE = "16-bit samples reduced to 8-bit"
_GRAY_NOTE = "grayscale expanded to RGB"
_MODE_NOTES = {
    "1": "bilevel (1-bit) image expanded to RGB",
    "L": _GRAY_NOTE,
    "LA": _GRAY_NOTE,
    "P": "palette expanded to RGB",
    "PA": "palette expanded to RGB",
    "RGB": None,
    "RGBA": None,
}
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
# Errors Pillow's decoders raise on damaged data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
# Array equivalents of PIL.ImageOps.exif_transpose for EXIF orientations 2..8.
_ORIENTATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image and what was done to turn the file into 8-bit RGB."""

    rgb: np.ndarray  # H x W x 3, uint8, C-contiguous, writeable
    notes: tuple[str, ...]  # one line per conversion applied
    source_format: str  # Pillow format name, e.g. "PNG", "JPEG"
    source_mode: str  # Pillow mode of the file as opened, e.g. "RGBA", "I;16", "CMYK", "P"


def max_pixels_from_env() -> int:
    """Return the pixel limit: ``$PERCOMP_MAX_PIXELS`` if set (a positive integer), else the default."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{MAX_PIXELS_ENV} must be a positive integer, got {raw!r}")
    return value


def load_image(source: str | os.PathLike[str] | bytes, max_pixels: int | None = None) -> LoadedImage:
    """Decode an image file (a path or its raw bytes) to 8-bit RGB.

    ``max_pixels`` defaults to ``max_pixels_from_env()``. Raises ``InputError`` for missing, empty,
    unreadable, corrupt or oversized images.
    """
    limit = max_pixels_from_env() if max_pixels is None else max_pixels
    if limit < 1:
        raise InputError(f"the pixel limit must be a positive integer, got {limit}")
    with _open_source(source) as (name, fp), _open_image(fp, name) as im:
        _check_pixel_limit(name, im.size, limit)
        notes = _load_first_frame(im, name)
        orientation = _exif_orientation(im, notes)
        rgb = _decode_rgb(im, fp, name, notes)
        source_format, source_mode = im.format or "unknown", im.mode
    if orientation in _ORIENTATIONS:
        rgb = _ORIENTATIONS[orientation](rgb)
        notes.append(f"EXIF orientation {orientation} applied")
    rgb = np.require(rgb, np.uint8, ["C_CONTIGUOUS", "WRITEABLE", "OWNDATA"])
    return LoadedImage(rgb, tuple(notes), source_format, source_mode)


def list_images(folders: Sequence[str | os.PathLike[str]], recursive: bool = True) -> list[Path]:
    """Image files (by suffix) under ``folders``, sorted per folder; InputError when there are none."""
    paths = []
    for folder in map(Path, folders):
        candidates = folder.rglob("*") if recursive else folder.iterdir()
        paths += sorted(p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"no image files in {', '.join(map(str, folders))}")
    return paths


def save_png(rgb: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write an H x W x 3 uint8 array as a PNG, atomically (see :func:`percomp_ui.fileio.atomic_write`)."""
    atomic_write(path, encode_png(rgb))


def encode_png(rgb: np.ndarray, compress_level: int = 6) -> bytes:
    """Lossless PNG bytes of an H x W x 3 uint8 array; ``compress_level`` 0-9 trades time for size
    (zlib's levels: at 768×512, level 1 takes a quarter of level 6's time for a file 10 % larger)."""
    _check_rgb_array(rgb)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad an N,C,H,W tensor at the bottom and right by edge replication so that H and W are
    multiples of ``multiple``. Returns ``x`` itself when no padding is needed."""
    if x.ndim != 4 or multiple < 1:
        raise ValueError(f"expected an N,C,H,W tensor and multiple >= 1, got {tuple(x.shape)}, {multiple}")
    pad_h, pad_w = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Keep the top-left ``height`` x ``width`` of an N,C,H,W tensor (undoes ``pad_to_multiple``).
    Returns a view."""
    if not (1 <= height <= x.shape[-2] and 1 <= width <= x.shape[-1]):
        raise ValueError(f"cannot crop {tuple(x.shape)} to {height}x{width}")
    return x[..., :height, :width]


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 array -> 1 x 3 x H x W float32 tensor in [0, 1]."""
    _check_rgb_array(rgb)
    x = torch.tensor(np.ascontiguousarray(rgb), dtype=torch.float32)  # a copy: read-only or flipped arrays are fine
    return x.permute(2, 0, 1).unsqueeze(0).contiguous().div_(255)


def tensor_to_rgb(x: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W float tensor -> H x W x 3 uint8 array; clamps to [0, 1], rounds half to even."""
    if x.ndim != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"expected a 1 x 3 x H x W tensor, got {tuple(x.shape)}")
    x = x.detach().to(device="cpu", dtype=torch.float32)
    quantized = torch.round(x.clamp(0, 1) * 255).to(torch.uint8)
    return np.ascontiguousarray(quantized[0].permute(1, 2, 0).numpy())


def _check_rgb_array(rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 array, got {rgb.dtype} {rgb.shape}")


@contextmanager
def _open_source(source: str | os.PathLike[str] | bytes) -> Iterator[tuple[str, BinaryIO]]:
    """Yield a display name and a binary file object for a path or raw bytes."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise InputError(f"{_BYTES_NAME}: empty input")
        yield _BYTES_NAME, io.BytesIO(source)
        return
    name = os.fspath(source)
    path = Path(name)
    if path.is_dir():
        raise InputError(f"{name}: is a folder, not an image file")
    if not path.exists():
        raise InputError(f"{name}: no such file")
    if not path.is_file():
        raise InputError(f"{name}: not a regular file")
    try:
        file = path.open("rb")
    except OSError as error:
        raise InputError(f"{name}: cannot read ({error.strerror or error})") from error
    with file:
        if os.fstat(file.fileno()).st_size == 0:
            raise InputError(f"{name}: empty file")
        yield name, file


@contextmanager
def _open_image(fp: BinaryIO, name: str) -> Iterator[Image.Image]:
    """Open lazily (header only) with Pillow, turning any failure into an ``InputError``."""
    try:
        im = Image.open(fp)
    except UnidentifiedImageError as error:
        raise InputError(f"{name}: not an image Pillow can read (unrecognized format)") from error
    except _DECODE_ERRORS as error:
        raise InputError(f"{name}: not an image Pillow can read ({error})") from error
    with im:
        yield im


def _check_pixel_limit(name: str, size: tuple[int, int], limit: int) -> None:
    width, height = size
    if width * height > limit:
        raise InputError(
            f"{name}: {width}x{height} = {_pixel_count(width * height)} exceeds the pixel limit of "
            f"{_pixel_count(limit)} (set {MAX_PIXELS_ENV} or --max-pixels to raise it)"
        )


def _pixel_count(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels} pixels"


def _load_first_frame(im: Image.Image, name: str) -> list[str]:
    """Decode the pixels of the first frame; return the initial notes."""
    try:
        frames = getattr(im, "n_frames", 1)
        im.load()
    except _DECODE_ERRORS as error:
        raise InputError(f"{name}: image data is corrupt or truncated ({error})") from error
    return [f"first of {frames} frames used"] if frames > 1 else []


def _exif_orientation(im: Image.Image, notes: list[str]) -> int:
    """The EXIF orientation tag (1 = as stored), read the same way as ImageOps.exif_transpose."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:
        notes.append("EXIF data unreadable, orientation not applied")
        return 1
    return orientation if isinstance(orientation, int) else 1


def _decode_rgb(im: Image.Image, fp: BinaryIO, name: str, notes: list[str]) -> np.ndarray:
    """Convert the loaded first frame to an H x W x 3 uint8 array, appending a note per conversion."""
    bits = _bits_per_sample(im, fp)
    if bits == 16 and im.mode in ("RGB", "RGBA", "LA"):  # Pillow kept only the high byte
        return _decode_16bit_color(fp, name, notes)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _numeric_gray_to_rgb(im, bits == 16 or im.mode.startswith("I;16"), notes)
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im, notes)
    note = _MODE_NOTES.get(im.mode, f"{im.mode} converted to RGB")
    if note:
        notes.append(note)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        notes.append(_ALPHA_NOTE)
        rgba = np.asarray(_convert(im, "RGBA", name))
        return _composite_over_white(rgba[..., :3], rgba[..., 3], 255)
    return np.asarray(im if im.mode == "RGB" else _convert(im, "RGB", name))


def _convert(im: Image.Image, mode: str, name: str) -> Image.Image:
    try:
        return im.convert(mode)
    except ValueError as error:  # a mode this Pillow cannot convert
        raise InputError(f"{name}: cannot convert {im.mode} pixels to {mode} ({error})") from error


def _bits_per_sample(im: Image.Image, fp: BinaryIO) -> int:
    """Bits per sample declared in the file (PNG IHDR or TIFF tag); 8 for other formats."""
    if im.format == "PNG":
        fp.seek(_PNG_BIT_DEPTH_OFFSET)
        return fp.read(1)[0]
    if im.format == "TIFF":
        return max(im.tag_v2.get(258, (8,)))  # 258 = BitsPerSample
    return 8


def _decode_16bit_color(fp: BinaryIO, name: str, notes: list[str]) -> np.ndarray:
    """Decode a 16-bit colour PNG/TIFF with OpenCV and round it (not truncate it) to 8 bits."""
    fp.seek(0)
    bgr = cv2.imdecode(np.frombuffer(fp.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.dtype != np.uint16 or bgr.ndim != 3 or bgr.shape[2] not in (3, 4):
        raise InputError(f"{name}: image data is corrupt or truncated (OpenCV cannot decode it)")
    notes.append(_SIXTEEN_BIT_NOTE)
    alpha = None
    if bgr.shape[2] == 4:
        alpha = bgr[..., 3]
        notes.append(_ALPHA_NOTE)
    return _composite_over_white(bgr[..., 2::-1], alpha, 65535)


def _composite_over_white(color: np.ndarray, alpha: np.ndarray | None, max_value: int) -> np.ndarray:
    """Composite integer samples in [0, max_value] over white and rescale to uint8, rounding to
    nearest in exact integer arithmetic."""
    denominator = max_value if alpha is None else max_value * max_value
    work = np.int64 if denominator * 256 >= 2**31 else np.int32
    numerator = color.astype(work)
    if alpha is not None:
        a = alpha.astype(work)[..., None]
        numerator = numerator * a + max_value * (max_value - a)
    return ((numerator * 255 + denominator // 2) // denominator).astype(np.uint8)


def _numeric_gray_to_rgb(im: Image.Image, sixteen_bit: bool, notes: list[str]) -> np.ndarray:
    """Rescale one-channel integer or float samples ("I;16*", "I", "F") to 8-bit gray, then RGB."""
    values = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    values = np.maximum(values, 0.0)
    peak = float(values.max())
    if sixteen_bit:
        scale, note = 65535.0, _SIXTEEN_BIT_NOTE
    elif peak <= 255:
        scale, note = 255.0, f"{im.mode} samples used as 8-bit values"
    elif peak <= 65535:
        scale, note = 65535.0, f"{im.mode} samples treated as 16-bit and reduced to 8-bit"
    else:
        scale, note = peak, f"{im.mode} samples normalized by their maximum ({peak:g}) to 8-bit"
    notes.extend([note, _GRAY_NOTE])
    gray = np.rint(np.minimum(values, scale) * (255.0 / scale)).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _cmyk_to_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert CMYK to sRGB through the embedded ICC profile when usable, else Pillow's formula."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(im, source_profile, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
        else:
            notes.append("CMYK converted to RGB (embedded ICC profile)")
            return np.asarray(rgb)
    notes.append("CMYK converted to RGB")
    return np.asarray(im.convert("RGB"))
