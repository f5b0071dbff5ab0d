"""Encoder-side latent refinement (``percomp_ui.nn.refine``) and the codec's ``refine_steps``."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from percomp_ui.codec import LearnedCodec
from percomp_ui.container import unpack
from percomp_ui.errors import InputError
from percomp_ui.nn.gain import lambda_at_rate
from percomp_ui.nn.refine import distortion_weight, refine_latent, refinement_loss
from percomp_ui.roi.mask import RoiRequest

REFINE_STEPS = 6


@pytest.fixture(scope="module")
def refining(tiny_zoo) -> LearnedCodec:
    return LearnedCodec.from_zoo("tiny", tiny_zoo, refine_steps=REFINE_STEPS)


def test_lambda_at_rate_is_log_linear_between_levels() -> None:
    lambdas = [16.0, 64.0, 1024.0]
    assert lambda_at_rate(lambdas, 0.0) == pytest.approx(16.0)
    assert lambda_at_rate(lambdas, 1.0) == pytest.approx(64.0)
    assert lambda_at_rate(lambdas, 2.0) == pytest.approx(1024.0)
    assert lambda_at_rate(lambdas, 0.5) == pytest.approx(32.0)  # the geometric mean of 16 and 64
    assert lambda_at_rate(lambdas, 1.25) == pytest.approx(64.0 * 2.0)  # a quarter of the way from 2^6 to 2^10
    with pytest.raises(ValueError):
        lambda_at_rate(lambdas, 2.5)


def test_distortion_weight_is_the_mean_square_scale_per_pixel() -> None:
    assert distortion_weight(None, (32, 48)) is None
    scale = torch.ones(1, 4, 2, 3)
    scale[:, :2, 0, 1] = 3.0  # half the channels of one latent scaled by 3: mean of s² = (9 + 9 + 1 + 1) / 4
    weight = distortion_weight(scale, (30, 40))
    assert weight.shape == (1, 1, 30, 40)  # cropped to the image, not the padded latent grid
    assert torch.all(weight[..., :16, 16:32] == 5.0)
    assert torch.all(weight[..., 16:, :] == 1.0) and torch.all(weight[..., :16, :16] == 1.0)


def _inputs(codec: LearnedCodec, test_image: np.ndarray):
    prepared = codec.prepare(test_image)
    return prepared, (prepared.height, prepared.width)


def test_refinement_lowers_the_loss_and_never_raises_it(codec: LearnedCodec, test_image: np.ndarray) -> None:
    prepared, size = _inputs(codec, test_image)
    for rate in (1.0, 7.0):  # the untrained model codes next to nothing below its top levels: nothing to gain
        start = refinement_loss(codec.model, prepared.x, prepared.y.clone(), rate, size=size).item()
        refined = refine_latent(codec.model, prepared.x, prepared.y, rate, size=size, steps=REFINE_STEPS)
        after = refinement_loss(codec.model, prepared.x, refined, rate, size=size).item()
        assert refined.shape == prepared.y.shape and not refined.requires_grad
        assert after < start if rate == 7.0 else after <= start


def test_zero_steps_keep_the_analysis_latent(codec: LearnedCodec, test_image: np.ndarray) -> None:
    prepared, size = _inputs(codec, test_image)
    assert torch.equal(refine_latent(codec.model, prepared.x, prepared.y, 3.0, size=size, steps=0), prepared.y)
    with pytest.raises(ValueError):
        refine_latent(codec.model, prepared.x, prepared.y, 3.0, steps=-1)


def test_refinement_leaves_the_model_untouched(codec: LearnedCodec, test_image: np.ndarray) -> None:
    prepared, size = _inputs(codec, test_image)
    before = {k: v.clone() for k, v in codec.model.state_dict().items()}
    refine_latent(codec.model, prepared.x, prepared.y, 4.0, size=size, steps=2)
    assert all(p.grad is None for p in codec.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in codec.model.state_dict().items())
    assert not codec.model.training


def _real_loss(codec: LearnedCodec, image: np.ndarray, data: bytes, rate: float) -> float:
    """R + λ·MSE of a real file: its bits per pixel and the squared error of what it decodes to."""
    decoded = LearnedCodec(codec.model, codec.name).decode(data)  # any codec decodes it: no refinement there
    mse = float(np.mean((decoded.astype(np.float64) - image) ** 2)) / 255**2
    return len(data) * 8 / image.shape[0] / image.shape[1] + lambda_at_rate(codec.model.config.lambdas, rate) * mse


def test_refined_streams_are_ordinary_streams_with_a_lower_real_loss(
        codec: LearnedCodec, refining: LearnedCodec, test_image: np.ndarray) -> None:
    rate = 7.0
    plain, refined = codec.encode(test_image, rate), refining.encode(test_image, rate)
    assert unpack(refined.data).weights_hash == unpack(plain.data).weights_hash
    assert unpack(refined.data).rate == unpack(plain.data).rate
    assert refined.data != plain.data
    assert np.array_equal(codec.decode(refined.data), refining.reconstruct(refined))
    assert _real_loss(codec, test_image, refined.data, rate) < _real_loss(codec, test_image, plain.data, rate)


def test_refined_rate_control_stays_under_the_target(codec: LearnedCodec, refining: LearnedCodec,
                                                     test_image: np.ndarray) -> None:
    prepared = codec.prepare(test_image)
    low, high = codec.encode_prepared(prepared, 0.0).bpp, codec.encode_prepared(prepared, codec.max_rate).bpp
    target = math.sqrt(low * high)
    plain = codec.encode_to_bpp(prepared, target)
    refined = refining.encode_to_bpp(refining.prepare(test_image), target)
    assert refined.bpp <= target
    assert refined.stream.rate >= plain.stream.rate  # smaller files buy a higher rate under the same cap


def test_refinement_with_a_roi_decodes(codec: LearnedCodec, refining: LearnedCodec, test_image: np.ndarray) -> None:
    mask = np.zeros(test_image.shape[:2], np.float32)
    mask[20:70, 30:90] = 1.0
    encoded = refining.encode(test_image, 4.0, RoiRequest(mask, alpha=0.5))
    assert unpack(encoded.data).roi is not None
    assert np.array_equal(codec.decode(encoded.data), refining.reconstruct(encoded))


def test_negative_steps_are_an_input_error(tiny_zoo) -> None:
    with pytest.raises(InputError, match="refinement steps"):
        LearnedCodec.from_zoo("tiny", tiny_zoo, refine_steps=-3)
