"""Resumable trainer for the BASE variable-rate model (one rate level drawn per sample).

A run folder holds everything needed to continue after a kill:

    RUN/config.json    the TrainConfig the run was started with
    RUN/state.pt       model + both optimizers + step + best validation (torch.save, weights_only-loadable)
    RUN/log.jsonl      one line per logging interval (loss, bpp, mse, seconds per step)
    RUN/val.jsonl      one line per validation (per-level bpp/PSNR, objective) — the learning curve
    RUN/best/          the best validated weights exported as a zoo checkpoint (safetensors + card)
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..nn.hyperprior import DEFAULT_LAMBDAS, GainedMeanScaleHyperprior, HyperpriorConfig
from ..zoo import load_model, save_checkpoint
from .data import CropSampler, load_validation
from .losses import bits_per_pixel, per_sample_mse, rate_distortion_loss


@dataclass
class TrainConfig:
    data: list[str]
    val: str | None = None
    N: int = 128
    M: int = 192
    lambdas: list[float] = field(default_factory=lambda: list(DEFAULT_LAMBDAS))
    crop: int = 128
    batch: int = 8
    lr: float = 5e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    steps: int = 200_000
    val_every: int = 500
    val_images: int = 8
    val_levels: list[int] = field(default_factory=lambda: [1, 3, 5, 7])
    save_every_s: float = 300.0
    log_every: int = 50
    threads: int = 0  # 0 = torch default
    seed: int = 0
    export_name: str = "base-vr"
    init_from: str | None = None  # a zoo checkpoint to start a new run from (its steps carry over)


def psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


class Trainer:
    def __init__(self, run_dir: Path, config: TrainConfig | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "config.json"
        if config_path.exists():
            saved = TrainConfig(**json.loads(config_path.read_text()))
            self.config = _merge_runtime_options(saved, config)
        elif config is None:
            raise FileNotFoundError(f"{self.run_dir} holds no run and no config was given")
        else:
            self.config = config
        config_path.write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        c = self.config
        if c.threads:
            torch.set_num_threads(c.threads)
        torch.manual_seed(c.seed)
        self.model = GainedMeanScaleHyperprior(HyperpriorConfig(N=c.N, M=c.M, lambdas=tuple(c.lambdas)))
        self.model.train()
        aux = {n for n, _ in self.model.named_parameters() if n.endswith(".quantiles")}
        params = dict(self.model.named_parameters())
        self.optimizer = torch.optim.Adam([params[n] for n in params if n not in aux], lr=c.lr)
        self.aux_optimizer = torch.optim.Adam([params[n] for n in aux], lr=c.aux_lr)
        self.step = 0
        self.best = math.inf
        self.wall_s = 0.0
        if self.state_path.exists():
            self._load_state()
        elif c.init_from:
            self._init_from_checkpoint(c.init_from)

    # -- state ----------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.pt"

    def _init_from_checkpoint(self, name: str) -> None:
        """Continue a campaign on a new machine from shipped weights (the optimizer starts fresh)."""
        model, card = load_model(name)
        if model.config != self.model.config:
            raise ValueError(f"checkpoint {name!r} has another configuration than this run")
        self.model.load_state_dict(model.state_dict())
        self.step = int(card.get("training", {}).get("steps", 0))
        self.wall_s = float(card.get("training", {}).get("wall_time_s", 0.0))

    def _load_state(self) -> None:
        state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr
        self.step, self.best, self.wall_s = state["step"], state["best"], state["wall_s"]

    def save_state(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "step": self.step,
            "best": self.best,
            "wall_s": self.wall_s,
        }
        tmp = self.state_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.state_path)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with open(self.run_dir / name, "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- one step -------------------------------------------------------------------------------
    def train_step(self, x: Tensor) -> dict[str, float]:
        lambdas = torch.tensor(self.config.lambdas)
        levels = torch.randint(len(lambdas), (x.shape[0],))
        out = self.model(x, levels)
        losses = rate_distortion_loss(out["x_hat"], x, out["likelihoods"], lambdas[levels])
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        aux_loss = self.model.aux_loss()
        self.aux_optimizer.zero_grad(set_to_none=True)
        aux_loss.backward()
        self.aux_optimizer.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()} | {"aux": float(aux_loss.detach())}

    # -- validation -----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, images: list[Tensor]) -> dict[str, Any]:
        """Entropy-estimated bpp and PSNR at real rounding, per level; objective = mean R + λ·D."""
        self.model.eval()
        per_level = {}
        objective = 0.0
        for level in self.config.val_levels:
            bpp = mse = 0.0
            for x in images:
                out = self.model(x, torch.tensor([level]))
                bpp += float(bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1]))
                mse += float(per_sample_mse(out["x_hat"].clamp(0, 1), x))
            bpp, mse = bpp / len(images), mse / len(images)
            per_level[str(level)] = {"bpp": round(bpp, 4), "psnr": round(psnr(mse), 3)}
            objective += bpp + self.config.lambdas[level] * mse
        self.model.train()
        return {"levels": per_level, "objective": objective / len(self.config.val_levels)}

    def export(self, directory: Path, validation: dict[str, Any] | None) -> dict[str, Any]:
        self.model.eval()
        self.model.update(force=True)
        card = {
            "description": "BASE variable-rate mean-scale hyperprior with gain units (MSE)",
            "training": {
                "data": self.config.data,
                "steps": self.step,
                "wall_time_s": round(self.wall_s),
                "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
                "recipe": {k: v for k, v in asdict(self.config).items()
                           if k not in ("data", "val", "export_name", "N", "M", "lambdas")},
                "loss": "R + λ·MSE (seed 000 eq. 1 with α=1, β=γ=0), one λ level drawn per sample",
            },
            "validation": validation,
        }
        result = save_checkpoint(self.model, self.config.export_name, card, directory)
        self.model.train()
        return result

    # -- the loop -------------------------------------------------------------------------------
    def run(self, max_steps: int | None = None, progress: bool = True) -> None:
        c = self.config
        sampler = CropSampler([Path(d) for d in c.data], c.crop, seed=c.seed + self.step)
        val_images = load_validation(Path(c.val), c.val_images) if c.val else []
        target = c.steps if max_steps is None else min(c.steps, self.step + max_steps)
        last_save = time.monotonic()
        window: list[dict[str, float]] = []
        bar = _progress(progress, self.step, target)
        while self.step < target:
            t0 = time.monotonic()
            window.append(self.train_step(sampler.batch(c.batch)))
            self.wall_s += time.monotonic() - t0
            bar.update(1)
            if self.step % c.log_every == 0:
                record = {k: sum(r[k] for r in window) / len(window) for k in window[0]}
                self._append("log.jsonl", {"step": self.step, "wall_s": round(self.wall_s, 1), **record})
                bar.set_postfix(loss=f"{record['loss']:.3f}", bpp=f"{record['bpp']:.3f}")
                window.clear()
            if val_images and self.step % c.val_every == 0:
                result = self.validate(val_images)
                self._append("val.jsonl", {"step": self.step, "wall_s": round(self.wall_s, 1), **result})
                if result["objective"] < self.best:
                    self.best = result["objective"]
                    self.export(self.run_dir / "best", result)
                self.save_state()
                last_save = time.monotonic()
            elif time.monotonic() - last_save > c.save_every_s:
                self.save_state()
                last_save = time.monotonic()
        self.save_state()
        bar.close()


def _merge_runtime_options(saved: TrainConfig, given: TrainConfig | None) -> TrainConfig:
    """A resumed run keeps its model shape and λ ladder; schedule options may change between sessions."""
    if given is None:
        return saved
    fixed = ("N", "M", "lambdas")
    mismatched = [k for k in fixed if getattr(saved, k) != getattr(given, k)]
    if mismatched:
        raise ValueError(f"run was started with other {', '.join(mismatched)}; use a new run folder")
    return given


def _progress(enabled: bool, start: int, total: int):
    from tqdm import tqdm

    return tqdm(initial=start, total=total, disable=not enabled, unit="step", dynamic_ncols=True)
