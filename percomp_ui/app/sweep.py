"""Rate–distortion curves of the current image for every shown codec, point by point.

Learned models are swept over their continuous rate (``LEARNED_POINTS`` rates from 0 to the top
level, one real encode each, with the slot's ROI request when it has one); classical codecs over
their quality knob from the lowest quality up, stopping past the learned curves' bpp range. Every
point is measured on the real file bytes and the decoded image, and cached per session.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..classical import compress, get_codec
from ..conditions import Condition
from ..errors import InputError
from ..metrics import ms_ssim_rgb, psnr_rgb
from ..roi.mask import RoiMasks, RoiRequest
from .files import digest
from .workbench import Session, Settings, Slot, slots

LEARNED_POINTS = 5
CLASSICAL_POINTS = 8  # knob positions tried; those above the bpp range are skipped
DEFAULT_TOP_BPP = 2.0  # the classical sweep's bpp limit when no learned curve sets one
TOP_MARGIN = 1.15  # classical points up to this factor over the highest learned bpp


@dataclass(frozen=True)
class RdPoint:
    bpp: float
    psnr: float
    ms_ssim: float | None = None
    complete: bool = False  # MS-SSIM measured (it stays None on images too small for it)


@dataclass(frozen=True)
class SweepProgress:
    done: int
    total: int
    curves: dict[str, list[RdPoint]]  # condition label → points so far, in sweep order


def learned_rates(max_rate: float, count: int = LEARNED_POINTS) -> list[float]:
    """``count`` evenly spaced rates from 0 to ``max_rate``."""
    return [float(r) for r in np.linspace(0.0, max_rate, count)]


def knob_positions(qualities: range, count: int = CLASSICAL_POINTS) -> list[int]:
    """Up to ``count`` evenly spaced values of a quality knob, lowest first, ends included."""
    picks = np.linspace(0, len(qualities) - 1, min(count, len(qualities)))
    return sorted({qualities[int(round(i))] for i in picks})


def curve_conditions(shown: list[Slot]) -> list[Condition]:
    """One curve per condition shown (the seed-000 choice contributes each of its candidates)."""
    seen: dict[str, Condition] = {}
    for slot in shown:
        for condition in slot.candidates:
            seen.setdefault(condition.key, condition)
    return list(seen.values())


def coded(session: Session, condition: Condition, knob: float, masks: RoiMasks) -> tuple[bytes, np.ndarray]:
    """The file bytes and decoded image of one point: a learned rate or a classical quality."""
    if not condition.learned:
        result = compress(get_codec(condition.codec), session.rgb, int(knob))
        return result.data, result.rgb
    codec = session.pool.codec(condition.codec)
    prepared = session.prepared(condition.codec)
    roi = None if condition.roi == "none" else codec.plan_roi(prepared, RoiRequest(masks.smoothed, condition.alpha))
    encoded = codec.encode_prepared(prepared, knob, roi)
    return encoded.data, codec.reconstruct(encoded)


def rd_sweep(session: Session, settings: Settings, masks: RoiMasks) -> Iterator[SweepProgress]:
    """Yield the curves after every new number: first bpp and PSNR of every point (learned curves
    first, they bound the classical sweep), then MS-SSIM point by point, the slow part."""
    conditions = curve_conditions(slots(session.pool.zoo, settings))
    jobs = [(c, rate) for c in conditions if c.learned for rate in learned_rates(session.pool.codec(c.codec).max_rate)]
    jobs += [(c, q) for c in conditions if not c.learned for q in knob_positions(get_codec(c.codec).qualities)]
    total, done = 2 * len(jobs), 0
    mask_key = digest(masks.smoothed)
    points: dict[tuple, RdPoint] = {}
    pictures: dict[tuple, np.ndarray] = {}
    cut: set[str] = set()  # classical curves past the learned bpp range
    learned_top = 0.0

    def curves() -> dict[str, list[RdPoint]]:
        return {c.label: [p for (key, p) in points.items() if key[1] == c.key] for c in conditions}

    for condition, knob in jobs:
        done += 1
        if condition.key in cut:
            continue
        key = (session.digest, condition.key, knob, mask_key if condition.roi != "none" else None)
        point = session.rd_cache.get(key)
        if point is None:
            try:
                data, pictures[key] = coded(session, condition, knob, masks)
            except InputError:  # a geometry this codec cannot hold: no curve for it
                cut.add(condition.key)
                continue
            point = RdPoint(len(data) * 8 / session.rgb[..., 0].size, psnr_rgb(session.rgb, pictures[key]))
            session.rd_cache.put(key, point)
        if condition.learned:
            learned_top = max(learned_top, point.bpp)
        elif point.bpp > (learned_top * TOP_MARGIN if learned_top > 0 else DEFAULT_TOP_BPP):
            cut.add(condition.key)  # the knob only goes up from here
            continue
        points[key] = point
        yield SweepProgress(done, total, curves())
    for key, point in list(points.items()):
        done += 1
        if not point.complete:
            condition = next(c for c in conditions if c.key == key[1])
            picture = pictures.pop(key, None)
            if picture is None:
                picture = coded(session, condition, key[2], masks)[1]
            points[key] = RdPoint(point.bpp, point.psnr, ms_ssim_rgb(session.rgb, picture), True)
            session.rd_cache.put(key, points[key])
            yield SweepProgress(done, total, curves())
    yield SweepProgress(total, total, curves())

