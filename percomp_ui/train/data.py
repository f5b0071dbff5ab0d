"""Training crops from image folders, held in memory (decoding JPEGs every step would starve 2 cores)."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from ..images import list_images

def load_downscaled(path: Path, min_side: int, rng: random.Random) -> np.ndarray:
    """RGB uint8, downscaled by a random factor in [0.5, 1] (never below ``min_side``).

    Downscaling with antialiasing hides the JPEG artifacts of the sources, so the codec does not
    spend capacity learning to reproduce them (a common recipe since Ballé et al. 2017).
    """
    with Image.open(path) as im:
        im = im.convert("RGB")
        short = min(im.size)
        scale = max(rng.uniform(0.5, 1.0), min(1.0, min_side / short))
        if scale < 1.0:
            size = (max(min_side, round(im.width * scale)), max(min_side, round(im.height * scale)))
            im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(im, dtype=np.uint8).copy()


class CropSampler:
    """Random crops with horizontal flips from in-memory images, as float batches in [0, 1]."""

    def __init__(self, folders: Sequence[Path], crop: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.crop = crop
        self.images = [im for im in (load_downscaled(p, crop, rng) for p in list_images(folders))
                       if min(im.shape[:2]) >= crop]
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, size: int) -> torch.Tensor:
        out = np.empty((size, self.crop, self.crop, 3), dtype=np.uint8)
        for i in range(size):
            im = self.images[self.rng.integers(len(self.images))]
            top = self.rng.integers(im.shape[0] - self.crop + 1)
            left = self.rng.integers(im.shape[1] - self.crop + 1)
            patch = im[top:top + self.crop, left:left + self.crop]
            out[i] = patch[:, ::-1] if self.rng.random() < 0.5 else patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)

    def batches(self, size: int) -> Iterator[torch.Tensor]:
        while True:
            yield self.batch(size)


def load_validation(folder: Path, count: int) -> list[torch.Tensor]:
    """The first ``count`` images of a folder as 1×3×H×W tensors (cropped to multiples of 64)."""
    tensors = []
    for path in list_images([folder])[:count]:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        h, w = arr.shape[0] // 64 * 64, arr.shape[1] // 64 * 64
        tensors.append(torch.from_numpy(arr[:h, :w].copy()).permute(2, 0, 1)[None].float().div_(255.0))
    return tensors
