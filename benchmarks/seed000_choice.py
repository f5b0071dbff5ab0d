"""Seed 000 §3, measured: per image the best of the four λ models at a bpp cap, against each model alone.

For every image of a folder (default Kodak) and every cap of ``--bpp``, each candidate model codes the
image at the largest rate whose real file is ≤ the cap (``LearnedCodec.encode_to_bpp``, real bytes); the
choice (:func:`percomp_ui.choice.choose_for_bpp`) keeps the best by ``--metric``. The same encodings
give every single model's numbers, so "choice ≥ any single model" is checked on identical files: the
means compare the images every model brings under the cap (``common``); the choice is also averaged
over every image some model reaches. Images no model reaches are counted and listed. Prints a table,
writes JSON.

    .venv/bin/python benchmarks/seed000_choice.py [--data ../shared/datasets/kodak] [--bpp 0.15 0.3]
        [--models s000-l128 …] [--metric ms-ssim] [--out benchmarks/results/seed000-choice.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from percomp_ui.choice import METRICS, choose_for_bpp, quality
from percomp_ui.codec import LearnedCodec
from percomp_ui.errors import InputError
from percomp_ui.fileio import atomic_write
from percomp_ui.images import list_images, load_image
from percomp_ui.zoo import seed000_models

ROOT = Path(__file__).resolve().parent.parent


def other_metric(metric: str) -> str:
    return next(m for m in METRICS if m != metric)


def measure(images: list[Path], codecs: dict[str, LearnedCodec], cap: float, metric: str) -> dict[str, Any]:
    """Per image: the choice and every model's (bpp, both metrics); then the means."""
    second = other_metric(metric)
    rows = []
    for path in images:
        rgb = load_image(path).rgb
        pixels = rgb.shape[0] * rgb.shape[1]
        try:
            best, options = choose_for_bpp(rgb, codecs, cap, metric)
        except InputError as error:  # every model's lowest rate is above the cap for this image
            rows.append({"image": path.name, "unreachable": str(error)})
            print(f"  {cap:g} bpp {path.name}: {error}", flush=True)
            continue
        row: dict[str, Any] = {"image": path.name, "chosen": best.model, "models": {}}
        for option in options:
            decoded = codecs[option.model].reconstruct(option.encoded)
            row["models"][option.model] = {"bpp": option.bits / pixels, metric: option.quality,
                                           second: quality(second, rgb, decoded)}
        rows.append(row)
        print(f"  {cap:g} bpp {path.name}: {best.model} "
              + " ".join(f"{m} {v[metric]:.4f}" for m, v in row["models"].items()), flush=True)

    coded = [r for r in rows if "chosen" in r]
    common = [r for r in coded if len(r["models"]) == len(codecs)]

    def mean_of(subset: list[dict[str, Any]], model: str | None, key: str) -> float | None:
        values = [r["models"][model or r["chosen"]][key] for r in subset]
        return statistics.fmean(values) if values else None

    keys = ("bpp", metric, second)
    summary: dict[str, Any] = {"images": len(rows), "unreachable": len(rows) - len(coded), "common": len(common)}
    summary["choice"] = {k: mean_of(common, None, k) for k in keys}
    for model in codecs:
        summary[model] = {k: mean_of(common, model, k) for k in keys}
        summary[model]["images_reached"] = sum(model in r["models"] for r in rows if "chosen" in r)
    summary["choice_all_reached"] = {k: mean_of(coded, None, k) for k in keys} | {"images": len(coded)}
    summary["choice"]["images_reached"] = len(coded)
    summary["choice"]["max_bpp"] = max((r["models"][r["chosen"]]["bpp"] for r in coded), default=None)
    summary["choice"]["picks"] = {m: sum(r.get("chosen") == m for r in rows) for m in codecs}
    return {"cap": cap, "summary": summary, "images": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    parser.add_argument("--bpp", type=float, nargs="+", default=[0.15, 0.3])
    parser.add_argument("--models", nargs="+", help="default: the zoo's seed-000 family")
    parser.add_argument("--metric", choices=METRICS, default="ms-ssim")
    parser.add_argument("--zoo", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "seed000-choice.json")
    args = parser.parse_args()
    names = args.models or seed000_models(args.zoo)
    if not names:
        parser.error("no seed-000 models in the zoo; name them with --models")
    codecs = {name: LearnedCodec.from_zoo(name, args.zoo) for name in names}
    images = list_images([args.data])
    results = [measure(images, codecs, cap, args.metric) for cap in args.bpp]
    second = other_metric(args.metric)
    print(f"\n{'cap':>5} {'':<18} {'reached':>7} {'mean bpp':>9} {args.metric:>9} {second:>9}   (means over the common images)")
    for result in results:
        summary = result["summary"]
        for label in ("choice", *names, "choice_all_reached"):
            s = summary[label]
            cells = [f"{s[k]:9.4f}" if s[k] is not None else f"{'–':>9}" for k in ("bpp", args.metric, second)]
            reached = s.get("images_reached", s.get("images", summary["images"] - summary["unreachable"]))
            print(f"{result['cap']:5g} {label:<18} {reached:>7} " + " ".join(cells))
        print(f"      {summary['images']} images, {summary['common']} reached by every model, "
              f"{summary['unreachable']} by none; max chosen bpp {summary['choice']['max_bpp']}")
    payload = {"data": str(args.data), "metric": args.metric, "models": names,
               "rate_control": "each model at its largest rate with real file bytes ≤ the cap", "results": results}
    atomic_write(args.out, (json.dumps(payload, indent=2) + "\n").encode())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
