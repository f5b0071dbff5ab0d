"""Metrics, classical and learned R-D evaluation, and the ``eval`` / ``plot`` commands.

Images are tiny (≤ 64 px) except where MS-SSIM needs ≥ 161 px a side. LPIPS runs offline only: the
tests point torch's hub cache at an empty folder (LPIPS → None, one warning, no network) or at a
features-only AlexNet file made here from random weights (the real LPIPS code path, no download).
"""
from __future__ import annotations

import json
import logging
import math
import socket
from pathlib import Path

import numpy as np
import torch
import pytest

from percomp_ui import metrics
from percomp_ui.lpips_offline import lpips_backbone_file
from percomp_ui.classical import get_codec
from percomp_ui.errors import InputError
from percomp_ui.evaluate import (
    METRIC_KEYS, classical_results_json, default_qualities, evaluate_classical, evaluate_folder, results_json,
)

from conftest import make_image, save_png

# The keys of CompressAI's eval_model results (and of every anchor in ../shared/anchors/kodak).
COMPRESSAI_KEYS = {"psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time", "decoding_time"}
LPIPS_WARNING = "LPIPS skipped: AlexNet backbone weights not available offline"


@pytest.fixture(autouse=True)
def offline_lpips(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache (as on this machine), and a fresh LPIPS loader for each test."""
    home = tmp_path_factory.mktemp("torch_home")
    monkeypatch.setenv("TORCH_HOME", str(home))
    metrics._lpips_model.cache_clear()
    yield home
    metrics._lpips_model.cache_clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two tiny PNGs of different sizes."""
    images = tmp_path / "images"
    images.mkdir()
    save_png(make_image(48, 64, seed=0), images / "a.png")
    save_png(make_image(40, 56, seed=1), images / "b.png")
    return images


def _lpips_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("LPIPS skipped")]


# -- metrics --------------------------------------------------------------------------------------
def test_psnr_identical_and_known_noise():
    image = np.full((8, 10, 3), 100, np.uint8)
    assert metrics.psnr_rgb(image, image) == math.inf
    noisy = image.copy()
    noisy[::2, ::2] += 4  # +4 or −4 on half of the pixels (a checkerboard), the rest exact
    noisy[1::2, 1::2] -= 4
    mse = 16 * 0.5
    assert metrics.psnr_rgb(image, noisy) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)


def test_metrics_check_their_input():
    with pytest.raises(ValueError, match="differ in size"):
        metrics.psnr_rgb(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        metrics.flip(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32))


def test_flip_identical_is_zero_and_map_matches_mean():
    image = make_image(24, 32, seed=2)
    assert metrics.flip(image, image) == 0.0
    assert not metrics.flip_map(image, image).any()
    distorted = np.clip(image.astype(int) + 30, 0, 255).astype(np.uint8)
    error_map = metrics.flip_map(image, distorted)
    assert error_map.shape == (24, 32) and error_map.dtype == np.float32
    assert 0 < metrics.flip(image, distorted) == pytest.approx(float(error_map.mean()), rel=1e-4)
    assert metrics.flip(image, 255 - image) > metrics.flip(image, distorted)


def test_ms_ssim_needs_161_pixels():
    small = make_image(160, 200, seed=3)
    assert metrics.ms_ssim_rgb(small, small) is None
    large = make_image(161, 170, seed=3)
    assert metrics.ms_ssim_rgb(large, large) == pytest.approx(1.0)


def test_lpips_without_weights_is_none_with_one_warning(caplog, no_network, offline_lpips):
    image = make_image(40, 48, seed=4)
    with caplog.at_level(logging.WARNING, logger="percomp_ui"):
        assert metrics.lpips_distance(image, image) is None
        assert metrics.lpips_distance(image, 255 - image) is None
        assert not metrics.lpips_available()
    warnings = _lpips_warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith(LPIPS_WARNING)
    assert str(offline_lpips) in warnings[0]  # says where the file is expected


def test_lpips_with_local_weights_runs_offline(no_network, offline_lpips):
    """The real lpips path, trunk from a local file (random AlexNet features, so values are arbitrary)."""
    import torch
    from torchvision.models import alexnet

    torch.manual_seed(0)
    features = {k: v for k, v in alexnet(weights=None).state_dict().items() if k.startswith("features.")}
    path = lpips_backbone_file("alex")
    assert path.is_relative_to(offline_lpips)
    path.parent.mkdir(parents=True)
    torch.save(features, path)
    image = make_image(40, 48, seed=5)
    assert metrics.lpips_distance(image, image) == pytest.approx(0.0, abs=1e-6)
    assert metrics.lpips_distance(image, 255 - image) > 0
    assert metrics.lpips_distance(image[:30, :30], image[:30, :30]) is None  # under 31 px a side


# -- classical evaluation ------------------------------------------------------------------------
def test_classical_eval_has_compressai_schema(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="percomp_ui"):
        evaluation = evaluate_classical("jpeg", folder, qualities=[20, 80])
    result = classical_results_json(evaluation, folder.name)
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {"name", "description", "results", "settings"}
    assert result["name"] == "jpeg" and result["settings"] == get_codec("jpeg").settings()
    results = result["results"]
    assert COMPRESSAI_KEYS <= set(results) and set(METRIC_KEYS) <= set(results)
    assert {len(v) for v in results.values()} == {2}
    assert results["quality"] == [20, 80]
    assert results["lpips"] == [None, None] and len(_lpips_warnings(caplog)) == 1
    assert results["ms-ssim-rgb"] == [None, None]  # images under 161 px
    assert results["bpp"][0] < results["bpp"][1] and results["psnr-rgb"][0] < results["psnr-rgb"][1]
    assert results["flip"][0] > results["flip"][1] > 0
    # bpp is from the real bytes: each image's file at that quality, then the mean over images.
    codec = get_codec("jpeg")
    for name, rows in evaluation["per_image"].items():
        image = make_image(48, 64, seed=0) if name == "a.png" else make_image(40, 56, seed=1)
        for row in rows:
            assert row["bpp"] == len(codec.encode(image, row["quality"])) * 8 / (image.shape[0] * image.shape[1])
    assert results["bpp"][1] == pytest.approx(np.mean([r[1]["bpp"] for r in evaluation["per_image"].values()]))


def test_classical_eval_ms_ssim_on_a_large_enough_image(tmp_path):
    save_png(make_image(161, 168, seed=6), tmp_path / "big.png")
    results = classical_results_json(evaluate_classical("jpeg", tmp_path, qualities=[50]), "x")["results"]
    assert 0.8 < results["ms-ssim-rgb"][0] < 1


def test_matched_rate_never_exceeds_targets(folder):
    targets = [1.2, 2.0, 3.5]
    evaluation = evaluate_classical("jpeg", folder, bpp_targets=targets)
    assert evaluation["mode"] == "bpp"
    for rows in evaluation["per_image"].values():
        for row, target in zip(rows, targets):
            assert row["bpp"] <= target
    results = classical_results_json(evaluation, folder.name)["results"]
    assert results["bpp_target"] == targets and "quality" not in results
    assert all(0.8 * t < b <= t for b, t in zip(results["bpp"], targets))


def test_classical_eval_errors(folder):
    with pytest.raises(InputError, match="cannot reach"):
        evaluate_classical("jpeg", folder, bpp_targets=[0.01])
    with pytest.raises(InputError, match="not both"):
        evaluate_classical("jpeg", folder, qualities=[50], bpp_targets=[1.0])
    with pytest.raises(InputError, match="unknown codec"):
        evaluate_classical("gif", folder)


def test_default_qualities_span_the_knob():
    qualities = default_qualities(get_codec("jpeg"))
    assert len(qualities) == 10 and qualities[0] == 1 and qualities[-1] == 95


# -- learned evaluation ---------------------------------------------------------------------------
def test_learned_eval_adds_flip_and_lpips(codec, folder):
    evaluation = evaluate_folder(codec, folder, [0.0, 1.0])
    result = results_json("tiny", "test", evaluation)
    assert set(result) == {"name", "description", "results"}
    assert set(result["results"]) == set(METRIC_KEYS) | {"rate"}
    assert {len(v) for v in result["results"].values()} == {2}
    assert all(0 < f < 1 for f in result["results"]["flip"])
    assert result["results"]["lpips"] == [None, None]


# -- commands -------------------------------------------------------------------------------------
def test_cli_eval_codec_writes_results(cli, folder, tmp_path):
    out = tmp_path / "jpeg.json"
    run = cli("eval", folder, "--codec", "jpeg", "--out", out, "--qualities", "30", "70", "--per-image")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["name"] == "jpeg" and data["settings"]["codec"] == "jpeg"
    assert data["results"]["quality"] == [30, 70] and set(data["per_image"]) == {"a.png", "b.png"}
    assert len(run.stdout.splitlines()) == 2 and "FLIP" in run.stdout


def test_cli_eval_model_still_works(cli, folder, tmp_path):
    out = tmp_path / "tiny.json"
    run = cli("eval", folder, "--model", "tiny", "--out", out, "--rates", "0")
    assert run.returncode == 0, run.stderr
    results = json.loads(out.read_text())["results"]
    assert results["rate"] == [0.0] and len(results["flip"]) == 1 and "settings" not in results


def test_cli_eval_model_uses_the_requested_precision(cli, folder, tmp_path, monkeypatch):
    from percomp_ui.codec import LearnedCodec

    seen = []
    original = LearnedCodec.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.dtype)

    monkeypatch.setattr(LearnedCodec, "__init__", spy)
    run = cli("eval", folder, "--model", "tiny", "--out", tmp_path / "bf16.json", "--rates", "0",
              "--precision", "bfloat16")
    assert run.returncode == 0, run.stderr
    assert seen == [torch.bfloat16]


def test_cli_eval_model_with_refinement_names_its_curve(cli, folder, tmp_path):
    out = tmp_path / "refined.json"
    run = cli("eval", folder, "--model", "tiny", "--out", out, "--rates", "7", "--refine", "2")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["name"] == "tiny+refine2" and "refined with 2 steps" in data["description"]


@pytest.mark.parametrize("args, message", [
    (["--codec", "jpeg", "--update-card"], "--update-card is for --model"),
    (["--codec", "jpeg", "--refine", "3"], "--refine is for --model"),
    (["--model", "tiny", "--refine", "3", "--update-card"], "no --roi, --region, --bpp-targets or --refine"),
    (["--model", "tiny", "--refine", "-1"], "expected 0 or a positive whole number"),
    (["--codec", "jpeg", "--rates", "1"], "--rates is for --model"),
    (["--model", "tiny", "--qualities", "50"], "--qualities is for --codec"),
    (["--codec", "jpeg", "--model", "tiny"], "not allowed with"),
    (["--codec", "jpeg", "--qualities", "50", "--bpp-targets", "1"], "not both"),
    (["--codec", "nope"], "unknown codec"),
])
def test_cli_eval_usage_errors(cli, folder, tmp_path, args, message):
    out = tmp_path / "r.json"
    run = cli("eval", folder, "--out", out, *args)
    assert run.returncode == 2
    assert run.stderr.startswith("percomp: error:") and message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not out.exists()


def _synthetic(path: Path, name: str, bpp: list[float], psnr: list[float], flip: list[float] | None = None) -> Path:
    results = {"bpp": bpp, "psnr-rgb": psnr, "ms-ssim-rgb": [1 - 10 ** (-q / 20) for q in psnr]}
    if flip is not None:
        results["flip"] = flip
    path.write_text(json.dumps({"name": name, "description": "synthetic", "results": results}))
    return path


def test_cli_plot_writes_png_and_bd_table(cli, tmp_path):
    bpp = [0.2, 0.4, 0.8, 1.6]
    psnr = [30 + 10 * math.log10(b) for b in bpp]  # a straight line: clipping to a range is exact too
    flip = [0.2, 0.14, 0.09, 0.05]
    anchor = _synthetic(tmp_path / "anchor.json", "Anchor", bpp, psnr, flip)
    better = _synthetic(tmp_path / "better.json", "Better", [0.9 * b for b in bpp], psnr, flip)
    apart = _synthetic(tmp_path / "apart.json", "Apart", [5.0, 6.0], [50.0, 51.0])  # no overlap
    out = tmp_path / "curves.png"
    run = cli("plot", anchor, better, apart, "--out", out)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = out.with_suffix(".md").read_text()
    assert table == run.stdout
    assert "**Anchor**" in table
    assert "| Better | -10.00 % | -10.00 % | -10.00 % |" in table
    assert "| Apart | n/a | n/a | n/a | n/a |" in table

    # One metric, a bpp range, the reference by file.
    run = cli("plot", better, anchor, "--out", out, "--metric", "psnr-rgb", "--reference", anchor,
              "--bpp-range", "0.3", "1.0")
    assert run.returncode == 0, run.stderr
    assert "bpp range 0.3–1" in run.stdout
    assert f"| Better | -10.00 % | {-10 * math.log10(0.9):+.2f} dB |" in run.stdout  # +0.46 dB


def test_cli_plot_errors(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    run = cli("plot", bad, "--out", tmp_path / "c.png")
    assert run.returncode == 2 and "not a CompressAI results file" in run.stderr
    good = _synthetic(tmp_path / "good.json", "Good", [0.2, 0.4], [27.0, 30.0])
    run = cli("plot", good, "--out", tmp_path / "c.png", "--reference", "Nobody")
    assert run.returncode == 2 and "--reference 'Nobody'" in run.stderr
