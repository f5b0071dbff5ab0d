"""Rate–distortion plots and BD-rate tables for CompressAI-format result JSON files.

Any file with ``{"name", "results": {"bpp": [...], <metric>: [...]}}`` works: ours (``percomp eval``)
and the anchors in ``../shared/anchors/kodak``. Metrics (:data:`METRICS`):

* ``psnr-rgb``: PSNR in dB.
* ``ms-ssim-rgb``: MS-SSIM shown and compared in dB, ``−10·log10(1 − MS-SSIM)`` (taken as is from
  ``ms-ssim-db-rgb`` where a file has that instead), the usual form for R-D curves: it spreads the
  high-quality end that raw MS-SSIM squeezes under 1, and BD-rate over it is better conditioned.
* ``flip``: mean LDR-FLIP, lower is better.

Points whose bpp or metric is missing (null) or not finite (PSNR of a lossless point) are dropped.

**BD-rate table.** Every curve against the reference (:mod:`percomp_ui.bdrate`, pchip), per metric
where both curves have ≥ 2 points, plus BD-PSNR. With a bpp range, each curve is first cut to the
range on its bpp axis (:func:`clip_to_bpp_range`): points inside are kept, and where the curve
crosses a range end a point is added exactly there, its quality interpolated by the same pchip of
quality over log-bpp that BD-quality uses. The BD integrals then run over what both clipped curves
share. Any pair that cannot be compared (too few points, no overlap) is "n/a" with the reason listed
under the table, never an error.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .bdrate import bd_psnr, bd_rate
from .errors import InputError
from .fileio import atomic_write

METRICS: dict[str, str] = {  # key → axis label
    "psnr-rgb": "PSNR-RGB [dB]",
    "ms-ssim-rgb": "MS-SSIM-RGB [dB]",
    "flip": "FLIP (mean error, lower is better)",
}
SHORT = {"psnr-rgb": "PSNR", "ms-ssim-rgb": "MS-SSIM dB", "flip": "FLIP"}


@dataclass
class Curve:
    """One result file: a label for legends and tables, and its ``results`` (metric → list)."""

    label: str
    name: str
    path: Path | None
    results: dict[str, list[Any]] = field(default_factory=dict)


def load_curve(path: Path) -> Curve:
    """A CompressAI-format results file; InputError if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path}: not a readable JSON file ({error})") from None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not isinstance(results.get("bpp"), list):
        raise InputError(f"{path}: not a CompressAI results file (needs results.bpp as a list)")
    name = str(data.get("name") or Path(path).stem)
    return Curve(name, name, Path(path), results)


def metric_points(curve: Curve, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(bpp, value) of ``metric`` on ``curve``, sorted by bpp, unusable points dropped (maybe empty)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    bpp = curve.results.get("bpp") or []
    if metric == "ms-ssim-rgb" and not _has_values(curve.results.get("ms-ssim-rgb")):
        values, convert = curve.results.get("ms-ssim-db-rgb") or [], False
    else:
        values, convert = curve.results.get(metric) or [], metric == "ms-ssim-rgb"
    points = []
    for b, v in zip(bpp, values):
        if not (_number(b) and _number(v)):
            continue
        if convert:
            v = -10 * math.log10(1 - v) if v < 1 else math.inf
        if math.isfinite(b) and math.isfinite(v) and b > 0:
            points.append((float(b), float(v)))
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_values(values: Any) -> bool:
    return isinstance(values, list) and any(_number(v) for v in values)


def clip_to_bpp_range(bpp: np.ndarray, quality: np.ndarray, low: float, high: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The part of a curve with ``low ≤ bpp ≤ high``, with points added at ``low`` / ``high`` where
    the curve crosses them (quality by pchip over log-bpp). ValueError if two points share a bpp."""
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(bpp, kind="stable")
    bpp, quality = np.asarray(bpp, float)[order], np.asarray(quality, float)[order]
    inside = (bpp >= low) & (bpp <= high)
    ends = [end for end in (low, high) if bpp.size >= 2 and bpp[0] < end < bpp[-1] and end not in bpp]
    if ends:
        if np.any(np.diff(bpp) == 0):
            raise ValueError("two points share the same bpp")
        fit = PchipInterpolator(np.log(bpp), quality)
        extra_b = np.array(ends)
        bpp = np.concatenate([bpp[inside], extra_b])
        quality = np.concatenate([quality[inside], fit(np.log(extra_b))])
        order = np.argsort(bpp, kind="stable")
        return bpp[order], quality[order]
    return bpp[inside], quality[inside]


def _label_curves(curves: list[Curve]) -> None:
    """Give curves with the same name distinct labels (the file name added)."""
    for curve in curves:
        twins = [c for c in curves if c.name == curve.name]
        if len(twins) > 1 and curve.path is not None:
            curve.label = f"{curve.name} ({curve.path.stem})"


def _metrics_present(curves: Sequence[Curve]) -> list[str]:
    return [m for m in METRICS if any(metric_points(c, m)[0].size for c in curves)]


def _points(curve: Curve, metric: str, bpp_range: tuple[float, float] | None, who: str
            ) -> tuple[np.ndarray, np.ndarray]:
    """The curve's points for a BD computation (clipped to the range); ValueError if under 2."""
    bpp, quality = metric_points(curve, metric)
    if bpp_range is not None:
        bpp, quality = clip_to_bpp_range(bpp, quality, *bpp_range)
    if bpp.size < 2:
        count = "no" if bpp.size == 0 else "only 1"
        raise ValueError(f"{who} has {count} {SHORT[metric]} point{'s' * (bpp.size == 0)}"
                         f"{' in the bpp range' if bpp_range else ''}")
    return bpp, quality


def bd_table(curves: Sequence[Curve], reference: Curve, metrics: Sequence[str] | None = None,
             bpp_range: tuple[float, float] | None = None) -> str:
    """Markdown: BD-rate of every other curve against ``reference`` per metric (+ BD-PSNR)."""
    metrics = list(metrics) if metrics else _metrics_present([reference])
    columns = [(m, False) for m in metrics] + ([("psnr-rgb", True)] if "psnr-rgb" in metrics else [])
    heads = [f"BD-rate ({SHORT[m]})" if not psnr else "BD-PSNR" for m, psnr in columns]
    range_text = f", bpp range {bpp_range[0]:g}–{bpp_range[1]:g}" if bpp_range else ""
    lines = [
        f"BD-rate against **{reference.label}** (Bjøntegaard, pchip{range_text}). "
        "Negative BD-rate = fewer bits than the reference for the same quality; "
        "positive BD-PSNR = higher PSNR at the same rate.",
        "",
        "| curve | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    notes = []
    anchors: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for metric in metrics:
        try:
            anchors[metric] = _points(reference, metric, bpp_range, "the reference")
        except ValueError as error:
            anchors[metric] = None
            notes.append(f"- every {SHORT[metric]} column: {error}")
    for curve in curves:
        if curve is reference:
            continue
        cells = []
        for (metric, psnr), head in zip(columns, heads):
            anchor = anchors[metric]
            if anchor is None:
                cells.append("n/a")
                continue
            try:
                bpp, quality = _points(curve, metric, bpp_range, "the curve")
                value = (bd_psnr if psnr else bd_rate)(*anchor, bpp, quality)
            except ValueError as error:
                cells.append("n/a")
                notes.append(f"- {curve.label}, {head}: {error}")
            else:
                cells.append(f"{value:+.2f} dB" if psnr else f"{value:+.2f} %")
        lines.append(f"| {_cell(curve.label)} | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "n/a:", *notes]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def plot_curves(curves: Sequence[Curve], reference: Curve | None, metrics: Sequence[str],
                bpp_range: tuple[float, float] | None = None) -> bytes:
    """PNG bytes: one subplot per metric, bpp on x, every curve with data for it."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg, without switching pyplot's backend
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4 * len(metrics), 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    others = [c for c in curves if c is not reference]
    palette = matplotlib.colormaps["tab10" if len(others) <= 10 else "tab20"].colors  # no two curves alike
    colours = {id(c): palette[i % len(palette)] for i, c in enumerate(others)} | {id(reference): "black"}
    for ax, metric in zip(axes, metrics):
        for curve in curves:
            bpp, values = metric_points(curve, metric)
            if not bpp.size:
                continue
            is_ref = curve is reference
            ax.plot(bpp, values, marker="o", markersize=3, linewidth=2.5 if is_ref else 1.2,
                    color=colours[id(curve)], linestyle="--" if is_ref else "-",
                    label=f"{curve.label} (reference)" if is_ref else curve.label)
        if bpp_range:
            for end in bpp_range:
                ax.axvline(end, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(METRICS[metric])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def resolve_reference(curves: list[Curve], reference: str | None) -> Curve:
    """The reference curve: a file (added to ``curves`` if not among them) or a curve's name/label/file
    stem; the first curve by default."""
    if reference is None:
        return curves[0]
    path = Path(reference)
    if path.is_file():
        for curve in curves:
            if curve.path is not None and curve.path.resolve() == path.resolve():
                return curve
        curve = load_curve(path)
        curves.insert(0, curve)
        return curve
    matches = [c for c in curves if reference in (c.label, c.name, c.path.stem if c.path else None)]
    if len({id(c) for c in matches}) == 1:
        return matches[0]
    if matches:
        raise InputError(f"--reference {reference!r} matches {len(matches)} curves; name a file instead")
    raise InputError(f"--reference {reference!r} is neither a file nor one of: {', '.join(c.label for c in curves)}")


def plot_files(paths: Sequence[Path], out: Path, metric: str | None = None, reference: str | None = None,
               bpp_range: tuple[float, float] | None = None) -> tuple[Path, str]:
    """Write the R-D plot to ``out`` and the BD-rate table next to it (``.md``); returns (md path, table)."""
    if bpp_range is not None and not 0 <= bpp_range[0] < bpp_range[1]:
        raise InputError(f"--bpp-range needs 0 ≤ LOW < HIGH, got {bpp_range[0]:g} {bpp_range[1]:g}")
    if metric is not None and metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    curves = [load_curve(p) for p in paths]
    ref = resolve_reference(curves, reference)
    _label_curves(curves)
    metrics = [metric] if metric else _metrics_present(curves)
    if not metrics:
        raise InputError("none of the files has PSNR, MS-SSIM or FLIP values to plot")
    table = bd_table(curves, ref, metrics, bpp_range)
    atomic_write(out, plot_curves(curves, ref, metrics, bpp_range))
    md = out.with_suffix(".md")
    atomic_write(md, table.encode())
    return md, table
