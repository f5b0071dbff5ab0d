"""Seed 003 eqs. 1, 2, 5, 6 and 7 (percomp_ui.roi.mask) against hand-computed small cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from percomp_ui.errors import InputError
from percomp_ui.roi.mask import (
    RoiRequest, check_alpha, detection_logits, latent_mask, latent_scale, masks_from_source,
    protected_channels, sigmoid_mask, smooth_mask,
)


def test_eq1_sigmoid_of_the_detection_logit() -> None:
    logits = np.array([[-2.0, 0.0, 3.0]])
    expected = [1 / (1 + math.exp(2.0)), 0.5, 1 / (1 + math.exp(-3.0))]
    np.testing.assert_allclose(sigmoid_mask(logits)[0], expected, rtol=1e-6)
    # A probability-like source map becomes a logit centred on ½.
    np.testing.assert_allclose(detection_logits(np.array([0.0, 0.5, 1.0]), sharpness=10), [-5, 0, 5])


def test_eq2_all_ones_kernel_mean_with_in_image_normalisation() -> None:
    mask = np.zeros((5, 5), np.float32)
    mask[2, 2] = 1.0
    smoothed = smooth_mask(mask, kernel=3)
    # interior: the 3x3 mean of a single 1 is 1/9; the window at (1, 1) also covers it
    assert smoothed[2, 2] == pytest.approx(1 / 9)
    assert smoothed[1, 1] == pytest.approx(1 / 9)
    assert smoothed[0, 0] == 0.0
    corner = np.zeros((4, 4), np.float32)
    corner[0, 0] = 1.0
    # at the corner the window holds 4 in-image pixels, so the mean is 1/4, not 1/9
    assert smooth_mask(corner, kernel=3)[0, 0] == pytest.approx(1 / 4)
    np.testing.assert_allclose(smooth_mask(np.ones((60, 70), np.float32)), 1.0, rtol=1e-6)


def test_eq2_default_kernel_is_51() -> None:
    mask = np.zeros((101, 101), np.float32)
    mask[50, 50] = 1.0
    smoothed = smooth_mask(mask)
    assert smoothed[50, 50] == pytest.approx(1 / 51**2)
    assert smoothed[50, 75] == pytest.approx(1 / 51**2) and smoothed[50, 76] == 0.0


def test_eq5_average_pool_with_stride_16_and_edge_padding() -> None:
    mask = np.zeros((20, 40), np.float32)
    mask[:16, :16] = 1.0
    mask[:, 32:] = 0.5
    pooled = latent_mask(mask, (2, 3))
    assert pooled.shape == (2, 3)
    assert pooled[0, 0] == pytest.approx(1.0)
    assert pooled[0, 1] == pytest.approx(0.0)
    assert pooled[0, 2] == pytest.approx(0.5)  # columns 32..39 hold 0.5 and 40..47 replicate column 39
    # rows 16..19 are real, rows 20..31 replicate row 19 (all zeros in the first 32 columns)
    assert pooled[1, 0] == pytest.approx(0.0)


def test_eq5_padding_replicates_the_edge() -> None:
    mask = np.zeros((16, 20), np.float32)
    mask[:, 19] = 1.0
    # the second latent column covers image columns 16..31: 16..18 are 0, 19 is 1, 20..31 copy column 19
    assert latent_mask(mask, (1, 2))[0, 1] == pytest.approx(13 / 16)


def test_eqs6_7_scale_and_protected_channels() -> None:
    rm_latent = np.array([[0.0, 0.5, 1.0]])
    scale = latent_scale(rm_latent, alpha=0.5, latent_channels=8)
    assert scale.shape == (8, 1, 3)
    assert protected_channels(8) == 2 and protected_channels(192) == 48 and protected_channels(24) == 6
    np.testing.assert_allclose(scale[:2], 1.0)  # eq. 7: the first M/4 channels are protected
    np.testing.assert_allclose(scale[2:, 0], [[1.0, 2.0, 3.0]] * 6)  # eq. 6: (RM + α) / α
    stronger = latent_scale(rm_latent, alpha=0.25, latent_channels=8)
    assert (stronger[2:, 0, 2] > scale[2:, 0, 2]).all()  # a smaller α magnifies the ROI more


def test_alpha_bounds() -> None:
    for bad in (0.0, -1.0, math.nan, math.inf, 1000.0, "1"):
        with pytest.raises(InputError, match="alpha"):
            check_alpha(bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="alpha"):
        RoiRequest(np.zeros((4, 4), np.float32), alpha=0.0)


def test_pipeline_stages_are_in_range_and_ordered() -> None:
    source = np.zeros((120, 160), np.float32)
    source[30:90, 40:120] = 1.0
    masks = masks_from_source(source)
    for stage in (masks.saliency, masks.mask, masks.smoothed):
        assert stage.shape == source.shape and stage.dtype == np.float32
        assert 0.0 <= stage.min() and stage.max() <= 1.0
    assert masks.mask[60, 80] > 0.99 and masks.mask[0, 0] < 0.01
    assert masks.smoothed[60, 80] > 0.95 and masks.smoothed[0, 0] < 0.05
    # the smoothing makes the boundary a ramp
    row = masks.smoothed[60, :80]
    assert np.all(np.diff(row) >= -1e-6) and 0.3 < row[40] < 0.7
