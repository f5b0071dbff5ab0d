"""Training masks for the ROI model (seed 003): masks that generalise, made exactly as at inference.

Per crop one kind is drawn — empty, full, 1–3 random soft ellipses (faces, objects), 1–4 thin
rectangles (text lines), or the crop's own fine-grained saliency — then the inference path runs on it:
eq. 1 (sigmoid), eq. 2 (51×51 smoothing), eq. 5 (AvgPool 16), the stream's coarse quantized map and
eqs. 6–7 with an α drawn log-uniformly per crop. So the network trains on the very latent scale the
decoder will rebuild from a ``.pcmp`` file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from ..roi.mapcode import roi_section, section_scale
from ..roi.mask import latent_mask, masks_from_source

MASK_KINDS = ("empty", "full", "ellipses", "text-lines", "saliency")
MASK_KIND_WEIGHTS = (0.1, 0.1, 0.35, 0.2, 0.25)


@dataclass(frozen=True)
class RoiBatch:
    mask_2d: Tensor  # (B, 1, H, W) RM_2D, for the eq. 3–4 loss
    scale: Tensor  # (B, M, H/16, W/16) latent scale, eqs. 6–7 from the coded map
    alphas: Tensor  # (B,)


class RoiMaskSampler:
    def __init__(self, latent_channels: int, alpha_range: tuple[float, float], seed: int = 0) -> None:
        self.latent_channels = latent_channels
        self.log_alpha = (math.log(alpha_range[0]), math.log(alpha_range[1]))
        self.rng = np.random.default_rng(seed)

    def source(self, rgb: np.ndarray) -> np.ndarray:
        """One random source map in [0, 1] for an H×W×3 uint8 crop."""
        height, width = rgb.shape[:2]
        kind = self.rng.choice(MASK_KINDS, p=MASK_KIND_WEIGHTS)
        canvas = np.zeros((height, width), np.float32)
        if kind == "full":
            canvas[:] = 1.0
        elif kind == "ellipses":
            for _ in range(self.rng.integers(1, 4)):
                center = (int(self.rng.integers(width)), int(self.rng.integers(height)))
                axes = (int(self.rng.uniform(0.1, 0.45) * width), int(self.rng.uniform(0.1, 0.45) * height))
                cv2.ellipse(canvas, center, axes, float(self.rng.uniform(0, 180)), 0, 360, 1.0, -1)
        elif kind == "text-lines":
            for _ in range(self.rng.integers(1, 5)):
                line_h = int(self.rng.uniform(0.06, 0.2) * height)
                top, left = int(self.rng.integers(height - line_h)), int(self.rng.integers(width // 2))
                canvas[top:top + line_h, left:left + int(self.rng.uniform(0.3, 1.0) * (width - left))] = 1.0
        elif kind == "saliency":
            from ..roi.sources import fine_grained_saliency

            canvas = fine_grained_saliency(rgb)
        return canvas

    def batch(self, x: Tensor) -> RoiBatch:
        """Masks, latent scales and α for a (B, 3, H, W) batch in [0, 1] (H, W multiples of 16)."""
        crops = (x.detach().cpu().permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
        latent_shape = (x.shape[-2] // 16, x.shape[-1] // 16)
        masks, scales, alphas = [], [], []
        for rgb in crops:
            smoothed = masks_from_source(self.source(rgb)).smoothed
            alpha = math.exp(self.rng.uniform(*self.log_alpha))
            section = roi_section(latent_mask(smoothed, latent_shape), alpha)
            masks.append(torch.from_numpy(smoothed))
            scales.append(torch.from_numpy(section_scale(section, latent_shape, self.latent_channels)))
            alphas.append(section.alpha)
        return RoiBatch(torch.stack(masks)[:, None], torch.stack(scales), torch.tensor(alphas))
