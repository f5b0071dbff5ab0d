"""Which training recipe learns fastest: every validation of some runs as BD-rate against one checkpoint.

The campaign has more recipes to try (crop size, batch, learning rate, loss) than CPU hours to try them
with, so each candidate gets a short run from the same shipped weights and this script reads where each
one went. Every run folder's ``val.jsonl`` holds the trainer's own validation (entropy-estimated bpp and
PSNR per validated rate level, and the objective); the reference checkpoint is validated here by that
same code on the runs' settings (images, levels, λ ladder, loss weights), so a row reads as "how far
these steps moved the curve from the weights they started from". BD-rate is PSNR, pchip over the
validated levels (``percomp_ui.bdrate``); the objective's change is printed beside it because the two
can disagree: a run may lower R + λ·D by sliding its rate levels along an unchanged curve. "train s"
is the run's own training time at that validation (its clock leaves out the time it was paused), so
recipes of different step costs compare at equal time too.

    .venv/bin/python benchmarks/recipe_compare.py RUN [RUN …] [--reference base-vr] [--out F.json]

Validation numbers are estimates on the first Kodak images: a recipe that wins here still has to win
on the 24 Kodak images with real files (``percomp eval``) before it ships.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from percomp_ui.bdrate import bd_rate
from percomp_ui.fileio import atomic_write
from percomp_ui.train.data import load_validation
from percomp_ui.train.trainer import TrainConfig, Trainer
from percomp_ui.zoo import read_card

# what must agree between runs for their validations to be comparable
VALIDATION_KEYS = ("val", "val_images", "val_levels", "lambdas", "alpha", "beta", "gamma", "roi")
RECIPE_KEYS = ("crop", "batch", "lr", "amp", "architecture")


def curve(validation: dict[str, Any]) -> tuple[list[float], list[float]]:
    """(bpp, PSNR) of one validation, in rate-level order."""
    levels = sorted(validation["levels"], key=int)
    return ([validation["levels"][k]["bpp"] for k in levels], [validation["levels"][k]["psnr"] for k in levels])


def compare(reference: dict[str, Any], validation: dict[str, Any]) -> dict[str, float]:
    """BD-rate (PSNR, %) and the objective's relative change (%) of ``validation`` against ``reference``."""
    return {"bd_rate_psnr": bd_rate(*curve(reference), *curve(validation)),
            "objective_change": 100.0 * (validation["objective"] / reference["objective"] - 1.0)}


def run_config(run: Path) -> dict[str, Any]:
    path = run / "config.json"
    if not path.is_file():
        raise SystemExit(f"{run}: not a run folder (no config.json)")
    return json.loads(path.read_text())


def origin_wall_s(run: Path) -> float:
    """The training seconds a run inherited from the checkpoint it started from (0 without one)."""
    origin = run / "origin.json"
    return float(json.loads(origin.read_text()).get("wall_time_s", 0.0)) if origin.is_file() else 0.0


def validate_checkpoint(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The trainer's validation of zoo checkpoint ``name`` on a run's validation settings."""
    fresh = replace(TrainConfig(**config), init_from=name, architecture=None)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(Path(scratch), fresh)
        return trainer.validate(load_validation(Path(fresh.val), fresh.val_images))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (fine-tunes of the reference)")
    parser.add_argument("--reference", default="base-vr", help="zoo checkpoint they started from")
    parser.add_argument("--out", type=Path, help="write the table as JSON here")
    args = parser.parse_args()
    configs = {run: run_config(run) for run in args.runs}
    first = next(iter(configs.values()))
    for run, config in configs.items():
        differing = [k for k in VALIDATION_KEYS if config.get(k) != first.get(k)]
        if differing:
            parser.error(f"{run} validates differently from {args.runs[0]} ({', '.join(differing)})")
    if not first.get("val"):
        parser.error(f"{args.runs[0]} has no validation folder")

    reference = validate_checkpoint(args.reference, first)
    card = read_card(args.reference)
    print(f"reference {args.reference} ({card.get('weights_hash', 'unhashed')}): objective "
          f"{reference['objective']:.4f}, " + ", ".join(f"level {k} {v['bpp']:.4f} bpp {v['psnr']:.3f} dB"
                                                      for k, v in reference["levels"].items()))
    print(f"{'run':<14} {'recipe':<34} {'step':>6} {'train s':>8} {'objective':>9} {'Δobj':>7} {'BD-rate':>8}")
    table: dict[str, Any] = {}
    for run, config in configs.items():
        recipe = {k: config.get(k) for k in RECIPE_KEYS}
        start_s = origin_wall_s(run)
        rows = []
        lines = (run / "val.jsonl").read_text().splitlines() if (run / "val.jsonl").is_file() else []
        for validation in (json.loads(line) for line in lines if line.strip()):
            rows.append({"step": validation["step"], "train_s": round(validation["wall_s"] - start_s),
                         "objective": validation["objective"], **compare(reference, validation)})
            r = rows[-1]
            described = f"crop {recipe['crop']} batch {recipe['batch']} lr {recipe['lr']:g} amp {recipe['amp']}"
            print(f"{run.name:<14} {described:<34} {r['step']:>6} {r['train_s']:>8} {r['objective']:>9.4f} "
                  f"{r['objective_change']:>+6.2f}% {r['bd_rate_psnr']:>+7.2f}%")
        if not rows:
            print(f"{run.name:<14} (no validation yet)")
        table[run.name] = {"recipe": recipe, "validations": rows}
    if args.out:
        result = {"reference": {"name": args.reference, "weights_hash": card.get("weights_hash"),
                                "validation": reference},
                  "validated_on": {k: first.get(k) for k in VALIDATION_KEYS}, "runs": table}
        atomic_write(args.out, (json.dumps(result, indent=2) + "\n").encode())
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
