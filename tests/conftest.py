"""Shared fixtures for the codec, zoo and CLI tests.

Everything is built here: two tiny untrained models saved to a temporary zoo (never the repository's
``checkpoints/`` and never anything outside the repository), deterministic test images, and two ways
to run the ``percomp`` command: as a real subprocess (``run_cli``) and in-process through
``percomp_ui.cli.main`` (``cli``), which is much cheaper because importing torch + compressai costs
several seconds per process on this machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from percomp_ui.nn.hyperprior import GainedMeanScaleHyperprior, HyperpriorConfig
from percomp_ui.zoo import save_checkpoint

TINY_CONFIG = HyperpriorConfig(N=16, M=24)
VENV_BIN = Path(sys.executable).parent


def make_tiny_model(seed: int) -> GainedMeanScaleHyperprior:
    """An untrained tiny model with usable entropy-coding tables."""
    torch.manual_seed(seed)
    model = GainedMeanScaleHyperprior(TINY_CONFIG)
    model.eval()
    model.update(force=True)
    return model


def make_image(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A deterministic, natural-looking RGB uint8 image: smooth gradients, some texture, one edge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    fy, fx = yy / max(height, 1), xx / max(width, 1)
    image = np.stack(
        [40 + 170 * fx, 50 + 150 * fy, 60 + 90 * (fx + fy) / 2], axis=-1
    )
    image += 12 * np.sin(xx / 3.0 + seed)[..., None] * np.cos(yy / 5.0)[..., None]  # texture
    image += rng.normal(0.0, 6.0, image.shape)  # grain
    image[:, width // 2 :, :] += np.array([45.0, -35.0, 20.0])  # a vertical edge
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def save_png(rgb: np.ndarray, path: Path, mode: str | None = None) -> Path:
    image = Image.fromarray(rgb)
    if mode is not None:
        image = image.convert(mode)
    image.save(path, format="PNG")
    return path


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zoo folder holding two untrained tiny models: "tiny" (seed 0) and "tiny2" (seed 1)."""
    folder = tmp_path_factory.mktemp("zoo")
    save_checkpoint(make_tiny_model(0), "tiny", {"description": "untrained tiny test model"}, folder)
    save_checkpoint(make_tiny_model(1), "tiny2", {"description": "another untrained tiny model"}, folder)
    return folder


@pytest.fixture
def zoo_copy(tiny_zoo: Path, tmp_path: Path) -> Path:
    """A private copy of the zoo that a test may damage."""
    return Path(shutil.copytree(tiny_zoo, tmp_path / "zoo_copy"))


@pytest.fixture(scope="session")
def codec(tiny_zoo: Path):
    from percomp_ui.codec import LearnedCodec

    return LearnedCodec.from_zoo("tiny", tiny_zoo)


@pytest.fixture(scope="session")
def codec2(tiny_zoo: Path):
    from percomp_ui.codec import LearnedCodec

    return LearnedCodec.from_zoo("tiny2", tiny_zoo)


@pytest.fixture(scope="session")
def image_factory() -> Callable[..., np.ndarray]:
    return make_image


@pytest.fixture(scope="session")
def test_image() -> np.ndarray:
    return make_image(96, 128, seed=0)


def percomp_command(zoo_dir: Path, *args: object, zoo: bool = True, script: Path | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of one real ``percomp`` run against ``zoo_dir``."""
    command = [str(script)] if script else [sys.executable, "-m", "percomp_ui"]
    if zoo:
        command += ["--zoo", str(zoo_dir)]
    command += [str(a) for a in args]
    env = {**os.environ, "PERCOMP_CHECKPOINTS": str(zoo_dir)}
    env.pop("PERCOMP_MAX_PIXELS", None)
    return command, env


@pytest.fixture
def run_cli(tiny_zoo: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``percomp`` as a real process (``python -m percomp_ui`` unless ``script`` is given)."""

    def run(*args: object, zoo: bool = True, script: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        command, env = percomp_command(tiny_zoo, *args, zoo=zoo, script=script)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env)

    return run


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(tiny_zoo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> Callable[..., CliResult]:
    """Run ``percomp_ui.cli.main(argv)`` in this process (same code path as the command, no torch re-import)."""
    from percomp_ui.cli import main

    monkeypatch.setenv("PERCOMP_CHECKPOINTS", str(tiny_zoo))
    monkeypatch.delenv("PERCOMP_MAX_PIXELS", raising=False)

    def run(*args: object, zoo: bool = True) -> CliResult:
        capsys.readouterr()
        argv = (["--zoo", str(tiny_zoo)] if zoo else []) + [str(a) for a in args]
        code = main(argv)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
