"""The ROI on the command line: ``percomp roi``, ``compress --roi/--alpha``, ``info``, ``eval --roi/--region``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image, save_png
from percomp_ui.codec import LearnedCodec
from percomp_ui.container import unpack


@pytest.fixture
def image_png(tmp_path: Path) -> Path:
    return save_png(make_image(96, 128, seed=2), tmp_path / "photo.png")


@pytest.fixture
def mask_png(tmp_path: Path) -> Path:
    mask = np.zeros((96, 128), np.uint8)
    mask[16:64, 32:96] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "mask.png"


def test_roi_command_writes_mask_and_overlay(cli, image_png: Path, mask_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "m.png"
    out.parent.mkdir()
    result = cli("roi", image_png, "--out", out, "--source", mask_png)
    assert result.returncode == 0, result.stderr
    mask = np.asarray(Image.open(out))
    overlay = np.asarray(Image.open(out.with_name("m-overlay.png")))
    assert mask.shape == (96, 128) and mask.dtype == np.uint8
    assert mask[40, 64] > 200 and mask[90, 5] < 40  # the painted box, smoothed by eq. 2
    assert overlay.shape == (96, 128, 3)
    assert "covers" in result.stdout


def test_roi_command_with_a_detector(cli, image_png: Path, tmp_path: Path) -> None:
    result = cli("roi", image_png, "--out", tmp_path / "s.png", "--source", "saliency",
                 "--overlay", tmp_path / "o.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.png").is_file() and (tmp_path / "o.png").is_file()


def test_compress_with_painted_roi_decodes_without_the_mask(cli, codec: LearnedCodec, image_png: Path,
                                                           mask_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "roi.pcmp"
    result = cli("compress", "--model", "tiny", image_png, out, "--level", "6", "--roi", mask_png, "--alpha", "0.5")
    assert result.returncode == 0, result.stderr
    assert "ROI" in result.stderr or "ROI" in result.stdout
    mask_png.unlink()  # the decoder needs nothing but the stream
    info = json.loads(cli("info", out).stdout)
    assert info["roi"]["alpha"] == 0.5 and info["roi"]["grid"] == [2, 2] and info["roi"]["bytes"] > 0
    assert info["bytes"] == out.stat().st_size
    decoded = tmp_path / "roi.png"
    assert cli("decompress", out, decoded).returncode == 0
    assert np.asarray(Image.open(decoded)).shape == (96, 128, 3)
    assert unpack(out.read_bytes()).roi is not None


@pytest.mark.parametrize("args, message", [
    (["--roi", "nosuch"], "neither a ROI source"),
    (["--alpha", "2"], "--alpha needs --roi"),
    (["--roi", "auto", "--alpha", "0"], "alpha must be"),
    (["--roi", "painted"], "neither a ROI source"),
])
def test_compress_roi_errors_are_one_line(cli, image_png: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = cli("compress", "--model", "tiny", image_png, tmp_path / "x.pcmp", *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pcmp").exists()


def test_eval_roi_and_region_report_region_metrics(cli, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    image = make_image(96, 128, seed=0)
    image[20:80, 30:100] = (230, 200, 40)  # a salient block
    save_png(image, folder / "a.png")
    out_roi, out_base = tmp_path / "roi.json", tmp_path / "base.json"
    assert cli("eval", folder, "--model", "tiny", "--rates", "6", "--roi", "saliency-fine", "--alpha", "0.5",
               "--out", out_roi, "--per-image").returncode == 0
    assert cli("eval", folder, "--model", "tiny", "--rates", "6", "--region", "saliency-fine",
               "--out", out_base).returncode == 0
    roi, base = json.loads(out_roi.read_text()), json.loads(out_base.read_text())
    for result in (roi, base):
        for key in ("roi-psnr", "background-psnr", "roi-bit-share", "roi-fraction"):
            assert len(result["results"][key]) == 1
    assert roi["results"]["roi-fraction"] == base["results"]["roi-fraction"]  # the same region
    assert 0.1 < roi["results"]["roi-fraction"][0] < 1
    assert roi["results"]["roi-bit-share"][0] > base["results"]["roi-bit-share"][0]
    assert "a.png" in roi["per_image"]


def test_eval_model_at_matched_rate(cli, codec: LearnedCodec, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    image = make_image(96, 128, seed=0)
    save_png(image, folder / "a.png")
    prepared = codec.prepare(image)
    low, high = codec.encode_prepared(prepared, 0).bpp, codec.encode_prepared(prepared, codec.max_rate).bpp
    target = (low + high) / 2
    out = tmp_path / "r.json"
    assert cli("eval", folder, "--model", "tiny", "--bpp-targets", target, "--out", out).returncode == 0
    results = json.loads(out.read_text())["results"]
    assert results["bpp"][0] <= target and results["bpp_target"] == [target]


@pytest.mark.parametrize("args, message", [
    (["--codec", "jpeg", "--roi", "auto"], "--roi is for --model"),
    (["--model", "tiny", "--roi", "auto", "--region", "auto"], "--region is for the plain baseline"),
    (["--model", "tiny", "--rates", "1", "--bpp-targets", "0.5"], "not both"),
    (["--model", "tiny", "--region", "saliency", "--update-card"], "--update-card records the plain curve"),
])
def test_eval_roi_option_errors(cli, tmp_path: Path, args: list[str], message: str) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    save_png(make_image(48, 64, seed=0), folder / "a.png")
    result = cli("eval", folder, *args, "--out", tmp_path / "r.json")
    assert result.returncode == 2 and message in result.stderr


def test_dnn_source_takes_its_weights_from_the_command_line(cli, image_png: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from percomp_ui.roi.sources import SALIENCY_WEIGHTS_ENV
    from percomp_ui.roi.u2net import U2Net, save_saliency_net
    from test_roi_sources import TINY_NET

    monkeypatch.delenv(SALIENCY_WEIGHTS_ENV, raising=False)
    missing = cli("roi", image_png, "--out", tmp_path / "m.png", "--source", "dnn")
    assert missing.returncode == 2 and "--saliency-weights" in missing.stderr
    torch.manual_seed(0)
    weights = tmp_path / "net.safetensors"
    save_saliency_net(U2Net(TINY_NET), weights)
    monkeypatch.setenv(SALIENCY_WEIGHTS_ENV, "")  # restored after the test (the CLI sets it for its process)
    result = cli("roi", image_png, "--out", tmp_path / "m.png", "--source", "dnn", "--saliency-weights", weights)
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(tmp_path / "m.png")).shape == (96, 128)
