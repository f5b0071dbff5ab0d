"""``percomp train`` (resumable) and ``percomp export`` (a run's best weights → zoo checkpoint).

Several processes: ``torchrun --nproc_per_node=K -m percomp_ui train RUN --data …`` (DDP; see
``percomp_ui.train.trainer``). Every option given on the command line overrides the run's config.json.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..errors import InputError
from ..nn.hyperprior import ARCHITECTURES

TUNABLE: dict[str, type] = {"steps": int, "crop": int, "batch": int, "lr": float, "aux_lr": float, "clip": float,
                            "val_every": int, "val_images": int, "log_every": int, "save_every_s": float,
                            "threads": int, "seed": int,
                            "alpha": float, "beta": float, "gamma": float, "lr_gamma": float,
                            "roi_background_weight": float, "roi_lpips_weight": float, "ema": float}
LISTS = ("levels", "lr_milestones", "val_levels", "roi_alpha_range", "lambdas")
CHOICES = {"lpips_net": ("alex", "vgg", "squeeze"), "device": ("auto", "cpu", "cuda"),
           "amp": ("auto", "off", "bf16", "fp16"), "architecture": ARCHITECTURES}


def add_train_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", help="train or resume a BASE variable-rate model (run folder is resumable)",
                       parents=[common])
    p.add_argument("run_dir", type=Path, help="run folder (created, or resumed when it holds a run)")
    p.add_argument("--data", type=Path, action="append", help="training image folder (repeatable)")
    p.add_argument("--val", type=Path, help="validation image folder (e.g. Kodak)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in this call")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--N", type=int)
    p.add_argument("--M", type=int)
    p.add_argument("--export-name")
    p.add_argument("--init-from", help="start a new run from this checkpoint of --zoo (e.g. base-vr)")
    for name, kind in TUNABLE.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind)
    p.add_argument("--lambdas", type=float, nargs="+",
                   help="the λ ladder of a new run (default 64 … 8192); with --init-from it may extend the "
                        "checkpoint's ladder at either end, new levels' gains extrapolated")
    p.add_argument("--levels", type=int, nargs="+", help="train only these rate levels (e.g. 1 2 4 5); a level given n times "
                        "is drawn n times as often (0 1 2 3 3 3: level 3 in half the samples)")
    p.add_argument("--lr-milestones", dest="lr_milestones", type=int, nargs="+",
                   help="steps at which the learning rate is multiplied by --lr-gamma")
    p.add_argument("--val-levels", dest="val_levels", type=int, nargs="+")
    for name, choices in CHOICES.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, choices=choices)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the training forward")
    p.add_argument("--roi", action=argparse.BooleanOptionalAction, default=None,
                   help="train the seed-003 ROI model: random masks, ROI-scaled latents, ROI/background loss")
    p.add_argument("--roi-alpha-range", dest="roi_alpha_range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="with --roi: α drawn log-uniformly in this range per crop (default 0.25 3)")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("pack-crops", parents=[common],
                       help="training photos → a folder of JPEG crops within a byte budget (for a GPU session)")
    p.add_argument("folders", type=Path, nargs="+", help="training image folders")
    p.add_argument("--out", type=Path, required=True, help="a new folder for the crops")
    p.add_argument("--crop", type=int, default=512, help="crop side in px (default 512)")
    p.add_argument("--budget-mb", type=float, required=True, help="the most the crops may take, in MiB")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_pack_crops)

    p = sub.add_parser("export", help="copy a run's best weights into a zoo folder", parents=[common])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--to", type=Path, required=True, help="zoo folder, e.g. checkpoints/")
    p.set_defaults(run=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    from .trainer import TrainConfig, Trainer

    names = (*TUNABLE, *LISTS, *CHOICES, "compile", "roi", "N", "M", "export_name", "init_from")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    config_path = args.run_dir / "config.json"
    if config_path.exists():
        import json

        saved = json.loads(config_path.read_text())
        config = TrainConfig(**{**saved, **overrides,
                                **({"data": [str(d) for d in args.data]} if args.data else {}),
                                **({"val": str(args.val)} if args.val else {})})
    else:
        if not args.data:
            raise InputError(f"{args.run_dir} holds no run yet: give --data FOLDER")
        config = TrainConfig(data=[str(d) for d in args.data], val=str(args.val) if args.val else None, **overrides)
    for folder in [*config.data, *([config.val] if config.val else [])]:
        if not Path(folder).is_dir():
            raise InputError(f"{folder}: no such folder")
    from . import distributed

    try:
        trainer = Trainer(args.run_dir, config, zoo=args.zoo)
        trainer.run(max_steps=args.max_steps, progress=not args.no_progress)
    except ValueError as error:
        raise InputError(str(error)) from None
    finally:
        distributed.cleanup()
    return 0


def cmd_pack_crops(args: argparse.Namespace) -> int:
    from .pack import pack_crops

    for folder in args.folders:
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder")
    manifest = pack_crops(args.folders, args.out, args.crop, round(args.budget_mb * 2**20), args.seed)
    print(f"packed {manifest['count']} crops of {args.crop} px ({manifest['bytes'] / 2**20:.1f} MiB) "
          f"from {manifest['photos_available']} photos into {args.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    best = args.run_dir / "best"
    cards = sorted(best.glob("*.json")) if best.is_dir() else []
    if not cards:
        raise InputError(f"{args.run_dir}: no validated weights exported yet (run longer, or with --val)")
    args.to.mkdir(parents=True, exist_ok=True)
    for card in cards:
        for path in (card, card.with_suffix(".safetensors")):
            shutil.copy2(path, args.to / path.name)
        print(f"exported {card.stem} → {args.to}")
    return 0
