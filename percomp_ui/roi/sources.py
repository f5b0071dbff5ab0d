"""ROI sources: an RGB image → a map in [0, 1], the probability that a pixel belongs to the region of
interest. Every source returns an H×W float32 map at the input's size, for any size from 1×1 up.

=================  ==========================================================================
``saliency``       OpenCV spectral-residual saliency (Hou & Zhang 2007), min-max normalised
``saliency-fine``  OpenCV fine-grained saliency (Montabone & Soto 2010), min-max normalised
``faces``          soft ellipses over faces from OpenCV's Haar cascades (frontal ×2, profile ×2)
``text``           soft boxes over text lines: MSER characters → shape filters → lines
``dnn``            a U²-Net-style network with user-supplied weights (:mod:`.u2net`)
``painted``        a user-painted mask (array or image file)
``auto``           faces and text where either finds something, else spectral saliency
=================  ==========================================================================

Detectors run on a downscaled grayscale copy (faces: longest side 640 px, text: 1280 px) and their
shapes are painted at full resolution. Nothing is downloaded: the cascades ship inside OpenCV and the
DNN weights are a file the user names.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import InputError, PercompError
from ..images import load_image
from .u2net import U2Net, load_saliency_net

SOURCE_NAMES: tuple[str, ...] = ("auto", "saliency", "saliency-fine", "faces", "text", "dnn", "painted")
COMBINE_MODES: tuple[str, ...] = ("max", "weighted")
SALIENCY_WEIGHTS_ENV = "PERCOMP_SALIENCY_WEIGHTS"

Box = tuple[float, float, float, float]  # x, y, width, height in input pixels

_FINE_SALIENCY_SIDE = 512  # fine-grained saliency works per pixel: cap its cost
_FACE_SIDE = 640
_FACE_CASCADES = ("frontalface_default", "frontalface_alt2", "profileface")
_FACE_MIN_VOTES = 15  # cascade neighbours summed over the detectors that agree on a face
_TEXT_SIDE = 1280
_MIN_TEXT_HEIGHT = 6  # characters shorter than this (at the working scale) are not found
_MIN_LINE_CHARACTERS = 3
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

_KERNEL_3X3 = np.ones((3, 3), np.uint8)
_local = threading.local()  # OpenCV cascades are not safe to share between threads


# --- classical saliency -------------------------------------------------------------------------

def spectral_residual_saliency(rgb: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (computed by OpenCV at 64×64), normalised to [0, 1]."""
    _check_rgb(rgb)
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    return _saliency(detector, _gray(rgb), rgb.shape[:2])


def fine_grained_saliency(rgb: np.ndarray) -> np.ndarray:
    """Fine-grained (centre-surround) saliency on a copy at most 512 px long, normalised to [0, 1]."""
    _check_rgb(rgb)
    gray, _ = _downscaled(_gray(rgb), _FINE_SALIENCY_SIDE)
    detector = cv2.saliency.StaticSaliencyFineGrained_create()
    return _saliency(detector, gray, rgb.shape[:2])


def _saliency(detector: cv2.saliency.StaticSaliency, gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The detector's map, min-max normalised to [0, 1] and resized to ``shape``; zeros for a flat
    image (where OpenCV's maps are numerical noise) or a map without contrast."""
    ok, saliency = detector.computeSaliency(gray) if gray.min() < gray.max() else (False, None)
    if not ok:
        return np.zeros(shape, np.float32)
    values = np.nan_to_num(saliency.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return _resized(values, shape)


# --- faces --------------------------------------------------------------------------------------

def face_map(rgb: np.ndarray) -> np.ndarray:
    """Soft ellipses over detected faces: 1 over the face's core, about ½ on the ellipse inscribed in
    the detected box (brow to chin), 0 from 1.2× the box's width and 1.4× its height (hair, chin)."""
    _check_rgb(rgb)
    canvas = np.zeros(rgb.shape[:2], np.float32)
    for x, y, w, h in detect_faces(rgb):
        _paint_ellipse(canvas, x + w / 2, y + h / 2, 0.6 * w, 0.7 * h, feather=0.3)
    return canvas


def detect_faces(rgb: np.ndarray) -> list[Box]:
    """Faces found by OpenCV's frontal (default, alt2) and profile (both directions) Haar cascades.

    Detections of all four runs are clustered by overlap; a cluster counts as a face when its
    cascade neighbour counts add up to at least 15, so a face several detectors agree on passes
    and a one-off texture hit does not. The box is the vote-weighted mean of the cluster.
    """
    gray, scale = _downscaled(_gray(rgb), _FACE_SIDE)
    height, width = gray.shape
    if min(height, width) < 24:
        return []
    gray = cv2.equalizeHist(gray)
    min_size = max(20, min(height, width) // 25)
    boxes, votes = [], []
    for cascade, mirrored in _face_detectors():
        image = np.ascontiguousarray(gray[:, ::-1]) if mirrored else gray
        found, counts = cascade.detectMultiScale2(image, scaleFactor=1.1, minNeighbors=3,
                                                  minSize=(min_size, min_size))
        for (x, y, w, h), count in zip(np.reshape(found, (-1, 4)), np.ravel(counts)):
            boxes.append((width - x - w if mirrored else x, y, w, h))
            votes.append(count)
    if not boxes:
        return []
    boxes_array, votes_array = np.array(boxes, np.float64), np.array(votes, np.float64)
    faces = []
    labels = _components(np.nonzero(_iou_matrix(boxes_array) >= 0.3), len(boxes))
    for label in np.unique(labels):
        member = labels == label
        if votes_array[member].sum() >= _FACE_MIN_VOTES:
            box = np.average(boxes_array[member], axis=0, weights=votes_array[member]) / scale
            faces.append(tuple(float(v) for v in box))
    return faces


def _face_detectors() -> list[tuple[cv2.CascadeClassifier, bool]]:
    """(cascade, run on the mirrored image) pairs, loaded once per thread from OpenCV's own data."""
    if not hasattr(_local, "face_detectors"):
        cascades = {}
        for name in _FACE_CASCADES:
            cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, f"haarcascade_{name}.xml"))
            if cascade.empty():
                raise PercompError(f"OpenCV's haarcascade_{name}.xml is missing or unreadable (reinstall "
                                   "opencv-contrib-python-headless)")
            cascades[name] = cascade
        profile = cascades["profileface"]
        _local.face_detectors = [(cascades["frontalface_default"], False), (cascades["frontalface_alt2"], False),
                                 (profile, False), (profile, True)]
    return _local.face_detectors


# --- text ---------------------------------------------------------------------------------------

def text_map(rgb: np.ndarray) -> np.ndarray:
    """Boxes over detected text lines (see :func:`detect_text_lines`): 1 inside, fading to 0 over a
    fifth of the line's height around it."""
    _check_rgb(rgb)
    canvas = np.zeros(rgb.shape[:2], np.float32)
    for x, y, w, h in detect_text_lines(rgb):
        margin = 0.2 * h
        _paint_box(canvas, x - margin, y - margin, x + w + margin, y + h + margin, feather=margin)
    return canvas


def detect_text_lines(rgb: np.ndarray) -> list[Box]:
    """Boxes of text lines, found in three steps on a gray copy at most 1280 px long:

    1. characters: MSER regions of either polarity with a glyph's size, aspect, fill, contrast
       and strokes (see :func:`_character_row`), one per glyph;
    2. links: neighbours of similar height, stroke width and ink level side by side;
    3. lines: linked groups of three or more characters (short ones of high contrast) that are at
       least twice as long as tall, mostly aligned at the top or bottom, not all one shape (a row
       of windows is not a word), and whose box is clearly two-tone (:func:`two_tone_separation`
       ≥ 0.75); see :func:`_looks_like_line`.
    """
    gray, scale = _downscaled(_gray(rgb), _TEXT_SIDE)
    if min(gray.shape) < 2 * _MIN_TEXT_HEIGHT:
        return []
    characters = _character_candidates(gray)
    if len(characters) < _MIN_LINE_CHARACTERS:
        return []
    i, j = _nearby_pairs(characters)
    nested = _nested(characters, i, j)
    link = _linked(characters, i, j) & ~nested[i] & ~nested[j]
    labels = _components((i[link], j[link]), len(characters))
    lines = []
    for label in np.unique(labels[~nested]):
        member = characters[(labels == label) & ~nested]
        if _looks_like_line(member, gray):
            x0, y0, x1, y1 = _bounds(member)
            lines.append((x0 / scale, y0 / scale, (x1 - x0) / scale, (y1 - y0) / scale))
    return lines


# Columns of the character table built by _character_candidates.
_X, _Y, _W, _H, _STROKE, _INK, _POLARITY, _CONTRAST = range(8)


def _character_candidates(gray: np.ndarray) -> np.ndarray:
    """Table rows (see the column names) of MSER regions shaped like characters; of near-duplicate
    boxes (the nested MSER levels of one glyph) the one with the best contrast is kept."""
    height, width = gray.shape
    mser = cv2.MSER_create(5, _MIN_TEXT_HEIGHT * 2, max(_MIN_TEXT_HEIGHT * 4, height * width // 50))
    regions, boxes = mser.detectRegions(gray)
    sums, squares = cv2.integral2(gray, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    rows = [_character_row(gray, sums, squares, points, box) for points, box in zip(regions, boxes)
            if _MIN_TEXT_HEIGHT <= box[3] <= height / 3 and 0.1 <= box[2] / box[3] <= 2.0
            and 0.15 <= len(points) / (box[2] * box[3]) <= 0.95]
    table = np.array([row for row in rows if row is not None], np.float64).reshape(-1, 8)
    keep = cv2.dnn.NMSBoxes(table[:, :4].tolist(), table[:, _CONTRAST].tolist(), 0.0, 0.6)
    return table[np.ravel(keep).astype(int)]


def _character_row(gray: np.ndarray, sums: np.ndarray, squares: np.ndarray, points: np.ndarray,
                   box: np.ndarray) -> tuple[float, ...] | None:
    """The candidate's table row, or None unless it has a glyph's contrast and strokes: ink that
    stands out from the rest of its box (2 px margin) by more than both vary,
    |ink − background| ≥ 1.4 (σ_ink + σ_background); thin strokes of nearly constant width; at
    most two holes. ``sums`` and ``squares`` are the integral images of ``gray`` and its square."""
    x, y, w, h = (int(v) for v in box)
    ink = gray[points[:, 1], points[:, 0]].astype(np.float64)
    ink_n, ink_sum, ink_square = len(ink), float(ink.sum()), float(ink @ ink)
    x0, y0 = max(x - 2, 0), max(y - 2, 0)
    x1, y1 = min(x + w + 2, gray.shape[1]), min(y + h + 2, gray.shape[0])
    box_n = (x1 - x0) * (y1 - y0)
    if box_n <= ink_n:
        return None
    box_sum = sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]
    box_square = squares[y1, x1] - squares[y0, x1] - squares[y1, x0] + squares[y0, x0]
    ink_mean, ink_std = _mean_std(ink_n, ink_sum, ink_square)
    back_mean, back_std = _mean_std(box_n - ink_n, box_sum - ink_sum, box_square - ink_square)
    contrast = abs(ink_mean - back_mean) / (ink_std + back_std + 1.0)
    if contrast < 1.4:
        return None
    mask = np.zeros((h + 2, w + 2), np.uint8)  # the region with a zero border
    mask[points[:, 1] - (y - 1), points[:, 0] - (x - 1)] = 1
    stroke, spread = _stroke_width(mask)
    if stroke > 0.35 * h or spread > 0.4 or _holes(mask) > 2:
        return None
    return (x, y, w, h, stroke, ink_mean, 1.0 if ink_mean > back_mean else -1.0, contrast)


def _mean_std(count: int, total: float, square_total: float) -> tuple[float, float]:
    mean = total / count
    return mean, math.sqrt(max(square_total / count - mean * mean, 0.0))


def _stroke_width(mask: np.ndarray) -> tuple[float, float]:
    """Mean stroke width of a zero-bordered region mask and its relative spread (std / mean), from
    the distance transform sampled on the region's medial ridge."""
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    widths = 2.0 * distance[(distance > 0) & (distance >= cv2.dilate(distance, _KERNEL_3X3))]
    mean, std = _mean_std(len(widths), float(widths.sum()), float(widths @ widths))
    return mean, std / mean


def _holes(mask: np.ndarray) -> int:
    """Holes in a zero-bordered region mask (background components other than the outside)."""
    count, _ = cv2.connectedComponents(1 - mask, connectivity=4)
    return count - 2  # label 0 is the region itself, one more is the outside


def _nearby_pairs(characters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), x_i <= x_j, of characters whose left edges are within the first's width
    plus 2.5 of its heights: every pair that can be linked or nested (a sorted sweep, so dense
    pages stay linear-ish instead of all-pairs)."""
    order = np.argsort(characters[:, _X], kind="stable")
    x, w, h = characters[order, _X], characters[order, _W], characters[order, _H]
    counts = np.searchsorted(x, x + w + 2.5 * h, side="right") - np.arange(len(x)) - 1
    first = np.repeat(np.arange(len(x)), counts)
    second = first + 1 + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[first], order[second]


def _nested(characters: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per character: True when its box lies inside another candidate's box (a fragment or a hole
    of a glyph found at another MSER level)."""
    x0, y0 = characters[:, _X], characters[:, _Y]
    x1, y1 = x0 + characters[:, _W], y0 + characters[:, _H]

    def inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (x0[a] >= x0[b]) & (y0[a] >= y0[b]) & (x1[a] <= x1[b]) & (y1[a] <= y1[b])

    nested = np.zeros(len(characters), bool)
    nested[i[inside(i, j)]] = True
    nested[j[inside(j, i)]] = True
    return nested


def _linked(characters: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair (x_i <= x_j): may the two sit side by side in one line? Similar height, stroke
    and ink, same polarity, overlapping vertically, at most one character height apart."""
    c = characters
    x, y, w, h = c[:, _X], c[:, _Y], c[:, _W], c[:, _H]
    taller, shorter = np.maximum(h[i], h[j]), np.minimum(h[i], h[j])
    overlap = np.minimum(y[i] + h[i], y[j] + h[j]) - np.maximum(y[i], y[j])
    gap = x[j] - np.minimum(x[i] + w[i], x[j] + w[j])
    stroke_ratio = np.minimum(c[i, _STROKE], c[j, _STROKE]) / np.maximum(c[i, _STROKE], c[j, _STROKE])
    return ((shorter >= 0.4 * taller) & (overlap >= 0.5 * shorter) & (gap <= taller)
            & (stroke_ratio >= 0.5) & (c[i, _POLARITY] == c[j, _POLARITY])
            & (np.abs(c[i, _INK] - c[j, _INK]) <= 40))


def _looks_like_line(member: np.ndarray, gray: np.ndarray) -> bool:
    """Line-level checks on a group of linked characters: at least three, and when fewer than five
    (where chance alignments of texture live) a mean contrast of at least 1.8; at least twice as
    long as a typical character is tall; no taller than ascender-to-descender type allows (1.35×
    the tallest, 1.8× the median character); most tops or bottoms aligned; not all of one shape;
    and a clearly two-tone box (ink on a background)."""
    if len(member) < _MIN_LINE_CHARACTERS or (len(member) < 5 and member[:, _CONTRAST].mean() < 1.8):
        return False
    x0, y0, x1, y1 = _bounds(member)
    h = member[:, _H]
    height = float(np.median(h))
    if x1 - x0 < 2 * height or y1 - y0 > min(1.35 * h.max(), 1.8 * height):
        return False
    tops, bottoms = member[:, _Y], member[:, _Y] + h
    aligned = max(np.mean(np.abs(tops - np.median(tops)) <= 0.15 * height),
                  np.mean(np.abs(bottoms - np.median(bottoms)) <= 0.15 * height))
    widths = member[:, _W]
    varied = np.std(widths) >= 0.1 * np.mean(widths) or np.std(h) >= 0.1 * np.mean(h)
    return aligned >= 0.6 and varied and two_tone_separation(gray[y0:y1, x0:x1]) >= 0.75


def two_tone_separation(patch: np.ndarray) -> float:
    """Otsu's criterion: the share of the patch's gray-level variance explained by splitting it into
    two classes at the best threshold (1 for a pure two-tone patch, 0 for a flat one)."""
    counts = np.bincount(patch.ravel(), minlength=256).astype(np.float64)
    total = counts.sum()
    levels = np.arange(256, dtype=np.float64)
    mean = (counts * levels).sum() / total
    variance = (counts * (levels - mean) ** 2).sum() / total
    if variance <= 0:
        return 0.0
    weight = np.cumsum(counts) / total  # share of pixels at or below each threshold
    partial = np.cumsum(counts * levels) / total
    split = (weight > 0) & (weight < 1)
    between = (mean * weight[split] - partial[split]) ** 2 / (weight[split] * (1 - weight[split]))
    return float(between.max() / variance)


def _bounds(member: np.ndarray) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) enclosing a group of character rows."""
    return (int(member[:, _X].min()), int(member[:, _Y].min()),
            int((member[:, _X] + member[:, _W]).max()), int((member[:, _Y] + member[:, _H]).max()))


# --- DNN saliency -------------------------------------------------------------------------------

def dnn_saliency(rgb: np.ndarray, weights: Path | None = None) -> np.ndarray:
    """Sigmoid of the U²-Net's fused logit, at the input's size.

    ``weights`` (else ``$PERCOMP_SALIENCY_WEIGHTS``) names a safetensors file (see :mod:`.u2net`);
    the image is resized to the network's square working size and ImageNet-normalised, and the map
    resized back. The network is loaded once per thread and again only when the file changes.
    """
    _check_rgb(rgb)
    net = _saliency_net(_weights_path(weights))
    size = net.config.size
    x = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x = torch.from_numpy((x - _IMAGENET_MEAN) / _IMAGENET_STD).permute(2, 0, 1).unsqueeze(0)
    with torch.inference_mode():
        probability = torch.sigmoid(net(x))[0, 0].numpy()
    if not np.isfinite(probability).all():
        raise InputError("the DNN saliency weights produce non-finite output (damaged weights?)")
    return _resized(probability, rgb.shape[:2])


def _weights_path(weights: Path | None) -> Path:
    raw = weights if weights is not None else os.environ.get(SALIENCY_WEIGHTS_ENV, "").strip()
    if not raw:
        raise InputError(f"DNN saliency needs a weights file: set {SALIENCY_WEIGHTS_ENV} or pass "
                         "--saliency-weights FILE.safetensors")
    return Path(raw)


def _saliency_net(path: Path) -> U2Net:
    """The network for ``path``, reloaded only when the file changes."""
    try:
        stat = path.stat()
    except OSError:
        raise InputError(f"{path}: no such saliency weights file") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    cached = getattr(_local, "saliency_net", None)
    if cached is None or cached[0] != key:
        _local.saliency_net = cached = (key, load_saliency_net(path))
    return cached[1]


# --- painted masks ------------------------------------------------------------------------------

def painted_map(mask: np.ndarray | Path, shape: tuple[int, int]) -> np.ndarray:
    """A user-painted mask → H×W float32 in [0, 1], resized (bilinear) to ``shape`` = (H, W).

    Accepts an image file path or an array: bool; float in [0, 1]; uint8 or uint16 with 1 (gray),
    2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels. With alpha, the alpha channel is the mask
    when it varies (strokes of any colour painted on a transparent layer) and the luminance
    otherwise. A mask painted on a scaled copy of the image is resized; a mask whose aspect ratio
    differs from the image's by more than rounding is refused as made for another image.
    """
    values = _mask_values(_read_mask(mask) if isinstance(mask, (str, os.PathLike)) else mask)
    height, width = shape
    if values.shape != (height, width):
        if not _same_aspect(values.shape, (height, width)):
            raise InputError(f"the painted mask is {values.shape[1]}x{values.shape[0]} but the image is "
                             f"{width}x{height}: paint it on this image (or a scaled copy of it)")
        values = _resized(values, (height, width))
    return values


def _read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Pixels of a mask file: via ``load_image`` (validation, limits, EXIF); RGBA when it has alpha."""
    loaded = load_image(path)
    if not any("alpha" in note for note in loaded.notes):
        return loaded.rgb
    with Image.open(path) as image:  # load_image composited the alpha away; the mask needs it
        return np.asarray(ImageOps.exif_transpose(image).convert("RGBA"))


def _mask_values(mask: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise InputError(f"a painted mask must be an image file or an array, not {type(mask).__name__}")
    if mask.size == 0 or mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[2] not in (1, 2, 3, 4)):
        raise InputError(f"a painted mask must be H×W or H×W×1, ×2, ×3, ×4 and not empty, not {mask.shape}")
    if mask.ndim == 2:
        mask = mask[..., None]
    if mask.dtype == bool:
        values = mask.astype(np.float32)
    elif mask.dtype in (np.uint8, np.uint16):
        values = mask.astype(np.float32) / np.iinfo(mask.dtype).max
    elif np.issubdtype(mask.dtype, np.floating):
        values = mask.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise InputError("a float painted mask must hold finite values in [0, 1]")
    else:
        raise InputError(f"a painted mask must be bool, uint8, uint16 or float, not {mask.dtype}")
    color, alpha = (values[..., :-1], values[..., -1]) if values.shape[2] in (2, 4) else (values, None)
    if alpha is not None and alpha.max() > alpha.min():
        return np.ascontiguousarray(alpha)
    if color.shape[2] == 3:
        return color @ np.array([0.299, 0.587, 0.114], np.float32)  # BT.601 luma
    return np.ascontiguousarray(color[..., 0])


def _same_aspect(mask_shape: tuple[int, ...], image_shape: tuple[int, int]) -> bool:
    """True when one shape is the other scaled (either way), allowing a pixel of rounding."""
    (mh, mw), (ih, iw) = mask_shape, image_shape
    return abs(mh * iw - mw * ih) <= (mh + mw + ih + iw) / 2 + 0.01 * max(mh * iw, mw * ih)


# --- combining and choosing ---------------------------------------------------------------------

def combine(maps: Sequence[np.ndarray], mode: str = "max", weights: Sequence[float] | None = None) -> np.ndarray:
    """Combine maps of one shape: ``max`` takes the pixelwise maximum (of the maps scaled by
    ``weights``, when given); ``weighted`` the weighted mean (equal weights by default)."""
    if mode not in COMBINE_MODES:
        raise InputError(f"unknown combine mode {mode!r} (use {' or '.join(COMBINE_MODES)})")
    if not maps:
        raise InputError("nothing to combine: no ROI maps given")
    if len({m.shape for m in maps}) != 1 or maps[0].ndim != 2:
        raise ValueError(f"ROI maps must be 2-D and of one shape, got {[m.shape for m in maps]}")
    w = np.ones(len(maps)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(maps),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError(f"combine needs one finite, non-negative weight per map ({len(maps)}), "
                         f"not all zero; got {[float(v) for v in np.ravel(w)]}")
    stack = np.stack([m.astype(np.float32) for m in maps])
    if mode == "max":
        combined = (stack * w[:, None, None].astype(np.float32)).max(axis=0)
    else:
        combined = np.tensordot((w / w.sum()).astype(np.float32), stack, axes=1)
    return np.clip(combined, 0.0, 1.0).astype(np.float32)


def source_map(rgb: np.ndarray, source: str = "auto", painted: np.ndarray | Path | None = None,
               dnn_weights: Path | None = None) -> np.ndarray:
    """The map of one named source (see :data:`SOURCE_NAMES`).

    ``auto``: the maximum of the face and text maps when either detector finds anything (people
    and writing are what viewers look at first), otherwise spectral-residual saliency.
    ``painted`` is used only by the ``painted`` source and ``dnn_weights`` only by ``dnn``.
    """
    if source not in SOURCE_NAMES:
        raise InputError(f"unknown ROI source {source!r} (use {', '.join(SOURCE_NAMES)})")
    _check_rgb(rgb)
    if source == "painted":
        if painted is None:
            raise InputError("the painted ROI source needs a mask (a PNG file or a painted array)")
        return painted_map(painted, rgb.shape[:2])
    if source == "dnn":
        return dnn_saliency(rgb, dnn_weights)
    if source == "auto":
        detected = combine([face_map(rgb), text_map(rgb)])
        return detected if detected.max() > 0 else spectral_residual_saliency(rgb)
    return {"saliency": spectral_residual_saliency, "saliency-fine": fine_grained_saliency,
            "faces": face_map, "text": text_map}[source](rgb)


# --- shared helpers -----------------------------------------------------------------------------

def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or rgb.size == 0:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InputError(f"a ROI source needs an H×W×3 uint8 RGB image, got {got}")


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _downscaled(image: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk (area interpolation) so its longest side is at most ``longest``, and the scale."""
    scale = min(1.0, longest / max(image.shape[:2]))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _resized(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float map resized to ``shape`` (bilinear; area when shrinking), clipped to [0, 1]."""
    height, width = shape
    if values.shape != (height, width):
        shrinking = height * width < values.size
        values = cv2.resize(values, (width, height),
                            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def _iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of (x, y, w, h) rows."""
    x0, y0, w, h = boxes.T
    x1, y1 = x0 + w, y0 + h
    inter_w = np.clip(np.minimum.outer(x1, x1) - np.maximum.outer(x0, x0), 0, None)
    inter_h = np.clip(np.minimum.outer(y1, y1) - np.maximum.outer(y0, y0), 0, None)
    inter = inter_w * inter_h
    area = w * h
    return inter / (area[:, None] + area[None, :] - inter)


def _components(pairs: tuple[np.ndarray, np.ndarray], count: int) -> np.ndarray:
    """Connected-component label of each of ``count`` nodes linked by index ``pairs``."""
    rows, cols = pairs
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _paint_ellipse(canvas: np.ndarray, cx: float, cy: float, rx: float, ry: float, feather: float) -> None:
    """Max-paint an ellipse: 1 inside radius 1 − feather (in units of the semi-axes), fading
    linearly to 0 at the ellipse's edge."""
    ys, xs = _span(cy - ry, cy + ry, canvas.shape[0]), _span(cx - rx, cx + rx, canvas.shape[1])
    if not len(ys) or not len(xs):
        return
    radius = np.hypot(((xs + 0.5 - cx) / rx)[None, :], ((ys + 0.5 - cy) / ry)[:, None])
    patch = np.clip((1.0 - radius) / feather, 0.0, 1.0).astype(np.float32)
    region = canvas[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
    np.maximum(region, patch, out=region)


def _paint_box(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, feather: float) -> None:
    """Max-paint a box: 0 at its edge, rising linearly to 1 at ``feather`` pixels inside."""
    ys, xs = _span(y0, y1, canvas.shape[0]), _span(x0, x1, canvas.shape[1])
    if not len(ys) or not len(xs):
        return
    feather = max(feather, 1.0)
    wy = np.clip(np.minimum(ys + 0.5 - y0, y1 - ys - 0.5) / feather, 0.0, 1.0)
    wx = np.clip(np.minimum(xs + 0.5 - x0, x1 - xs - 0.5) / feather, 0.0, 1.0)
    region = canvas[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]
    np.maximum(region, np.minimum.outer(wy, wx).astype(np.float32), out=region)


def _span(low: float, high: float, size: int) -> np.ndarray:
    """Pixel indices whose centres may lie in [low, high], clipped to [0, size)."""
    return np.arange(max(0, math.floor(low)), min(size, math.ceil(high)))
