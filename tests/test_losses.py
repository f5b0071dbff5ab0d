"""Seed 000 eq. 1: MS-SSIM on small crops, the β and γ terms, LPIPS offline, λ per sample."""
from __future__ import annotations

import logging
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from percomp_ui.train import losses
from percomp_ui.train.losses import (describe_levels, describe_loss, load_lpips, ms_ssim_per_sample,
                                     ms_ssim_scales, rate_distortion_loss, trained_lambdas)

SKIPPED = "skipped: AlexNet backbone weights not available offline; γ term dropped"


def images(size: int, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth batch in [0, 1] and a noisy copy of it."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    x = torch.stack([xx, yy, (xx + yy) / 2])[None].repeat(batch, 1, 1, 1)
    x = (x + 0.1 * torch.sin(20 * xx)).clamp(0, 1)
    noisy = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, noisy


def likelihoods(batch: int) -> dict[str, torch.Tensor]:
    return {"y": torch.full((batch, 4, 2, 2), 0.5), "z": torch.full((batch, 2, 1, 1), 0.25)}


@pytest.fixture
def no_hub_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub folder, and any download or connection attempt fails the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def refuse(*args, **kwargs):
        raise AssertionError("LPIPS must not try to download anything")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return tmp_path / "hub"


def test_ms_ssim_scale_rule() -> None:
    # min side > (11 − 1)·2^(S−1), at most 5 scales
    assert [ms_ssim_scales(s, s) for s in (256, 161, 160, 128, 81, 80, 64, 41, 40, 21, 20, 8)] == \
        [5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 1, 1]
    assert ms_ssim_scales(96, 128) == 4
    assert losses.ms_ssim_weights(3) == pytest.approx(np.array([0.0448, 0.2856, 0.3001]) / 0.6305)


def test_reduced_ms_ssim_is_pytorch_msssim_at_five_scales() -> None:
    from pytorch_msssim import ms_ssim

    x, noisy = images(176, batch=1)
    mine = losses._ms_ssim(noisy, x, list(losses.MS_SSIM_WEIGHTS), 1.0, 11, 1.5)
    assert torch.allclose(mine, ms_ssim(noisy, x, data_range=1.0, size_average=False), atol=1e-6)


@pytest.mark.parametrize("size", [64, 128, 16])
def test_ms_ssim_term_is_zero_for_identical_images_and_positive_otherwise(size: int) -> None:
    x, noisy = images(size)
    assert torch.allclose(1 - ms_ssim_per_sample(x, x), torch.zeros(2), atol=1e-6)
    term = 1 - ms_ssim_per_sample(noisy, x)
    assert term.shape == (2,)
    assert bool((term > 1e-3).all()) and bool((term < 1).all())


def test_loss_grows_with_beta_when_images_differ_and_gradients_flow() -> None:
    x, noisy = images(64)
    lam = torch.tensor([256.0, 256.0])
    x_hat = noisy.clone().requires_grad_(True)
    base = rate_distortion_loss(x_hat, x, likelihoods(2), lam)
    with_beta = rate_distortion_loss(x_hat, x, likelihoods(2), lam, beta=0.1)
    assert set(base) == {"loss", "bpp", "mse"} and "ms_ssim" in with_beta
    assert float(with_beta["loss"].detach()) > float(base["loss"].detach())
    with_beta["loss"].backward()
    assert x_hat.grad is not None and bool(torch.isfinite(x_hat.grad).all())
    same = rate_distortion_loss(x, x, likelihoods(2), lam, beta=0.1)
    assert float(same["loss"]) == pytest.approx(float(rate_distortion_loss(x, x, likelihoods(2), lam)["loss"]))


def test_lambda_is_per_sample() -> None:
    x, noisy = images(64)
    lam = torch.tensor([128.0, 2048.0])
    out = rate_distortion_loss(noisy, x, likelihoods(2), lam, alpha=1.0, beta=0.1, reduce=False)
    assert out["loss"].shape == (2,)
    expected = out["bpp"] + lam * (out["mse"] + 0.1 * (1 - out["ms_ssim"]))
    assert torch.allclose(out["loss"], expected)
    assert float(rate_distortion_loss(noisy, x, likelihoods(2), lam, beta=0.1)["loss"]) == \
        pytest.approx(float(expected.mean()))


def test_gamma_without_backbone_weights_is_skipped_with_one_warning(
        no_hub_weights: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="percomp_ui"):
        module, status = load_lpips("alex")
    assert module is None and status == SKIPPED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "LPIPS" in warnings[0].getMessage()
    assert "alexnet-owt-7be5be79.pth" in warnings[0].getMessage()
    x, noisy = images(64)
    lam = torch.tensor([256.0, 256.0])
    out = rate_distortion_loss(noisy, x, likelihoods(2), lam, gamma=0.1, lpips_fn=module)
    assert "lpips" not in out
    assert float(out["loss"]) == pytest.approx(float(rate_distortion_loss(noisy, x, likelihoods(2), lam)["loss"]))
    assert describe_loss(1, 0.1, 0.1, status) == (
        "R + λ·(1·MSE + 0.1·(1 − MS-SSIM)) (seed 000 eq. 1 with α=1, β=0.1, γ=0); "
        f"γ=0.1 asked for, LPIPS {SKIPPED}, one λ level drawn per sample")


def test_trainer_records_the_lpips_status_in_the_model_card(no_hub_weights: Path, tmp_path: Path) -> None:
    from percomp_ui.train.trainer import TrainConfig, Trainer

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "a.png")
    config = TrainConfig(data=[str(folder)], N=16, M=24, crop=64, batch=2, threads=1, export_name="tiny-eq1",
                         alpha=1.0, beta=0.1, gamma=0.1, levels=[1, 2, 4, 5])
    trainer = Trainer(tmp_path / "run", config)
    assert trainer.lpips is None and trainer.lpips_status == SKIPPED
    card = trainer.export(tmp_path / "best", None)
    assert card["training"]["lpips"] == SKIPPED
    assert card["training"]["loss"].startswith("R + λ·(1·MSE + 0.1·(1 − MS-SSIM)) (seed 000 eq. 1 with α=1, β=0.1, γ=0)")
    assert card["training"]["loss"].endswith("one λ level drawn per sample from levels [1, 2, 4, 5]")
    assert card["training"]["recipe"]["gamma"] == 0.1


def test_level_mix_descriptions_name_the_weights() -> None:
    lambdas = [16.0, 32.0, 64.0, 128.0, 256.0]
    assert describe_levels([1, 2, 4]) == "levels [1, 2, 4]"
    assert describe_levels([0, 1, 2, 3, 3, 3]) == "levels [0, 1, 2, 3] weighted 1:1:1:3"
    assert trained_lambdas([3], lambdas) == "128"
    assert trained_lambdas([1, 2], lambdas) == "32, 64"
    assert trained_lambdas([0, 1, 2, 3, 3, 3], lambdas) == "128 (with 16, 32, 64 drawn less often)"


def test_default_loss_description_is_the_base_one() -> None:
    assert describe_loss(1.0, 0.0, 0.0) == "R + λ·MSE (seed 000 eq. 1 with α=1, β=γ=0), one λ level drawn per sample"


def test_lpips_term_when_a_backbone_is_there(no_hub_weights: Path) -> None:
    """The real lpips path offline: a features-only AlexNet file (random weights) where torchvision keeps it."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    backbone = losses.lpips_backbone_file("alex")
    assert backbone.is_relative_to(no_hub_weights) and backbone.name == "alexnet-owt-7be5be79.pth"
    backbone.parent.mkdir(parents=True)
    torch.save({k: v for k, v in alexnet(weights=None).state_dict().items() if k.startswith("features.")}, backbone)
    module, status = load_lpips("alex")
    assert module is not None and status == "used: lpips v0.1 net=alex (AlexNet backbone from alexnet-owt-7be5be79.pth)"
    assert not any(p.requires_grad for p in module.parameters())
    seen: list[float] = []
    module.register_forward_pre_hook(lambda m, args: seen.extend(float(a.detach().min()) for a in args[:2]))
    x, noisy = images(64)
    lam = torch.tensor([256.0, 256.0])
    x_hat = noisy.clone().requires_grad_(True)
    out = rate_distortion_loss(x_hat, x, likelihoods(2), lam, gamma=0.1, lpips_fn=module)
    assert bool((out["lpips"] > 0).all())
    assert float(out["loss"].detach()) > float(rate_distortion_loss(noisy, x, likelihoods(2), lam)["loss"])
    out["loss"].backward()
    assert x_hat.grad is not None and float(x_hat.grad.abs().sum()) > 0
    assert min(seen) == pytest.approx(-1.0)  # [0, 1] pixels arrive as [−1, 1]
    same = rate_distortion_loss(x, x, likelihoods(2), lam, gamma=0.1, lpips_fn=module, reduce=False)
    assert torch.allclose(same["lpips"], torch.zeros(2), atol=1e-6)
    assert "0.1·LPIPS(alex)" in describe_loss(1, 0, 0.1, status)
