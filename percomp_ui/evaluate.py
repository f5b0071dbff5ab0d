"""Rate–distortion evaluation on an image folder, in CompressAI's results format.

Two kinds of codec:

* a learned zoo model (:func:`evaluate_folder`), one point per rate level or per target bpp (matched
  rate through ``LearnedCodec.encode_to_bpp``), optionally with a seed-003 ROI: ``region`` names the
  ROI source whose mask (seed 003 eq. 1) defines the region for the region metrics (:data:`REGION_KEYS`,
  including the share of bits spent in the ROI, from the real likelihoods), and ``roi_alpha`` also
  codes the image with that ROI at that α;
* a classical baseline from :mod:`percomp_ui.classical` (:func:`evaluate_classical`), either one point
  per fixed quality (the mean over images at that quality) or one point per target bpp (matched rate:
  per image the largest rate not above the target, the point recording the achieved mean bpp).

Every number comes from the real path: bpp from the file's bytes, quality from the image decoded
out of those bytes. Metrics per point (:data:`METRIC_KEYS`): ``bpp``, ``psnr-rgb``, ``ms-ssim-rgb``
(None under 161 px a side), ``flip`` (mean LDR-FLIP, lower is better), ``lpips`` (None where the
AlexNet weights are not available offline), ``encoding_time`` and ``decoding_time`` in seconds.
Points are means over the folder's images (CompressAI's convention: metrics are averaged per image,
not computed on the mean rate).

``results_json`` writes CompressAI's ``eval_model`` layout (``name``, ``description``, ``results``:
metric → list over rate points), so curves overlay with ``../shared/anchors/kodak/*.json``; a classical
evaluation also records ``settings`` (the codec's ``settings()``: knob, encoder parameters, library
versions) at the top level.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .errors import InputError
from .images import list_images, load_image
from .metrics import flip, lpips_distance, ms_ssim_rgb, psnr_rgb

if TYPE_CHECKING:
    from .classical import ClassicalCodec
    from .codec import LearnedCodec

METRIC_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "flip", "lpips", "encoding_time", "decoding_time")
REGION_KEYS = ("roi-fraction", "roi-psnr", "background-psnr", "roi-ms-ssim", "background-ms-ssim", "roi-bit-share")
DEFAULT_QUALITY_POINTS = 10


def quality_metrics(reference: np.ndarray, decoded: np.ndarray) -> dict[str, float | None]:
    """PSNR-RGB, MS-SSIM-RGB, FLIP and LPIPS of ``decoded`` against ``reference``."""
    return {
        "psnr-rgb": psnr_rgb(reference, decoded),
        "ms-ssim-rgb": ms_ssim_rgb(reference, decoded),
        "flip": flip(reference, decoded),
        "lpips": lpips_distance(reference, decoded),
    }


def _row(bpp: float, reference: np.ndarray, decoded: np.ndarray, encode_s: float, decode_s: float
         ) -> dict[str, float | None]:
    return {"bpp": bpp, **quality_metrics(reference, decoded), "encoding_time": encode_s, "decoding_time": decode_s}


# -- learned codecs -------------------------------------------------------------------------------
def evaluate_image(codec: LearnedCodec, rgb: np.ndarray, points: Sequence[float], mode: str = "rate",
                   region: str | None = None, roi_alpha: float | None = None) -> list[dict[str, float | None]]:
    """Per point (a rate, or a target bpp when ``mode == "bpp"``): real bpp, the quality metrics,
    encode/decode seconds and, with a ``region`` source, the region metrics for one image."""
    from .roi.mask import RoiRequest, roi_masks
    from .roi.metrics import region_metrics

    if roi_alpha is not None and region is None:
        raise InputError("coding with a ROI needs a ROI source")
    masks = None if region is None else roi_masks(rgb, region)
    request = None if roi_alpha is None else RoiRequest(masks.smoothed, roi_alpha)
    rows = []
    for point in points:
        start = time.perf_counter()
        prepared = codec.prepare(rgb)
        if mode == "bpp":
            encoded = codec.encode_to_bpp(prepared, point, request)
        else:
            encoded = codec.encode_prepared(prepared, point, request)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        decoded = codec.decode(encoded.data)
        decode_s = time.perf_counter() - start
        row = _row(encoded.bpp, rgb, decoded, encode_s, decode_s)
        if masks is not None:
            measured = region_metrics(rgb, decoded, masks.mask, codec.bit_map(encoded.stream))
            row.update({key.replace("_", "-"): value
                        for key, value in measured.items()})
        rows.append(row)
    return rows


def evaluate_folder(codec: LearnedCodec, folder: Path, points: Sequence[float], mode: str = "rate",
                    region: str | None = None, roi_alpha: float | None = None) -> dict[str, Any]:
    """Mean over the folder's images per point, plus the per-image rows."""
    if mode not in ("rate", "bpp"):
        raise ValueError(f"mode must be rate or bpp (got {mode!r})")
    per_image = {}
    for key, path in _images(folder).items():
        try:
            per_image[key] = evaluate_image(codec, load_image(path).rgb, points, mode, region, roi_alpha)
        except InputError as error:
            raise InputError(f"{key}: {error}") from None
    mean = _mean_rows(per_image.values(), len(points))
    if mode == "bpp":
        for row, target in zip(mean, points):
            row["bpp_target"] = target
        return {"mode": mode, "points": list(points), "per_image": per_image, "mean": mean}
    return {"mode": mode, "rates": list(points), "per_image": per_image, "mean": mean}


# -- classical codecs -----------------------------------------------------------------------------
class _TimedCodec:
    """A classical codec that times its own ``encode`` / ``decode`` calls, per quality.

    ``classical.compress`` (used by ``quality_sweep`` and ``compress_at_bpp``) calls ``encode`` and then
    ``decode`` on that encode's bytes, so a decode is booked under the quality of the encode before it.
    """

    def __init__(self, codec: ClassicalCodec) -> None:
        self._codec = codec
        self._quality: int | None = None
        self.times: dict[int, tuple[float, float]] = {}  # quality → (encode s, decode s), last call wins

    def __getattr__(self, name: str) -> Any:
        return getattr(self._codec, name)

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        start = time.perf_counter()
        data = self._codec.encode(rgb, quality)
        self._quality = quality
        self.times[quality] = (time.perf_counter() - start, float("nan"))
        return data

    def decode(self, data: bytes) -> np.ndarray:
        start = time.perf_counter()
        decoded = self._codec.decode(data)
        if self._quality is not None:
            self.times[self._quality] = (self.times[self._quality][0], time.perf_counter() - start)
        return decoded


def default_qualities(codec: ClassicalCodec, count: int = DEFAULT_QUALITY_POINTS) -> list[int]:
    """``count`` qualities evenly spread over the codec's whole knob, ends included."""
    knob = codec.qualities
    return sorted({knob[round(i * (len(knob) - 1) / max(count - 1, 1))] for i in range(count)})


def evaluate_classical(codec_name: str, folder: Path, qualities: Sequence[int] | None = None,
                       bpp_targets: Sequence[float] | None = None, max_pixels: int | None = None
                       ) -> dict[str, Any]:
    """R-D of a classical codec on every image of ``folder``.

    Fixed-quality mode (default): ``classical.quality_sweep`` per image at ``qualities`` (default
    :func:`default_qualities`), a point per quality = the mean over images. Matched-rate mode
    (``bpp_targets``): ``classical.compress_at_bpp`` per image per target, a point per target = the
    mean over images, whose ``bpp`` is the achieved mean (never above the target); InputError if the
    codec cannot get an image down to a target. Per-image rows also record the ``quality`` used.

    Returns ``{"codec", "settings", "mode", "points", "per_image", "mean"}``; ``points`` are the
    qualities or the targets. ``encoding_time`` / ``decoding_time`` are of the one encode / decode
    that produced the point (not of the rate search).
    """
    from . import classical

    if qualities is not None and bpp_targets is not None:
        raise InputError("give either qualities or bpp targets, not both")
    codec = classical.get_codec(codec_name)
    if bpp_targets is not None:
        mode, points = "bpp", [float(t) for t in bpp_targets]
    else:
        mode = "quality"
        points = default_qualities(codec) if qualities is None else [codec.check_quality(q) for q in qualities]
    if not points:
        raise InputError("no rate points to evaluate")
    per_image: dict[str, list[dict[str, Any]]] = {}
    for key, path in _images(folder).items():
        rgb = load_image(path, max_pixels).rgb
        timed = _TimedCodec(codec)
        if mode == "quality":
            results = classical.quality_sweep(timed, rgb, points)  # type: ignore[arg-type]
        else:
            results = []
            for target in points:
                try:
                    results.append(classical.compress_at_bpp(timed, rgb, target))  # type: ignore[arg-type]
                except InputError as error:
                    raise InputError(f"{key}: {error}") from None
        rows = []
        for result in results:
            encode_s, decode_s = timed.times[result.quality]
            rows.append({**_row(result.bpp, rgb, result.rgb, encode_s, decode_s), "quality": result.quality})
        per_image[key] = rows
    mean = _mean_rows(per_image.values(), len(points))
    for row, point in zip(mean, points):
        row.pop("quality", None)  # a mean quality knob is meaningless in matched-rate mode
        row["quality" if mode == "quality" else "bpp_target"] = point
    return {"codec": codec.name, "settings": codec.settings(), "mode": mode, "points": points,
            "per_image": per_image, "mean": mean}


def _images(folder: Path) -> dict[str, Path]:
    """Key (the path under ``folder``: the file name for top-level images) → image path."""
    return {path.relative_to(folder).as_posix(): path for path in list_images([folder])}


# -- results --------------------------------------------------------------------------------------
def _mean_rows(tables: Iterable[list[dict[str, Any]]], count: int) -> list[dict[str, Any]]:
    tables = list(tables)
    means = []
    for i in range(count):
        keys = tables[0][i].keys()
        values = {k: [t[i][k] for t in tables if t[i][k] is not None] for k in keys}
        means.append({k: statistics.fmean(v) if v else None for k, v in values.items()})
    return means


def results_json(name: str, description: str, evaluation: dict[str, Any]) -> dict[str, Any]:
    """CompressAI's results layout: metric → list over rate points (+ ``settings`` for a classical codec)."""
    mean = evaluation["mean"]
    results = {key: [row.get(key) for row in mean] for key in mean[0]}
    if "rates" in evaluation:
        results["rate"] = list(evaluation["rates"])
    out: dict[str, Any] = {"name": name, "description": description, "results": results}
    if "settings" in evaluation:
        out["settings"] = evaluation["settings"]
    return out


def classical_results_json(evaluation: dict[str, Any], folder_name: str) -> dict[str, Any]:
    """:func:`results_json` for :func:`evaluate_classical`, with a name and description of its own."""
    libraries = ", ".join(f"{k} {v}" for k, v in evaluation["settings"]["libraries"].items())
    mode = "fixed qualities" if evaluation["mode"] == "quality" else "matched rate (largest bpp ≤ each target)"
    return results_json(evaluation["codec"], f"{evaluation['codec']} on {folder_name}, {mode} ({libraries}; "
                        "percomp_ui.classical, real file bytes)", evaluation)
