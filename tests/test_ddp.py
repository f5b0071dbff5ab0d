"""Two-process CPU (Gloo) training through torchrun: one writer, same steps, resumable by one process."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from percomp_ui.train.trainer import Trainer


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_then_resume_in_one(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    for i in range(3):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1).astype(np.float64)
        Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)).save(images / f"{i}.png")
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", "-m", "percomp_ui", "train", str(run), "--data", str(images),
               "--val", str(images), "--val-images", "1", "--val-every", "3", "--val-levels", "1", "6",
               "--N", "16", "--M", "24", "--crop", "64", "--batch", "2", "--max-steps", "3", "--log-every", "1",
               "--threads", "2", "--beta", "0.1", "--levels", "1", "3", "6", "--lr-milestones", "2",
               "--export-name", "ddp-tiny", "--no-progress", "--debug"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"torchrun, 2 processes, 3 steps: {elapsed:.1f} s")

    state = torch.load(run / "state.pt", map_location="cpu", weights_only=True)
    assert set(state) == {"model", "optimizer", "aux_optimizer", "step", "best", "wall_s"}
    assert state["step"] == 3
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3]  # rank 0 alone writes
    assert "ms_ssim" in logged[0] and [r["lr"] for r in logged] == pytest.approx([5e-4, 5e-4, 5e-5])
    validations = (run / "val.jsonl").read_text().splitlines()
    assert len(validations) == 1 and json.loads(validations[0])["step"] == 3
    card = json.loads((run / "best" / "ddp-tiny.json").read_text())
    assert card["training"]["steps"] == 3 and "(DDP)" in card["training"]["device"]
    assert "from levels [1, 3, 6]" in card["training"]["loss"]
    config = json.loads((run / "config.json").read_text())
    assert config["levels"] == [1, 3, 6] and config["beta"] == 0.1 and config["lr_milestones"] == [2]

    resumed = Trainer(run)  # one process, same run folder
    assert resumed.step == 3 and not resumed.dist.enabled
    for key, value in state["model"].items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    resumed.run(max_steps=1, progress=False)
    assert resumed.step == 4
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
