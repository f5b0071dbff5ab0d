"""The training campaign's learning curve: Kodak PSNR and bpp at one λ against training steps.

Reads the validation log (``val.jsonl``: entropy-estimated bpp and PSNR on the first Kodak images,
per validated rate level) and the λ ladder (``config.json``) of each run folder given, in order, so
a fine-tune's run continues the curve of the run it started from. Runs whose ladder lacks the λ are
skipped with a note. Writes a PNG and the points as JSON.

    .venv/bin/python benchmarks/learning_curve.py RUN [RUN …] [--lam 512] [--out docs/img/learning-curve.png]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from percomp_ui.fileio import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def points(run: Path, lam: float) -> list[dict[str, float]]:
    """(step, bpp, PSNR) at λ from one run folder's validations. (Their wall_s is left out: before
    2026-11-23 the trainer's clock also counted the time a paused trainer spent stopped.)"""
    lambdas = json.loads((run / "config.json").read_text())["lambdas"]
    if lam not in lambdas:
        return []
    level = str(lambdas.index(lam))
    rows = [json.loads(line) for line in (run / "val.jsonl").read_text().splitlines() if line.strip()]
    return [{"step": r["step"], **r["levels"][level]} for r in rows if level in r["levels"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--lam", type=float, default=512.0, help="the λ whose rate level is followed")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "learning-curve.png")
    args = parser.parse_args()
    curves = {}
    for run in args.runs:
        found = points(run, args.lam)
        if found:
            curves[run.name] = found
        else:
            print(f"{run}: no validation at λ {args.lam:g}")
    if not curves:
        parser.error(f"no run validated at λ {args.lam:g}")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6), dpi=110)
    FigureCanvasAgg(figure)
    psnr_axes, bpp_axes = figure.subplots(1, 2)
    for name, found in curves.items():
        steps = [p["step"] for p in found]
        psnr_axes.plot(steps, [p["psnr"] for p in found], "o-", label=name)
        bpp_axes.plot(steps, [p["bpp"] for p in found], "o-", label=name)
        for p in found:
            print(f"{name:<28} step {p['step']:>6}  {p['bpp']:.4f} bpp  {p['psnr']:.3f} dB")
    psnr_axes.set(xlabel="training step", ylabel="PSNR-RGB (dB)", title=f"Kodak-8 at λ = {args.lam:g}")
    bpp_axes.set(xlabel="training step", ylabel="bpp (entropy estimate)", title="its rate")
    for axes in (psnr_axes, bpp_axes):
        axes.grid(alpha=0.3)
    psnr_axes.legend(fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out)
    atomic_write(args.out.with_suffix(".json"), (json.dumps({"lambda": args.lam, "runs": curves}, indent=2) + "\n").encode())
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
