"""ROI training (seed 003 eqs. 3-7): random masks made as at inference, the ROI loss, and an exported
ROI checkpoint whose ROI streams decode."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from percomp_ui.codec import LearnedCodec
from percomp_ui.roi.mask import RoiRequest, masks_from_source
from percomp_ui.train.losses import roi_rate_distortion_loss
from percomp_ui.train.roi_masks import RoiMaskSampler
from percomp_ui.train.trainer import Trainer
from test_train import image_folder, tiny_config  # noqa: F401 - the fixture is used by name


def test_sampler_masks_and_scales_match_the_inference_path() -> None:
    sampler = RoiMaskSampler(latent_channels=24, alpha_range=(0.5, 2.0), seed=3)
    x = torch.rand(16, 3, 64, 64)
    batch = sampler.batch(x)
    assert batch.mask_2d.shape == (16, 1, 64, 64) and batch.scale.shape == (16, 24, 4, 4)
    assert 0 <= float(batch.mask_2d.min()) and float(batch.mask_2d.max()) <= 1
    assert ((0.5 <= batch.alphas) & (batch.alphas <= 2.0)).all()
    assert torch.all(batch.scale[:, :6] == 1)  # eq. 7: 6 of 24 channels protected
    assert torch.all(batch.scale >= 1) and float(batch.scale.max()) <= 1 + 1 / 0.5 + 1e-6
    assert len({round(float(m.mean()), 3) for m in batch.mask_2d}) > 3  # varied masks


def test_roi_loss_weights_errors_by_region() -> None:
    x = torch.full((1, 3, 64, 64), 0.5)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32] = 1.0
    likelihoods = {"y": torch.ones(1, 4, 4, 4)}
    damaged_roi, damaged_bg = x.clone(), x.clone()
    damaged_roi[..., :32] += 0.2
    damaged_bg[..., 32:] += 0.2
    lam = torch.tensor([100.0])
    roi = roi_rate_distortion_loss(damaged_roi, x, likelihoods, lam, mask, background_weight=0.01)
    bg = roi_rate_distortion_loss(damaged_bg, x, likelihoods, lam, mask, background_weight=0.01)
    assert float(roi["roi_mse"]) == pytest.approx(0.5 * 0.04)  # eq. 3: MSE where the mask is, over all pixels
    assert float(bg["roi_mse"]) == 0.0
    assert float(roi["bg_ms_ssim"]) == pytest.approx(1.0)  # eq. 4 sees background errors only
    assert float(bg["bg_ms_ssim"]) < 1.0


def test_roi_training_learns_and_exports_a_roi_checkpoint(image_folder: Path, tmp_path: Path) -> None:  # noqa: F811
    trainer = Trainer(tmp_path / "run", tiny_config(image_folder, roi=True, export_name="roi-tiny"))
    torch.manual_seed(1)
    x = torch.rand(2, 3, 64, 64)
    losses = [trainer.train_step(x)["loss"] for _ in range(20)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    result = trainer.export(tmp_path / "zoo", None)
    card = json.loads((tmp_path / "zoo" / "roi-tiny.json").read_text())
    assert card["roi"] is True and "eqs. 3–4" in card["training"]["loss"]
    assert "LPIPS" in card["training"]["loss"]  # λ_p asked for: used, or why it was dropped
    codec = LearnedCodec.from_zoo("roi-tiny", tmp_path / "zoo")
    image = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    source = np.zeros((64, 96), np.float32)
    source[:, :48] = 1
    encoded = codec.encode(image, 5.0, RoiRequest(masks_from_source(source).smoothed, 0.5))
    np.testing.assert_array_equal(codec.decode(encoded.data), codec.reconstruct(encoded))
    assert result is not None
