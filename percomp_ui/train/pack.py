"""A compact crop set: training photos → JPEG crops within a byte budget, for machines the photos can't reach.

A GPU session's machine receives the working tree alone (64 MiB in all: ``docs/gpu-session.md``), not
``../shared/datasets/train``. The packer runs the photos through the recipe :class:`CropSampler` applies
(:func:`load_downscaled`: a random downscale in [0.5, 1], never below the crop side), cuts one random
``crop`` × ``crop`` window from each and writes it as a 4:4:4 JPEG at quality 95: about 140 KiB a
512-px crop, a third of PNG's size (quality 90 would add errors near 38 dB, too close to the top rate
levels' own). Photos are visited in a seeded random order until the budget is spent. The result is an
ordinary image folder: ``percomp train --data CROPS`` reads it like any other, taking smaller random
crops from it when ``--crop`` is below the packed size.

.. code-block:: none

    photos (shuffled, seed) ─► load_downscaled ─► one random crop × crop window ─► JPEG q95 4:4:4
                                                                                  │
                      OUT/00000.jpg … + OUT/manifest.json (sources, settings) ◄───┘ until the budget
"""
from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..errors import InputError
from ..fileio import atomic_write
from ..images import list_images
from .data import load_downscaled

MANIFEST = "manifest.json"
JPEG_QUALITY = 95


def crop_window(shape: tuple[int, ...], crop: int, rng: random.Random) -> tuple[int, int]:
    """(top, left) of a uniformly random ``crop`` × ``crop`` window inside an image of ``shape``."""
    return rng.randint(0, shape[0] - crop), rng.randint(0, shape[1] - crop)


def encode_crop(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """A 4:4:4 JPEG (no chroma subsampling, optimised Huffman tables) of an RGB uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buffer.getvalue()


def pack_crops(folders: Sequence[Path], out: Path, crop: int, budget_bytes: int, seed: int = 0,
               quality: int = JPEG_QUALITY) -> dict[str, Any]:
    """Write crops of the photos under ``folders`` into the new folder ``out`` while their bytes fit in
    ``budget_bytes`` (the small manifest written beside them is not counted); returns the manifest."""
    if crop < 64 or crop % 64:
        raise InputError(f"crop must be a multiple of 64, at least 64 (got {crop})")
    if budget_bytes <= 0:
        raise InputError(f"the budget must be positive (got {budget_bytes} bytes)")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty: give a new folder (nothing is overwritten)")
    rng = random.Random(seed)
    photos = list_images(folders)
    rng.shuffle(photos)
    out.mkdir(parents=True, exist_ok=True)
    crops: dict[str, str] = {}
    spent, too_small = 0, 0
    for photo in photos:
        rgb = load_downscaled(photo, crop, rng)
        if min(rgb.shape[:2]) < crop:
            too_small += 1
            continue
        top, left = crop_window(rgb.shape, crop, rng)
        data = encode_crop(np.ascontiguousarray(rgb[top:top + crop, left:left + crop]), quality)
        if spent + len(data) > budget_bytes:
            break
        name = f"{len(crops):05d}.jpg"
        atomic_write(out / name, data)
        crops[name] = str(photo)
        spent += len(data)
    if not crops:
        raise InputError(f"no photo of at least {crop}×{crop} px fits in {budget_bytes} bytes")
    manifest = {"crop": crop, "quality": quality, "subsampling": "4:4:4", "seed": seed, "count": len(crops),
                "bytes": spent, "budget_bytes": budget_bytes, "photos_too_small": too_small,
                "photos_available": len(photos), "sources": [str(f) for f in folders], "crops": crops}
    atomic_write(out / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest
