"""Seed 003 §2.2: a region-of-interest map → the smoothed ROI mask → the per-latent scale.

.. code-block:: none

    source map p ∈ [0,1] ─► Detection = k·(p − ½) ─► σ (eq. 1) ─► 51×51 box mean (eq. 2) = RM_2D
    RM_2D ─► AvgPool stride 16 (eq. 5) = RM_latent ─► (RM_latent + α)/α on channels ≥ P (eqs. 6–7)

Every function here is pure; :mod:`percomp_ui.roi.mapcode` carries ``RM_latent`` in the stream so the
decoder rebuilds the very same scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

SMOOTHING_KERNEL = 51  # §2.2.1: "the filter size is 51, and weights are all set to 1"
LATENT_STRIDE = 16  # §2.2.3: AvgPool with stride 16 (the analysis transform's downsampling)
PROTECTED_CHANNELS = 48  # §2.2.3: "the first 48 feature maps are protected" (of M = 192)
REFERENCE_LATENT_CHANNELS = 192
DETECTION_SHARPNESS = 10.0  # logit slope that turns a probability-like source map into Detection(x)
DEFAULT_ALPHA = 1.0
MIN_ALPHA, MAX_ALPHA = 0.05, 100.0


@dataclass(frozen=True)
class RoiMasks:
    """The three stages the app shows: the source map, eq. 1 and eq. 2 (all H×W float32 in [0, 1])."""

    saliency: np.ndarray
    mask: np.ndarray
    smoothed: np.ndarray


@dataclass(frozen=True)
class RoiRequest:
    """What an encoder needs to apply seed 003's ROI: ``RM_2D`` at the image's size and α."""

    mask_2d: np.ndarray
    alpha: float = DEFAULT_ALPHA

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.mask_2d.ndim != 2 or not np.isfinite(self.mask_2d).all():
            raise InputError("ROI mask must be a finite 2-D array")


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or not MIN_ALPHA <= alpha <= MAX_ALPHA:
        raise InputError(f"alpha must be a number in [{MIN_ALPHA:g}, {MAX_ALPHA:g}] (got {alpha!r})")
    return float(alpha)


def detection_logits(probability: np.ndarray, sharpness: float = DETECTION_SHARPNESS) -> np.ndarray:
    """Detection(x) for a probability-like source map: a logit centred on ½ (a DNN gives logits itself)."""
    return sharpness * (probability.astype(np.float64) - 0.5)


def sigmoid_mask(logits: np.ndarray) -> np.ndarray:
    """Eq. 1: Mask_2D = σ(Detection(x))."""
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))).astype(np.float32)


def smooth_mask(mask: np.ndarray, kernel: int = SMOOTHING_KERNEL) -> np.ndarray:
    """Eq. 2: RM_2D = Smooth_conv(Mask_2D), an all-ones kernel normalised to a mean.

    Near the border the mean runs over the part of the window inside the image (the all-ones
    convolution divided by the same convolution of an all-ones image), so edges are not darkened.
    """
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"smoothing kernel must be odd and positive (got {kernel})")
    source = mask.astype(np.float64)
    ones = np.ones_like(source)
    size = (kernel, kernel)
    total = cv2.boxFilter(source, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(ones, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return np.clip(total / count, 0.0, 1.0).astype(np.float32)


def latent_mask(mask_2d: np.ndarray, latent_shape: tuple[int, int], stride: int = LATENT_STRIDE) -> np.ndarray:
    """Eq. 5: RM_latent = AvgPool_16(RM_2D), on the image padded (edge-replicated) as the codec pads it."""
    height, width = latent_shape[0] * stride, latent_shape[1] * stride
    if mask_2d.shape[0] > height or mask_2d.shape[1] > width:
        raise ValueError(f"mask {mask_2d.shape} is larger than the latent grid covers ({height}, {width})")
    padded = np.pad(mask_2d.astype(np.float64),
                    ((0, height - mask_2d.shape[0]), (0, width - mask_2d.shape[1])), mode="edge")
    return padded.reshape(latent_shape[0], stride, latent_shape[1], stride).mean(axis=(1, 3))


def protected_channels(latent_channels: int, protected: int = PROTECTED_CHANNELS) -> int:
    """Eq. 7's channel count scaled to a model with ``latent_channels`` (48 of 192 → a quarter)."""
    return round(latent_channels * protected / REFERENCE_LATENT_CHANNELS)


def latent_scale(rm_latent: np.ndarray, alpha: float, latent_channels: int,
                 protected: int | None = None) -> np.ndarray:
    """Eqs. 6–7: the factor each latent is multiplied by, shape (C, h, w), float32.

    Eq. 6: Latent_ROI = ((RM_latent + α) / α) ⊙ Latent — ROI latents are magnified, so they are
    quantized more finely and take more bits; a smaller α gives the ROI more. Eq. 7: the first
    ``protected`` channels keep a factor of 1 (Latent[:P] ‖ scaled Latent[P:]) so the background
    keeps its texture.
    """
    alpha = check_alpha(alpha)
    count = protected_channels(latent_channels) if protected is None else protected
    scale = ((rm_latent.astype(np.float64) + alpha) / alpha).astype(np.float32)  # eq. 6
    factors = np.broadcast_to(scale, (latent_channels, *scale.shape)).copy()
    factors[:count] = 1.0  # eq. 7
    return factors


def masks_from_source(source_map: np.ndarray, kernel: int = SMOOTHING_KERNEL) -> RoiMasks:
    """Source map → eq. 1 → eq. 2."""
    mask = sigmoid_mask(detection_logits(source_map))
    return RoiMasks(saliency=source_map.astype(np.float32), mask=mask, smoothed=smooth_mask(mask, kernel))


def roi_masks(rgb: np.ndarray, source: str = "auto", painted: np.ndarray | Path | None = None) -> RoiMasks:
    """The full seed-003 mask pipeline for an image and a ROI source (see :mod:`.sources`)."""
    from .sources import source_map

    return masks_from_source(source_map(rgb, source, painted=painted))
