"""Pictures for the workbench panels: pure functions from arrays to H×W×3 uint8 RGB images.

* :func:`heat_map` colours a scalar map (bits per pixel, FLIP error) and appends a labelled colour bar.
* :func:`gray_map` shows a [0, 1] map (the ROI source map) as gray levels.
* :func:`roi_overlay` tints the ROI on the image and dims the background by the smoothed mask.
* :func:`rd_chart` draws PSNR and MS-SSIM against bpp with the current operating points marked.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - no display; the figures are rendered to PNG bytes

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

BAR_WIDTH = 18  # colour strip, pixels
BAR_MARGIN = 8  # gap between the image and the strip
LABEL_WIDTH = 64  # tick labels and title, pixels
TICKS = 5
ROI_TINT = np.array([255.0, 96.0, 0.0])  # orange
ROI_TINT_STRENGTH = 0.45
BACKGROUND_DIM = 0.5  # brightness of the pure background (mask = 0)


def colorize(values: np.ndarray, vmax: float, cmap: str = "magma") -> np.ndarray:
    """A scalar map in [0, vmax] through a matplotlib colormap (values outside are clipped)."""
    scaled = np.clip(np.nan_to_num(values.astype(np.float64) / vmax if vmax > 0 else values * 0.0), 0.0, 1.0)
    return (colormaps[cmap](scaled)[..., :3] * 255 + 0.5).astype(np.uint8)


def tick_values(vmax: float, count: int = TICKS) -> list[float]:
    """``count`` evenly spaced tick values from 0 to ``vmax``."""
    return [vmax * i / (count - 1) for i in range(count)]


def format_tick(value: float) -> str:
    """A short tick label: three significant digits."""
    return f"{value:.3g}"


def heat_map(values: np.ndarray, vmax: float, label: str, cmap: str = "magma") -> np.ndarray:
    """``values`` coloured on [0, vmax] with a vertical colour bar (ticks and ``label``) on the right."""
    height, width = values.shape
    out = np.full((height, width + BAR_MARGIN + BAR_WIDTH + LABEL_WIDTH, 3), 255, np.uint8)
    out[:, :width] = colorize(values, vmax, cmap)
    ramp = np.linspace(vmax, 0.0, height)[:, None].repeat(BAR_WIDTH, axis=1)
    out[:, width + BAR_MARGIN: width + BAR_MARGIN + BAR_WIDTH] = colorize(ramp, vmax, cmap)
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(9, min(14, height // 14)))
    text_x = width + BAR_MARGIN + BAR_WIDTH + 3
    for value in tick_values(vmax):
        y = round((1 - value / vmax) * (height - 1)) if vmax > 0 else height - 1
        draw.text((text_x, min(max(y, 6), height - 6)), format_tick(value), fill=(0, 0, 0), font=font, anchor="lm")
    draw.text((text_x, height // 2 + height // 8), label, fill=(0, 0, 0), font=font, anchor="lm")
    return np.asarray(canvas)


def robust_max(values: np.ndarray, percentile: float = 99.5) -> float:
    """A colour-scale top that a few extreme pixels cannot squash: the given percentile, > 0."""
    top = float(np.percentile(values, percentile)) if values.size else 0.0
    return top if top > 0 else max(float(values.max(initial=0.0)), 1e-6)


def gray_map(values: np.ndarray) -> np.ndarray:
    """A [0, 1] map as an RGB gray image."""
    level = (np.clip(values.astype(np.float64), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=2)


def roi_overlay(rgb: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
    """The image with the ROI tinted orange and the background dimmed, both in proportion to RM_2D."""
    weight = np.clip(smoothed.astype(np.float64), 0.0, 1.0)[..., None]
    lit = rgb.astype(np.float64) * (BACKGROUND_DIM + (1 - BACKGROUND_DIM) * weight)
    tinted = lit * (1 - ROI_TINT_STRENGTH * weight) + ROI_TINT * ROI_TINT_STRENGTH * weight
    return np.clip(tinted + 0.5, 0, 255).astype(np.uint8)


def rd_chart(curves: Mapping[str, Sequence[Mapping[str, float | None]]],
             operating: Mapping[str, Mapping[str, float | None]], target_bpp: float) -> np.ndarray:
    """PSNR and MS-SSIM against bpp: one line per codec (points sorted by bpp), its current operating
    point as a larger marker, and the target bpp as a dashed vertical line."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    try:
        for index, (name, points) in enumerate(curves.items()):
            colour = f"C{index % 10}"
            for axis, metric in zip(axes, ("psnr", "ms_ssim")):
                pairs = sorted((p["bpp"], p[metric]) for p in points if p.get(metric) is not None)
                if pairs:
                    axis.plot(*zip(*pairs), "o-", color=colour, markersize=3, linewidth=1.2, label=name)
                point = operating.get(name)
                if point and point.get(metric) is not None:
                    axis.plot(point["bpp"], point[metric], "*", color=colour, markersize=13,
                              markeredgecolor="black", markeredgewidth=0.6)
        for axis, title in zip(axes, ("PSNR (dB)", "MS-SSIM")):
            axis.axvline(target_bpp, color="0.5", linestyle="--", linewidth=0.8)
            axis.set_xlabel("bits per pixel (real bytes)")
            axis.set_title(title)
            axis.grid(alpha=0.3)
        if curves:
            axes[0].legend(fontsize=8, loc="lower right")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))

