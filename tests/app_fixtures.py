"""Helpers shared by the workbench tests (``tests/test_app_*.py``): a tiny zoo whose rate ladder
spans a useful bpp range, sample folders, the app served in-process on a free port, and Debian's
Chromium for Playwright (never a downloaded browser)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from conftest import make_image, make_tiny_model, save_png
from percomp_ui.nn.hyperprior import GainedMeanScaleHyperprior
from percomp_ui.zoo import save_checkpoint

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
SAMPLE_SIZE = (192, 256)  # height, width of sample-0: small, and ≥ 161 px so that MS-SSIM is defined
SMALL_SIZE = (96, 128)  # the other samples: below MS-SSIM's size, so their slow metrics are skipped
LOG_GAIN_SPAN = (-1.0, 3.0)  # y gains of the lowest and highest rate level, natural log


def make_ranged_model(seed: int) -> GainedMeanScaleHyperprior:
    """A tiny untrained model whose y gains grow with the rate level, so its files range from
    ~0.03 to ~1 bpp (an untrained model's equal gains give every level nearly the same size)."""
    model = make_tiny_model(seed)
    levels, channels = model.y_gains.log_gain.shape
    spread = torch.linspace(*LOG_GAIN_SPAN, levels)[:, None].expand(levels, channels)
    with torch.no_grad():
        model.y_gains.log_gain.copy_(spread)
        model.y_gains.log_gain_inv.copy_(-spread)
    return model


def build_zoo(folder: Path, cards: dict[str, dict[str, Any]] | None = None) -> Path:
    """Ranged tiny models, one per name, with the given extra card fields (default: one BASE "tiny")."""
    for seed, (name, card) in enumerate((cards or {"tiny": {}}).items()):
        save_checkpoint(make_ranged_model(seed), name, {"description": "untrained test model", **card}, folder)
    return folder


def build_samples(folder: Path, count: int = 3) -> Path:
    """``sample-0.png`` (:data:`SAMPLE_SIZE`), then ``sample-1.png`` … (:data:`SMALL_SIZE`): deterministic
    test images."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        save_png(make_image(*(SMALL_SIZE if index else SAMPLE_SIZE), seed=index), folder / f"sample-{index}.png")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_process(folder: Path, *args: str) -> Iterator[str]:
    """``python app.py ARGS`` as a real process on a free port (log in ``folder``); yields its URL.

    Browser tests need the app out of their own process: the codec decodes in a forked worker,
    which would inherit the Playwright driver's pipe and keep the driver from ever exiting."""
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    log = open(folder / f"app-{port}.log", "wb")
    process = subprocess.Popen([sys.executable, str(root / "app.py"), "--port", str(port), *args],
                               cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited: {(folder / f'app-{port}.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def served(demo: Any) -> Iterator[str]:
    """Launch a ``gr.Blocks`` in this process on a free port; yields its URL."""
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
