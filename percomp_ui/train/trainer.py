"""Resumable trainer for the BASE variable-rate model (one rate level drawn per sample).

A run folder holds everything needed to continue after a kill (SIGTERM lets the step in progress
finish and saves first: :mod:`.signals`):

    RUN/config.json    the TrainConfig the run was started with
    RUN/state.pt       model + both optimizers + step + best validation (torch.save, weights_only-loadable),
                       and the weights' moving average when the run keeps one (``ema``: :mod:`.average`)
    RUN/log.jsonl      one line per logging interval (loss, bpp, mse, seconds per step)
    RUN/val.jsonl      one line per validation (per-level bpp/PSNR, objective) — the learning curve
    RUN/best/          the best validated weights exported as a zoo checkpoint (safetensors + card);
                       for a ROI run the latest validated ones

Loss: seed 000 eq. 1 with weights ``alpha``, ``beta``, ``gamma`` (BASE: 1, 0, 0; seed-000 fine-tunes: 1,
0.1, 0.1, usually with ``levels`` restricted to the λ levels being fine-tuned and ``init_from``). With
``roi`` (the seed-003 ROI model, usually ``init_from`` the BASE): every crop gets a random mask
(:mod:`.roi_masks`), its latents are scaled by eqs. 6–7 and the loss is seed 003 eqs. 3–4. The
learning rate is ``lr`` × ``lr_gamma`` ^ (number of ``lr_milestones`` ≤ step), a function of the step
alone, so state.pt needs no scheduler state.

Devices and processes. ``device`` "auto" trains on CUDA when there is one. Under ``torchrun
--nproc_per_node=K -m percomp_ui train RUN …`` (WORLD_SIZE > 1) every process builds the same model,
loads the same state.pt (``map_location`` = its own device), joins the process group (NCCL on CUDA,
Gloo on CPU) and trains a DistributedDataParallel copy on its own crops (crop sampler and level draws
seeded per rank; rank 0 keeps the seeds of a one-process run). Each process takes ``batch`` crops, so
the global batch is K × ``batch``. Only rank 0 writes config.json, log.jsonl, val.jsonl, state.pt and
exports, and only rank 0 validates; every rank counts the same steps. The entropy bottleneck's
``quantiles`` belong to the aux optimizer, so DDP is told to ignore them (their gradients come from
the aux loss, computed on the underlying module, and are averaged across ranks by hand); every other
parameter gets a gradient from the main loss, so ``find_unused_parameters`` stays off. Buffers are not
synchronised on forward (none changes during training; rank 0 alone refreshes the CDF tables when it
exports).

Mixed precision (``amp`` "auto": on CUDA only; bfloat16 where supported, else float16 with a
GradScaler). The analysis and synthesis transforms run under autocast; the latent codec (hyperprior
transforms, entropy bottleneck, Gaussian conditional) runs with autocast off on a float32 ``y``, so the
likelihoods, hence the rate term, stay float32; the distortion terms are computed in float32 too.
The GradScaler's state is not saved (it recalibrates within a few steps after a resume).

Weight averaging (``ema`` > 0, :mod:`.average`): rank 0 keeps an exponential moving average of the
weights after every step; validation, the best-weights choice and exports use the average, and each
validation line also records the trained weights' own (``raw``). A run that turns it on later starts
the average at its current weights.
"""
from __future__ import annotations

import copy
import inspect
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..hardware import describe_device
from ..nn.gain import extend_log_gains
from ..nn.checkerboard import checkerboard_state_from
from ..nn.hyperprior import CHECKERBOARD, DEFAULT_LAMBDAS, MEAN_SCALE, GainedMeanScaleHyperprior, HyperpriorConfig
from ..zoo import SEED000_FAMILY, load_model, read_card, save_checkpoint
from . import distributed
from .average import WeightAverage
from .clock import StepClock
from .data import CropSampler, load_validation
from ..roi.mask import MAX_ALPHA, MIN_ALPHA
from .losses import (LPIPS_BACKBONES, describe_levels, describe_loss, describe_roi_loss, load_lpips,
                     rate_distortion_loss, roi_rate_distortion_loss, trained_lambdas)
from .roi_masks import RoiMaskSampler
from .signals import SignalFlag

AMP_MODES = ("auto", "off", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
ORIGIN_FILE = "origin.json"  # in a run folder started --init-from: that checkpoint's name, steps, wall time, hash
RANK_SEED_STRIDE = 1_000_003  # rank r draws crops and levels from seed + r·stride (rank 0: as one process)


@dataclass
class TrainConfig:
    data: list[str]
    val: str | None = None
    N: int = 128
    M: int = 192
    lambdas: list[float] = field(default_factory=lambda: list(DEFAULT_LAMBDAS))
    # MEAN_SCALE, or CHECKERBOARD: the same plus a checkerboard context; --init-from a MEAN_SCALE
    # checkpoint starts it with the context's output at zero, coding what the checkpoint coded.
    # None: a new run takes its init_from checkpoint's (else MEAN_SCALE); a run saved before the
    # option existed is MEAN_SCALE
    architecture: str | None = None
    # 256-px crops (the hyper-latent gets 4×4 positions a crop, not 2×2): on Kodak 500 such steps beat
    # 13 000 of 128-px, batch 8 at the same pixels per batch (docs/results.md, "Crop size")
    crop: int = 256
    batch: int = 4  # per process
    lr: float = 5e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    steps: int = 200_000
    val_every: int = 500
    val_images: int = 8
    val_levels: list[int] = field(default_factory=lambda: [1, 3, 5, 7])
    save_every_s: float = 300.0
    log_every: int = 50
    threads: int = 0  # 0 = torch default; shared out between the processes of a CPU torchrun job
    seed: int = 0
    export_name: str = "base-vr"
    init_from: str | None = None  # a zoo checkpoint to start a new run from (its steps carry over)
    # seed 000 eq. 1: L = R + λ·(α·MSE + β·(1 − MS-SSIM) + γ·LPIPS)
    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.0
    lpips_net: str = "alex"  # "alex" or "vgg" (needs torchvision's ImageNet weights on disk)
    levels: list[int] | None = None  # rate levels to train (None: all; repeat one to draw it more often)
    lr_milestones: list[int] = field(default_factory=list)  # steps at which lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    compile: bool = False  # torch.compile the training forward
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"
    amp: str = "auto"  # "auto" (CUDA only), "off", "bf16", "fp16"
    # seed 003 ROI training (eqs. 3-7); the seed-000 weights above are then unused
    roi: bool = False
    roi_alpha_range: list[float] = field(default_factory=lambda: [0.25, 3.0])
    roi_background_weight: float = 0.01  # w in R + λ·(d_ROI + w·d_BG): 1 − MS-SSIM is ~30× an MSE
    roi_lpips_weight: float = 0.5  # λ_p of eq. 4
    # decay of the weights' moving average that validation and export use (0: none; 0.999 ≈ the last
    # 1 000 steps): takes out the gradient noise of small batches at a constant lr (.average)
    ema: float = 0.0


def psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


class TrainingForward(nn.Module):
    """``model.forward`` for training, with the latent codec kept in float32 under autocast.

    Without mixed precision it is exactly ``model(x, levels)``. It is the module DDP wraps (and
    ``torch.compile`` compiles); checkpoints always hold the bare model's state dict.
    """

    def __init__(self, model: GainedMeanScaleHyperprior, device_type: str, amp_dtype: torch.dtype | None) -> None:
        super().__init__()
        self.codec = model
        self.device_type = device_type
        self.amp_dtype = amp_dtype

    def forward(self, x: Tensor, levels: Tensor, roi_scale: Tensor | None = None) -> dict[str, Any]:
        if self.amp_dtype is None:
            return self.codec(x, levels, roi_scale)
        m = self.codec
        with torch.autocast(self.device_type, dtype=self.amp_dtype):
            y = m.g_a(x)
        with torch.autocast(self.device_type, enabled=False):  # likelihoods (the rate) in float32
            out = m.latent_codec(y.float(), m.gains_for_levels(levels, roi_scale))
        with torch.autocast(self.device_type, dtype=self.amp_dtype):
            x_hat = m.g_s(out["y_hat"])
        return {"x_hat": x_hat.float(), "likelihoods": out["likelihoods"], "y": y}


class Trainer:
    def __init__(self, run_dir: Path, config: TrainConfig | None = None, zoo: Path | None = None) -> None:
        """``zoo``: where ``init_from`` is read (default: :func:`percomp_ui.zoo.default_checkpoint_dir`)."""
        self.run_dir = Path(run_dir)
        self.zoo = zoo
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "config.json"
        if config_path.exists():
            saved = TrainConfig(**json.loads(config_path.read_text()))
            self.config = _merge_runtime_options(saved, config)
        elif config is None:
            raise FileNotFoundError(f"{self.run_dir} holds no run and no config was given")
        else:
            self.config = config
        if self.config.architecture is None:  # a new run (a resumed one has its own): its init_from checkpoint's
            self.config = replace(self.config, architecture=read_card(self.config.init_from, zoo)["config"]["architecture"]
                                  if self.config.init_from else MEAN_SCALE)
        c = self.config
        _check_config(c)
        use_cuda = c.device == "cuda" or (c.device == "auto" and torch.cuda.is_available())
        self.dist = distributed.setup(use_cuda)
        self.device = torch.device("cuda", self.dist.local_rank if self.dist.enabled else torch.cuda.current_device()) \
            if use_cuda else torch.device("cpu")
        if c.threads:
            shared = self.dist.world_size if self.device.type == "cpu" else 1
            torch.set_num_threads(max(1, c.threads // shared))
        torch.manual_seed(c.seed)
        self.model = GainedMeanScaleHyperprior(HyperpriorConfig(N=c.N, M=c.M, lambdas=tuple(c.lambdas),
                                                                architecture=c.architecture))
        self.model.to(self.device)
        self.model.train()
        aux = {n for n, _ in self.model.named_parameters() if n.endswith(".quantiles")}
        params = dict(self.model.named_parameters())
        self._main_params = [params[n] for n in params if n not in aux]
        self._aux_params = [params[n] for n in params if n in aux]
        self.optimizer = torch.optim.Adam(self._main_params, lr=c.lr)
        self.aux_optimizer = torch.optim.Adam(self._aux_params, lr=c.aux_lr)
        self.step = 0
        self.best = math.inf
        self.wall_s = 0.0
        self.origin: dict[str, Any] | None = None  # the checkpoint a fine-tune started from (ORIGIN_FILE)
        self.average: WeightAverage | None = None
        if self.state_path.exists():
            self._load_state()
        elif c.init_from:
            self._init_from_checkpoint(c.init_from)
        if c.ema and self.dist.is_main and self.average is None:  # a new run, or one that turns it on now
            self.average = WeightAverage(self.model, c.ema)
        if self.dist.is_main:  # only now: a run whose start failed leaves no config to resume with
            _write_json(config_path, asdict(c))
        self._set_lr()
        if self.dist.rank:  # other crops, levels and quantization noise than rank 0
            torch.manual_seed(c.seed + RANK_SEED_STRIDE * self.dist.rank)
        self._lambdas = torch.tensor(c.lambdas)
        self.lpips, self.lpips_status = None, "not used (γ=0)"
        if (c.roi and c.roi_lpips_weight) or (not c.roi and c.gamma):
            self.lpips, self.lpips_status = load_lpips(c.lpips_net, self.device, warn=self.dist.is_main)
        self.roi_sampler = None
        if c.roi:
            self.roi_sampler = RoiMaskSampler(c.M, tuple(c.roi_alpha_range),
                                              seed=c.seed + self.step + RANK_SEED_STRIDE * self.dist.rank)
        self.amp_dtype = _amp_dtype(c.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.net: nn.Module = self._training_module()

    def _training_module(self) -> nn.Module:
        net: nn.Module = TrainingForward(self.model, self.device.type, self.amp_dtype)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ignore = [n for n, _ in net.named_parameters() if n.endswith(".quantiles")]
            setter = getattr(DDP, "_set_params_and_buffers_to_ignore_for_model", None)
            if setter is not None:
                setter(net, ignore)
            else:  # pragma: no cover - older torch
                net._ddp_params_and_buffers_to_ignore = ignore
            distributed.broadcast_parameters(self.dist, self._aux_params)
            buffers = ({"forward_sync_buffers": False}
                       if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
                       else {"broadcast_buffers": False})
            net = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                      find_unused_parameters=False, **buffers)
        if self.config.compile:
            net = torch.compile(net)
        return net

    # -- state ----------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.pt"

    def _init_from_checkpoint(self, name: str) -> None:
        """Continue a campaign on a new machine from shipped weights (the optimizer starts fresh)."""
        model, card = load_model(name, self.zoo)
        state = model.state_dict()
        mine = self.model.config
        if (model.config.N, model.config.M) != (mine.N, mine.M):
            raise ValueError(f"checkpoint {name!r} has another N/M than this run")
        if model.config.lambdas != mine.lambdas:  # a longer ladder: extrapolate the new levels' gains
            for key in [k for k in state if k.endswith(("log_gain", "log_gain_inv"))]:
                state[key] = extend_log_gains(state[key], model.config.lambdas, mine.lambdas)
        if (model.config.architecture, mine.architecture) == (MEAN_SCALE, CHECKERBOARD):
            state = checkerboard_state_from(state, self.model)
        elif model.config.architecture != mine.architecture:
            raise ValueError(f"checkpoint {name!r} is a {model.config.architecture}; this run trains a "
                             f"{mine.architecture}")
        self.model.load_state_dict(state)
        self.step = int(card.get("training", {}).get("steps", 0))
        self.wall_s = float(card.get("training", {}).get("wall_time_s", 0.0))
        self.origin = {"name": name, "steps": self.step, "wall_time_s": round(self.wall_s),
                       "weights_hash": card.get("weights_hash")}
        if self.dist.is_main:  # kept beside the run state, for the model card of a resumed run
            _write_json(self.run_dir / ORIGIN_FILE, self.origin)

    def _load_state(self) -> None:
        state = torch.load(self.state_path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        for group in self.aux_optimizer.param_groups:
            group["lr"] = self.config.aux_lr
        self.step, self.best, self.wall_s = int(state["step"]), float(state["best"]), float(state["wall_s"])
        if self.config.ema and self.dist.is_main and "ema" in state:
            self.average = WeightAverage(self.model, self.config.ema)
            self.average.load_state_dict(state["ema"])
        origin = self.run_dir / ORIGIN_FILE
        if origin.exists():
            self.origin = json.loads(origin.read_text())

    def save_state(self) -> None:
        if not self.dist.is_main:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "step": self.step,
            "best": self.best,
            "wall_s": self.wall_s,
            **({"ema": self.average.state_dict()} if self.average else {}),
        }
        tmp = self.state_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.state_path)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / name, "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- schedule -------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """lr for the update that follows ``step`` finished steps (MultiStepLR's rule)."""
        c = self.config
        return c.lr * c.lr_gamma ** sum(1 for m in c.lr_milestones if step >= m)

    def _set_lr(self) -> None:
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def draw_levels(self, count: int) -> Tensor:
        """One rate level per sample, uniformly from ``levels`` (default: every level); a level listed
        n times is drawn n times as often."""
        if self.config.levels:
            allowed = torch.tensor(self.config.levels)
            return allowed[torch.randint(len(allowed), (count,))]
        return torch.randint(len(self.config.lambdas), (count,))

    # -- one step -------------------------------------------------------------------------------
    def train_step(self, x: Tensor) -> dict[str, float]:
        c = self.config
        x = x.to(self.device, non_blocking=True)
        levels = self.draw_levels(x.shape[0])
        lambdas = self._lambdas[levels].to(self.device)
        if self.roi_sampler is None:
            out = self.net(x, levels.to(self.device))
            losses = rate_distortion_loss(out["x_hat"], x, out["likelihoods"], lambdas,
                                          c.alpha, c.beta, c.gamma, self.lpips)
        else:
            roi = self.roi_sampler.batch(x)
            out = self.net(x, levels.to(self.device), roi.scale.to(self.device))
            losses = roi_rate_distortion_loss(out["x_hat"], x, out["likelihoods"], lambdas, roi.mask_2d,
                                              c.roi_background_weight, c.roi_lpips_weight, self.lpips)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self._main_params, c.clip)
        self._set_lr()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        aux_loss = self.model.aux_loss()  # on the bare model: the quantiles are outside DDP
        self.aux_optimizer.zero_grad(set_to_none=True)
        aux_loss.backward()
        distributed.average_gradients(self.dist, self._aux_params)
        self.aux_optimizer.step()
        if self.average:
            self.average.update(self.model)
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()} | {"aux": float(aux_loss.detach())}

    # -- validation -----------------------------------------------------------------------------
    @property
    def judged_model(self) -> GainedMeanScaleHyperprior:
        """The weights validation judges and export ships: the moving average when the run keeps one."""
        return self.average.model if self.average else self.model

    @torch.no_grad()
    def validate(self, images: list[Tensor], model: GainedMeanScaleHyperprior | None = None) -> dict[str, Any]:
        """Entropy-estimated bpp, PSNR (and MS-SSIM when the loss has it) at real rounding, per level,
        of ``model`` (default :attr:`judged_model`); objective = the mean of seed 000 eq. 1 with the
        run's α, β, γ (a ROI run: α alone, no mask)."""
        c = self.config
        model = self.judged_model if model is None else model
        weights = (1.0, 0.0, 0.0) if c.roi else (c.alpha, c.beta, c.gamma)
        training = model.training
        model.eval()
        per_level = {}
        objective = 0.0
        for level in c.val_levels:
            sums: dict[str, float] = {}
            for x in images:
                x = x.to(self.device)
                out = model(x, torch.tensor([level], device=self.device))
                lam = torch.tensor([c.lambdas[level]], device=self.device)
                parts = rate_distortion_loss(out["x_hat"].clamp(0, 1), x, out["likelihoods"], lam, *weights,
                                             lpips_fn=self.lpips)
                for key, value in parts.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
            mean = {key: value / len(images) for key, value in sums.items()}
            per_level[str(level)] = {"bpp": round(mean["bpp"], 4), "psnr": round(psnr(mean["mse"]), 3)} | {
                key: round(mean[key], 4) for key in ("ms_ssim", "lpips") if key in mean}
            objective += mean["loss"]
        model.train(training)
        return {"levels": per_level, "objective": objective / len(c.val_levels)}

    def loss_description(self) -> str:
        c = self.config
        if c.roi:
            return describe_roi_loss(c.roi_background_weight, c.roi_lpips_weight, self.lpips_status,
                                     tuple(c.roi_alpha_range))
        return describe_loss(c.alpha, c.beta, c.gamma, self.lpips_status if c.gamma else None, c.lpips_net, c.levels)

    def fine_tune_record(self) -> dict[str, Any]:
        """The part of ``steps`` and ``wall_time_s`` this run added to the checkpoint it started from."""
        o = self.origin
        assert o is not None, "only a run started --init-from has a fine-tune record"
        steps = f"{o['steps']:,}".replace(",", " ")
        record = {"from": f"{o['name']} ({steps} steps, weights {o.get('weights_hash') or 'unhashed'})",
                  "steps": self.step - o["steps"], "wall_time_s": round(self.wall_s - o["wall_time_s"])}
        if self.config.levels:
            record["levels"] = describe_levels(self.config.levels)
        return record

    def _device_name(self) -> str:
        name = describe_device(self.device)
        return f"{self.dist.world_size} processes (DDP), each on {name}" if self.dist.enabled else name

    def export(self, directory: Path, validation: dict[str, Any] | None) -> dict[str, Any]:
        c = self.config
        # The judged model when it is on the CPU (as always); a CPU copy otherwise.
        judged = self.judged_model
        training = judged.training
        model = judged if self.device.type == "cpu" else copy.deepcopy(judged).cpu()
        model.eval()
        model.update(force=True)
        perceptual = c.beta or (c.gamma and self.lpips is not None)
        network = "variable-rate mean-scale hyperprior with gain units" + (
            " and a checkerboard context" if c.architecture == CHECKERBOARD else "")
        if c.roi:
            description = f"ROI {network}, trained with seed-003 ROI-scaled latents and the ROI / background loss"
        elif perceptual:
            trained = "" if c.levels is None else " at λ " + trained_lambdas(c.levels, c.lambdas)
            description = ("seed-000 perceptual fine-tune (eq. 1: α·MSE + β·(1 − MS-SSIM) + γ·LPIPS)" + trained
                           + f" of a {network}")
        else:
            description = f"BASE {network} (MSE)"
        card = {
            "description": description,
            "roi": c.roi,
            **({"family": SEED000_FAMILY} if perceptual and not c.roi else {}),
            "training": {
                "data": c.data,
                "steps": self.step,
                "wall_time_s": round(self.wall_s),
                "device": self._device_name(),
                "recipe": {k: v for k, v in asdict(c).items()
                           if k not in ("data", "val", "export_name", "N", "M", "lambdas", "architecture")},
                "loss": self.loss_description(),
                "lpips": self.lpips_status,
                **({"fine_tune": self.fine_tune_record()} if self.origin else {}),
            },
            "validation": validation,
        }
        result = save_checkpoint(model, c.export_name, card, directory)
        judged.train(training)
        return result

    # -- the loop -------------------------------------------------------------------------------
    def run(self, max_steps: int | None = None, progress: bool = True) -> None:
        c = self.config
        main = self.dist.is_main
        seed = c.seed + self.step + RANK_SEED_STRIDE * self.dist.rank
        sampler = CropSampler([Path(d) for d in c.data], c.crop, seed=seed)
        if not len(sampler):
            raise ValueError(f"no training image of at least {c.crop}×{c.crop} px in {', '.join(c.data)}")
        val_images = load_validation(Path(c.val), c.val_images) if c.val and main else []
        target = c.steps if max_steps is None else min(c.steps, self.step + max_steps)
        last_save = time.monotonic()
        window: list[dict[str, float]] = []
        bar = _progress(progress and main, self.step, target)
        clock = StepClock().watch()  # wall_s leaves out the time the process spent stopped (SIGSTOP)
        stop = SignalFlag("SIGTERM").watch(enabled=not self.dist.enabled)  # finish the step, save, return
        while self.step < target and not stop.raised:
            t0 = time.monotonic()
            window.append(self.train_step(sampler.batch(c.batch)))
            self.wall_s += clock.count(time.monotonic() - t0)
            bar.update(1)
            if self.step % c.log_every == 0:
                record = {k: sum(r[k] for r in window) / len(window) for k in window[0]}
                record = distributed.mean_over_ranks(self.dist, record, self.device)
                if c.lr_milestones:
                    record["lr"] = self.lr_at(self.step - 1)  # of the last step
                self._append("log.jsonl", {"step": self.step, "wall_s": round(self.wall_s, 1), **record})
                bar.set_postfix(loss=f"{record['loss']:.3f}", bpp=f"{record['bpp']:.3f}")
                window.clear()
            if val_images and (self.step % c.val_every == 0 or self.step == c.steps):  # and at the run's end
                result = self.validate(val_images)
                if self.average:
                    result["raw"] = self.validate(val_images, self.model)
                self._append("val.jsonl", {"step": self.step, "wall_s": round(self.wall_s, 1), **result})
                # A ROI run's plain full-image objective rises by design (its background loses bits), so
                # it exports its latest validated weights; other runs keep their best.
                if c.roi or result["objective"] < self.best:
                    self.best = min(self.best, result["objective"])
                    self.export(self.run_dir / "best", result)
                self.save_state()
                last_save = time.monotonic()
            elif time.monotonic() - last_save > c.save_every_s:
                self.save_state()
                last_save = time.monotonic()
        self.save_state()
        stop.close()
        clock.close()
        bar.close()
        if stop.raised and main:
            print(f"stopped (SIGTERM) after step {self.step}; state saved in {self.run_dir}", flush=True)
        distributed.barrier(self.dist)


def _check_config(c: TrainConfig) -> None:
    """Reject settings that cannot work before anything is built (ValueError → one CLI line)."""
    if c.levels is not None:
        bad = [level for level in c.levels if not 0 <= level < len(c.lambdas)]
        if not c.levels or bad:
            raise ValueError(f"levels {c.levels} must be rate levels 0 … {len(c.lambdas) - 1}")
    if min(c.alpha, c.beta, c.gamma) < 0 or not (c.alpha or c.beta or c.gamma):
        raise ValueError("alpha, beta, gamma must be ≥ 0 and not all 0")
    if c.lpips_net not in LPIPS_BACKBONES:
        raise ValueError(f"lpips_net {c.lpips_net!r}: one of {', '.join(LPIPS_BACKBONES)}")
    if any(m < 0 for m in c.lr_milestones) or c.lr_gamma <= 0:
        raise ValueError("lr_milestones must be steps ≥ 0 and lr_gamma > 0")
    if c.device not in DEVICES:
        raise ValueError(f"device {c.device!r}: one of {', '.join(DEVICES)}")
    if c.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda: no CUDA device is available")
    if c.amp not in AMP_MODES:
        raise ValueError(f"amp {c.amp!r}: one of {', '.join(AMP_MODES)}")
    low, high = c.roi_alpha_range if len(c.roi_alpha_range) == 2 else (0.0, 0.0)
    if not MIN_ALPHA <= low <= high <= MAX_ALPHA:
        raise ValueError(f"roi_alpha_range must be two values within [{MIN_ALPHA:g}, {MAX_ALPHA:g}], low first")
    if c.roi_background_weight <= 0 or c.roi_lpips_weight < 0:
        raise ValueError("roi_background_weight must be > 0 and roi_lpips_weight ≥ 0")
    if not 0.0 <= c.ema < 1.0:
        raise ValueError(f"ema must be a decay in [0, 1) (0: no weight averaging; got {c.ema})")


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype, or None for float32 training. "auto": bfloat16 (else float16) on CUDA only."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16" or device.type != "cuda" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic, so that other processes of a torchrun job never read half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _merge_runtime_options(saved: TrainConfig, given: TrainConfig | None) -> TrainConfig:
    """A resumed run keeps its model shape and λ ladder; schedule options may change between sessions."""
    saved = replace(saved, architecture=saved.architecture or MEAN_SCALE)  # saved before the option existed
    if given is None:
        return saved
    if given.architecture is None:  # not asked for: the run's own
        given = replace(given, architecture=saved.architecture)
    fixed = ("N", "M", "lambdas", "architecture")
    mismatched = [k for k in fixed if getattr(saved, k) != getattr(given, k)]
    if mismatched:
        raise ValueError(f"run was started with other {', '.join(mismatched)}; use a new run folder")
    return given


def _progress(enabled: bool, start: int, total: int):
    from tqdm import tqdm

    return tqdm(initial=start, total=total, disable=not enabled, unit="step", dynamic_ncols=True)
