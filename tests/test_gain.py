"""Gain units (``percomp_ui.nn.gain``) against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from percomp_ui.nn.gain import GainBank, initial_log_gains, interpolate_log_gain, split_rate


# ----------------------------------------------------------------------------- split_rate


@pytest.mark.parametrize(
    ("rate", "levels", "expected"),
    [
        (0.0, 8, (0, 0.0)),
        (2.0, 8, (2, 0.0)),
        (2.25, 8, (2, 0.25)),
        (6.5, 8, (6, 0.5)),
        (7.0, 8, (6, 1.0)),  # the top has no level of its own: level L-2, fully toward L-1
        (0.5, 2, (0, 0.5)),
        (1.0, 2, (0, 1.0)),
        (0.0, 1, (0, 0.0)),  # a single-level bank
    ],
)
def test_split_rate_hand_values(rate: float, levels: int, expected: tuple[int, float]) -> None:
    level, frac = split_rate(rate, levels)
    assert (level, frac) == expected
    assert isinstance(level, int)
    assert level + frac == rate


@pytest.mark.parametrize(("rate", "levels"), [(-0.001, 8), (7.0001, 8), (8.0, 8), (0.5, 1), (math.nan, 8),
                                               (math.inf, 8), (-math.inf, 8)])
def test_split_rate_out_of_range(rate: float, levels: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        split_rate(rate, levels)


# ----------------------------------------------------------------------------- interpolate_log_gain


def test_interpolate_geometric_mean_between_levels() -> None:
    gains = torch.tensor([[1.0, 2.0], [4.0, 8.0]])
    log_gains = gains.log()
    result = interpolate_log_gain(log_gains, 0.5).exp()
    # exp(lerp of logs) at l = 1/2 is the geometric mean: sqrt(1*4) = 2, sqrt(2*8) = 4
    torch.testing.assert_close(result, torch.tensor([2.0, 4.0]), rtol=1e-6, atol=0)


def test_interpolate_quarter_point() -> None:
    gains = torch.tensor([[1.0, 16.0], [16.0, 1.0]])
    result = interpolate_log_gain(gains.log(), 0.25).exp()
    # 1^(3/4) * 16^(1/4) = 2 ; 16^(3/4) * 1^(1/4) = 8
    torch.testing.assert_close(result, torch.tensor([2.0, 8.0]), rtol=1e-6, atol=0)


def test_interpolate_endpoints_are_exact_trained_vectors() -> None:
    torch.manual_seed(3)
    log_gains = torch.randn(5, 7)
    for level in range(5):
        out = interpolate_log_gain(log_gains, float(level))
        assert torch.equal(out, log_gains[level]), level
    # between levels it stays inside the per-channel segment
    mid = interpolate_log_gain(log_gains, 2.7)
    low = torch.minimum(log_gains[2], log_gains[3])
    high = torch.maximum(log_gains[2], log_gains[3])
    assert bool(((mid >= low - 1e-6) & (mid <= high + 1e-6)).all())
    torch.testing.assert_close(mid, 0.3 * log_gains[2] + 0.7 * log_gains[3])


@pytest.mark.parametrize("rate", [-0.5, 1.5, math.nan])
def test_interpolate_out_of_range(rate: float) -> None:
    with pytest.raises(ValueError):
        interpolate_log_gain(torch.zeros(2, 3), rate)


# ----------------------------------------------------------------------------- initial_log_gains


def test_initial_log_gains_hand_values() -> None:
    # lambdas 1 and 4: geometric mean 2, so gains are (1/2)^(1/2) and (4/2)^(1/2)
    gains = initial_log_gains([1.0, 4.0], 3).exp()
    expected = torch.tensor([[1 / math.sqrt(2)] * 3, [math.sqrt(2)] * 3])
    torch.testing.assert_close(gains, expected, rtol=1e-6, atol=0)


def test_initial_log_gains_proportional_to_half_log_lambda_with_zero_mean() -> None:
    lambdas = [64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0]
    log_gains = initial_log_gains(lambdas, 5)
    assert log_gains.shape == (8, 5)
    assert log_gains.dtype == torch.float32
    # every channel of a level starts equal
    assert torch.equal(log_gains, log_gains[:, :1].expand(-1, 5))
    column = log_gains[:, 0].double()
    half_log = 0.5 * torch.log(torch.tensor(lambdas, dtype=torch.float64))
    torch.testing.assert_close(column, half_log - half_log.mean(), rtol=0, atol=1e-6)
    assert abs(float(column.mean())) < 1e-6
    # doubling lambda multiplies the gain by sqrt(2)
    torch.testing.assert_close(column.diff(), torch.full((7,), 0.5 * math.log(2), dtype=torch.float64),
                               rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- GainBank


def test_gain_bank_for_rate_at_integer_rate_equals_for_levels() -> None:
    bank = GainBank([1.0, 2.0, 4.0, 8.0], 6)
    torch.manual_seed(0)
    with torch.no_grad():  # make levels distinct per channel, as after training
        bank.log_gain.add_(0.1 * torch.randn_like(bank.log_gain))
        bank.log_gain_inv.add_(0.1 * torch.randn_like(bank.log_gain_inv))
    for level in range(bank.num_levels):
        gain, gain_inv = bank.for_rate(float(level))
        ref, ref_inv = bank.for_levels(torch.tensor([level]))
        assert gain.shape == ref.shape == (1, 6, 1, 1)
        assert torch.equal(gain, ref), level
        assert torch.equal(gain_inv, ref_inv), level


def test_gain_bank_for_levels_batches_per_sample() -> None:
    bank = GainBank([1.0, 4.0, 16.0], 2)
    gain, gain_inv = bank.for_levels(torch.tensor([2, 0, 1]))
    assert gain.shape == gain_inv.shape == (3, 2, 1, 1)
    # lambdas 1, 4, 16 -> geometric mean 4 -> gains 1/2, 1, 2 (and inverses)
    torch.testing.assert_close(gain[:, 0, 0, 0], torch.tensor([2.0, 0.5, 1.0]))
    torch.testing.assert_close(gain_inv[:, 1, 0, 0], torch.tensor([0.5, 2.0, 1.0]))


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0, 1.75, 2.0])
def test_gain_bank_initial_gain_times_inverse_is_one(rate: float) -> None:
    bank = GainBank([1.0, 4.0, 16.0], 4)
    gain, gain_inv = bank.for_rate(rate)
    torch.testing.assert_close(gain * gain_inv, torch.ones(1, 4, 1, 1))
    # log-linear interpolation of the initial gains: 0.5 * 2^(rate) relative to level 0
    torch.testing.assert_close(gain[0, :, 0, 0], torch.full((4,), 0.5 * 2.0**rate))


def test_gain_bank_out_of_range_rate() -> None:
    bank = GainBank([1.0, 4.0], 2)
    with pytest.raises(ValueError):
        bank.for_rate(1.5)


def test_extend_log_gains_keeps_known_levels_and_continues_the_line() -> None:
    from percomp_ui.nn.gain import extend_log_gains

    known = torch.tensor([[0.0, 1.0], [0.5, 1.5], [1.0, 2.5]])
    extended = extend_log_gains(known, [64, 128, 256], [16, 32, 64, 128, 256, 512])
    assert torch.equal(extended[2:5], known)
    assert torch.allclose(extended[1], torch.tensor([-0.5, 0.5]))  # one step below level 0
    assert torch.allclose(extended[0], torch.tensor([-1.0, 0.0]))
    assert torch.allclose(extended[5], torch.tensor([1.5, 3.5]))  # continues the top step
    with pytest.raises(ValueError, match="contiguous"):
        extend_log_gains(known, [64, 128, 256], [16, 64, 256])


def test_a_run_with_a_longer_ladder_starts_from_a_shorter_checkpoint(tmp_path, monkeypatch) -> None:
    from conftest import TINY_CONFIG, make_tiny_model
    from percomp_ui.train.trainer import TrainConfig, Trainer
    from percomp_ui.zoo import save_checkpoint

    zoo = tmp_path / "zoo"
    source = make_tiny_model(0)
    save_checkpoint(source, "short", {"training": {"steps": 7}}, zoo)
    monkeypatch.setenv("PERCOMP_CHECKPOINTS", str(zoo))
    lambdas = [16.0, 32.0, *TINY_CONFIG.lambdas]
    config = TrainConfig(data=[str(tmp_path)], N=TINY_CONFIG.N, M=TINY_CONFIG.M, lambdas=lambdas,
                         init_from="short", threads=1)
    trainer = Trainer(tmp_path / "run", config)
    assert trainer.step == 7 and trainer.model.num_levels == len(lambdas)
    loaded = trainer.model.y_gains.log_gain.detach()
    assert torch.allclose(loaded[2:], source.y_gains.log_gain.detach(), atol=1e-3)  # fp16 storage
    assert (loaded[0] < loaded[1]).float().mean() > 0.5  # the new low levels get smaller gains
    trainer.step += 3  # as if it had trained: the card tells the fine-tune's share from the checkpoint's
    card = trainer.export(tmp_path / "best", None)
    fine_tune = card["training"]["fine_tune"]
    assert fine_tune["from"].startswith("short (7 steps, weights ") and fine_tune["steps"] == 3
    trainer.save_state()
    resumed = Trainer(tmp_path / "run", config)
    assert resumed.step == 10 and resumed.origin["steps"] == 7  # a resumed run still knows where it began
