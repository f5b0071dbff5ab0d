"""One browser tab's state and what each panel shows, as plain values (paths, text, rows).

``ui`` maps a :class:`View` onto the Gradio components; keeping the mapping here, without gradio,
lets the tests check every panel directly. A field left ``None`` in a view means "unchanged".
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..roi.mask import RoiMasks
from .files import FileStore
from .sweep import RdPoint
from .visuals import rd_chart
from .workbench import (
    ORIGINAL, ROI, Session, Settings, Snapshot, bit_panel, flip_panel, overlay_panel, picture, report,
    roi_centre, saliency_panel, table, zoom,
)


@dataclass
class Tab:
    """Everything one browser tab owns. ``generation`` counts requests: a long update started for
    an older request stops at its next step once a newer one has begun. Each request's update is
    followed by one R-D sweep, whichever event chain asks first (Gradio also runs the chain after
    events that changed nothing, such as the brush editor receiving its new image):
    :meth:`claim_sweep` hands it out once, and only after the update finished."""

    session: Session
    files: FileStore = field(default_factory=FileStore)
    settings: Settings | None = None
    snapshot: Snapshot | None = None
    zoom_centre: tuple[float, float] | None = None  # (x, y) fractions; None = the ROI's centre
    mask_panels: tuple[RoiMasks, Path, Path] | None = None  # the masks last drawn, their two panels' files
    painted: np.ndarray | None = None  # the brush strokes of the last /paint on this image (H×W uint8)
    generation: int = 0
    updated: int = 0  # the newest generation whose update finished
    swept: int = 0  # the newest generation whose R-D sweep was handed out
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self) -> int:
        """Start a request; returns its generation number."""
        with self._lock:
            self.generation += 1
            return self.generation

    def current(self, generation: int) -> bool:
        return generation == self.generation

    def store(self, generation: int, settings: Settings, snapshot: Snapshot) -> bool:
        """Keep ``snapshot`` as what the page shows, unless a newer request has begun (then False)."""
        with self._lock:
            if generation != self.generation:
                return False
            self.settings, self.snapshot = settings, snapshot
            return True

    def finished(self, generation: int) -> None:
        """The update of ``generation`` is on the page: its R-D sweep may start."""
        with self._lock:
            if generation == self.generation:
                self.updated = generation

    def claim_sweep(self) -> int | None:
        """The generation for an R-D sweep to work on, or None when the current request's update
        has not finished or its sweep was already handed out."""
        with self._lock:
            if self.updated != self.generation or self.swept == self.generation:
                return None
            self.swept = self.generation
            return self.generation

    def close(self) -> None:
        self.files.close()


@dataclass(frozen=True)
class CompareView:
    choices: list[str]
    left: str
    right: str
    pair: tuple[Path, Path] | None


@dataclass(frozen=True)
class View:
    """The panels after one step of an update."""

    status: str
    saliency: Path
    overlay: Path
    gallery: list[tuple[Path, str]]
    headers: list[str]
    rows: list[list[str]]
    compare: CompareView
    bits_choices: list[str]
    bits_of: str
    bits: Path | None = None  # None: not yet drawn in this update
    bits_caption: str | None = None
    flip: Path | None = None
    downloads: list[Path] | None = None


def status_line(tab: Tab, snapshot: Snapshot) -> str:
    """Image, notes, problems and progress as Markdown."""
    session = tab.session
    height, width = session.rgb.shape[:2]
    lines = [f"**{session.name}** · {width}×{height}"]
    lines += [f"note: {note}" for note in session.image.notes]
    lines += [f"⚠ {problem}" for problem in snapshot.problems]
    lines.append("all numbers ready" if snapshot.done else "computing the remaining codecs and numbers …")
    return "  \n".join(lines)


def slot_titles(snapshot: Snapshot) -> list[str]:
    return [result.slot for result in snapshot.results]


def compare_view(tab: Tab, snapshot: Snapshot, left: str, right: str, factor: int) -> CompareView:
    """The two sides of the slider (falling back to Original | ROI), zoomed around the chosen centre."""
    choices = [ORIGINAL] + slot_titles(snapshot)
    left = left if left in choices else ORIGINAL
    right = right if right in choices else (ROI if ROI in choices else choices[-1])
    centre = tab.zoom_centre or roi_centre(snapshot.masks.smoothed)
    sides = [picture(tab.session, snapshot, side) for side in (left, right)]
    if any(side is None for side in sides):
        return CompareView(choices, left, right, None)
    stem = f"{tab.session.name}-zoom{factor}"
    pair = tuple(tab.files.png(f"{stem}-{side}", zoom(image, factor, centre)) for side, image in zip((left, right), sides))
    return CompareView(choices, left, right, pair)


def view(tab: Tab, snapshot: Snapshot, bits_of: str, left: str, right: str, factor: int,
         detailed: bool) -> View:
    """The panels for a snapshot; ``detailed`` adds the bit map, the FLIP map and the downloads
    (each a second or so on a CPU), which the first, fastest step of an update leaves out."""
    session, files = tab.session, tab.files
    headers, rows = table(snapshot)
    learned = [r.slot for r in snapshot.results if r.stream is not None]
    bits_of = bits_of if bits_of in learned else (ROI if ROI in learned else (learned or [""])[0])
    compare = compare_view(tab, snapshot, left, right, factor)
    gallery = [(files.png(f"{session.name}-{r.slot}", r.rendered.reconstruction),
                f"{r.label} · {r.rendered.bpp:.3f} bpp · {snapshot.metrics[r.label]['psnr']:.2f} dB")
               for r in snapshot.results]
    base = View(status_line(tab, snapshot), *mask_files(tab, snapshot.masks), gallery, headers, rows, compare,
                learned, bits_of)
    if not detailed:
        return base
    chosen = snapshot.result(bits_of)
    bits = bit_panel(session, chosen, snapshot.masks) if chosen is not None else None
    inspected = snapshot.result(compare.right) or snapshot.result(bits_of)
    return View(**{**base.__dict__,
                   "bits": files.png(f"{session.name}-bits-{bits_of}", bits.image) if bits else None,
                   "bits_caption": bits.caption if bits else "no learned reconstruction at this rate",
                   "flip": files.png(f"{session.name}-flip-{inspected.slot}", flip_panel(session, inspected))
                   if inspected else None,
                   "downloads": downloads(tab, snapshot)})


def mask_files(tab: Tab, masks: RoiMasks) -> tuple[Path, Path]:
    """The saliency and ROI-overlay panels' files, drawn once per masks (every step of an update
    shows the same masks; an α or bpp change keeps them too)."""
    drawn = tab.mask_panels
    if drawn is None or drawn[0] is not masks or not (drawn[1].exists() and drawn[2].exists()):  # or evicted
        name = tab.session.name
        tab.mask_panels = (masks, tab.files.png(f"{name}-saliency", saliency_panel(masks)),
                           tab.files.png(f"{name}-roi", overlay_panel(tab.session.rgb, masks)))
    return tab.mask_panels[1], tab.mask_panels[2]


def downloads(tab: Tab, snapshot: Snapshot) -> list[Path]:
    """Every result's real file (``.pcmp`` / ``.jpg`` …), its PNG reconstruction, and all numbers as JSON."""
    session, files = tab.session, tab.files
    stem = Path(session.name).stem
    paths = []
    for result in snapshot.results:
        name = f"{stem}-{result.rendered.condition.key}-{result.rendered.bpp:.3f}bpp"
        paths.append(files.data(name, result.rendered.suffix, result.rendered.data))
        paths.append(files.png(name, result.rendered.reconstruction))
    paths.append(files.json(f"{stem}-numbers", report(session, tab.settings, snapshot)))
    return paths


def chart(tab: Tab, curves: dict[str, list[RdPoint]]) -> Path:
    """The R-D chart with the current operating points (from the latest snapshot) starred."""
    snapshot, settings = tab.snapshot, tab.settings
    operating: dict[str, dict[str, Any]] = {}
    if snapshot is not None:
        for result in snapshot.results:
            numbers = snapshot.metrics.get(result.label, {})
            operating[result.rendered.condition.label] = {"bpp": numbers.get("bpp"), "psnr": numbers.get("psnr"),
                                                           "ms_ssim": numbers.get("ms_ssim")}
    points = {label: [{"bpp": p.bpp, "psnr": p.psnr, "ms_ssim": p.ms_ssim} for p in curve]
              for label, curve in curves.items()}
    image = rd_chart(points, operating, settings.target_bpp if settings else 0.0)
    return tab.files.png(f"{tab.session.name}-rd", image)
