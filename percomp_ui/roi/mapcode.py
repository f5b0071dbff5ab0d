"""The ROI map in the stream: ``RM_latent`` on a coarse grid, quantized and deflated.

.. code-block:: none

    encoder: RM_latent (h×w) ─► 4×4 block mean ─► grid (h/4 × w/4, one cell per z position)
             ─► round(v·15) ─► zlib ─► coded map  ── .pcmp ROI section (α f32, grid h/w, coded map)
    decoder: coded map ─► inflate + check ─► v/15 ─► bilinear to h×w (float64) ─► RM_latent_hat

The encoder scales its latents with ``RM_latent_hat`` — the map the decoder will rebuild — so both
sides derive identical entropy-coding parameters. The bilinear resampling is separable float64
NumPy arithmetic, identical on every machine. The map's bytes are part of the file, so they count in
every reported bpp.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..container import RoiSection
from ..errors import StreamError
from .mask import MAX_ALPHA, MIN_ALPHA, latent_scale

GRID_STRIDE = 4  # latent cells per grid cell: 64 image pixels, about the 51-pixel smoothing scale
LEVELS = 16  # quantization levels of the coded map (4 bits of information per cell)


def grid_shape(latent_shape: tuple[int, int], stride: int = GRID_STRIDE) -> tuple[int, int]:
    return -(-latent_shape[0] // stride), -(-latent_shape[1] // stride)


def coarse_grid(rm_latent: np.ndarray, stride: int = GRID_STRIDE) -> np.ndarray:
    """Block means of ``rm_latent`` over ``stride``×``stride`` cells (partial edge blocks average what they hold)."""
    rows, cols = grid_shape(rm_latent.shape, stride)
    padded = np.pad(rm_latent, ((0, rows * stride - rm_latent.shape[0]), (0, cols * stride - rm_latent.shape[1])),
                    constant_values=np.nan)
    return np.nanmean(padded.reshape(rows, stride, cols, stride), axis=(1, 3))


def encode_grid(grid: np.ndarray, levels: int = LEVELS) -> bytes:
    """``levels − 1`` as one byte, then the deflated quantized cells (row-major, one byte each)."""
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in [2, 256] (got {levels})")
    top = levels - 1
    cells = np.rint(np.clip(grid, 0.0, 1.0) * top).astype(np.uint8)
    return bytes([top]) + zlib.compress(cells.tobytes(), 9)


def decode_grid(coded: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`encode_grid`; any inconsistency is a :class:`StreamError`."""
    if len(coded) < 2:
        raise StreamError("roi map is too short")
    top, count = coded[0], shape[0] * shape[1]
    if top == 0:
        raise StreamError("roi map declares a single quantization level")
    inflater = zlib.decompressobj()
    try:
        cells = inflater.decompress(coded[1:], count + 1)
    except zlib.error:
        raise StreamError("roi map is corrupt (cannot inflate)") from None
    if len(cells) != count or not inflater.eof or inflater.unused_data:
        raise StreamError(f"roi map holds the wrong number of cells (expected {shape[0]}x{shape[1]})")
    values = np.frombuffer(cells, dtype=np.uint8).reshape(shape)
    if int(values.max()) > top:
        raise StreamError(f"roi map has a cell above its top level {top}")
    return values.astype(np.float64) / top


def _resample_axis(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear resampling along one axis with pixel-centre alignment, edges clamped."""
    source = values.shape[axis]
    position = np.clip((np.arange(size, dtype=np.float64) + 0.5) * source / size - 0.5, 0.0, source - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, source - 1)
    weight = position - low
    shape = [1, 1]
    shape[axis] = size
    weight = weight.reshape(shape)
    return np.take(values, low, axis=axis) * (1.0 - weight) + np.take(values, high, axis=axis) * weight


def upsample_grid(grid: np.ndarray, latent_shape: tuple[int, int]) -> np.ndarray:
    """The decoder's ``RM_latent_hat``: the grid resampled to the latent's size (float64)."""
    return _resample_axis(_resample_axis(grid, latent_shape[0], 0), latent_shape[1], 1)


def roi_section(rm_latent: np.ndarray, alpha: float) -> RoiSection:
    """The stream's ROI section for ``RM_latent`` and α (α rounded to the float32 the stream stores)."""
    grid = coarse_grid(rm_latent)
    return RoiSection(alpha=float(np.float32(alpha)), grid_shape=grid.shape, coded_map=encode_grid(grid))


def section_scale(section: RoiSection, latent_shape: tuple[int, int], latent_channels: int) -> np.ndarray:
    """The (C, h, w) latent scale both sides apply, rebuilt from the ROI section alone."""
    if not MIN_ALPHA <= section.alpha <= MAX_ALPHA:
        raise StreamError(f"roi alpha {section.alpha:g} is outside [{MIN_ALPHA:g}, {MAX_ALPHA:g}]")
    if section.grid_shape != grid_shape(latent_shape):
        raise StreamError(f"roi grid {section.grid_shape[0]}x{section.grid_shape[1]} does not match the "
                          f"image's {grid_shape(latent_shape)[0]}x{grid_shape(latent_shape)[1]}")
    rm_latent_hat = upsample_grid(decode_grid(section.coded_map, section.grid_shape), latent_shape)
    return latent_scale(rm_latent_hat, section.alpha, latent_channels)
