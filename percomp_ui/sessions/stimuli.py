"""The pictures raters see: for every image, the reference crop and the same crop of every condition.

Every condition codes the **whole** image at the image's target bpp with
:func:`percomp_ui.conditions.render` (real bytes, the largest size not above the target), and the
crop is cut from the decoded result, so a crop shows exactly what the codec does at that rate. The
trap is JPEG at its lowest quality, an obviously worse image at any usual target. Crops are stored
as PNG under opaque random names: nothing a rater's browser can see (URL, file name) tells which
condition is which; only the manifest knows.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..classical import compress, get_codec
from ..conditions import Condition, render
from ..errors import InputError
from ..images import load_image, save_png
from .design import SessionSpec
from .schedule import TRAP

Progress = Callable[[float, str], None]
STIMULI_FOLDER = "stimuli"


@dataclass(frozen=True)
class Stimulus:
    file: str  # PNG, relative to the session folder
    bpp: float  # real bits per pixel of the coded whole image


@dataclass(frozen=True)
class ImageStimuli:
    """One image's crop box, reference crop and coded crops (condition key or TRAP → stimulus)."""

    crop: tuple[int, int, int, int]  # x, y, width, height
    target_bpp: float
    reference: str
    stimuli: dict[str, Stimulus]

    @property
    def crop_text(self) -> str:
        return ",".join(map(str, self.crop))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageStimuli:
        return cls(tuple(data["crop"]), data["target_bpp"], data["reference"],  # type: ignore[arg-type]
                   {key: Stimulus(**value) for key, value in data["stimuli"].items()})


Manifest = dict[str, ImageStimuli]  # image id → its stimuli


def busiest_window(rgb: np.ndarray, width: int, height: int) -> tuple[int, int]:
    """Top-left corner of the ``width`` × ``height`` window with the most gradient energy.

    Codecs differ most where there is detail, so this is where a crop is most informative. Windows
    are tried on a grid of a quarter window; ties go to the first (top, then left).
    """
    gray = rgb.astype(np.float64).mean(axis=2)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.abs(np.diff(gray, axis=1))
    energy[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    full_h, full_w = gray.shape
    ys = _positions(full_h - height, max(height // 4, 1))
    xs = _positions(full_w - width, max(width // 4, 1))
    best, corner = -1.0, (0, 0)
    for y in ys:
        for x in xs:
            total = integral[y + height, x + width] - integral[y, x + width] - integral[y + height, x] + integral[y, x]
            if total > best:
                best, corner = total, (x, y)
    return corner


def _positions(span: int, step: int) -> list[int]:
    positions = list(range(0, span + 1, step))
    return positions if positions[-1] == span else positions + [span]


def crop_box(rgb: np.ndarray, side: int | None, corner: tuple[int, int] | None) -> tuple[int, int, int, int]:
    """The crop shown for an image: ``side`` × ``side`` (clamped to the image), the whole image for None."""
    full_h, full_w = rgb.shape[:2]
    if side is None:
        return 0, 0, full_w, full_h
    width, height = min(side, full_w), min(side, full_h)
    if corner is None:
        x, y = busiest_window(rgb, width, height)
    else:
        x, y = corner
        if x + width > full_w or y + height > full_h:
            raise InputError(f"crop_at {list(corner)} puts a {width}x{height} crop outside the "
                             f"{full_w}x{full_h} image")
    return x, y, width, height


def render_stimuli(spec: SessionSpec, folder: Path, zoo: Path | None = None,
                   progress: Progress | None = None) -> Manifest:
    """Code every image under every condition (and the trap) and write the crops to ``folder/stimuli``."""
    (folder / STIMULI_FOLDER).mkdir(parents=True, exist_ok=True)
    steps = len(spec.images) * (len(spec.conditions) + 1)
    manifest: Manifest = {}
    for number, (image_id, image) in enumerate(zip(spec.image_ids, spec.images)):
        rgb = load_image(image.path).rgb
        box = crop_box(rgb, spec.crop, image.crop_at)
        stimuli: dict[str, Stimulus] = {}
        for offset, key in enumerate(spec.conditions):
            if progress:
                progress((number * (len(spec.conditions) + 1) + offset) / steps,
                         f"{image_id}: {Condition.parse(key).label} at {image.target_bpp:g} bpp")
            try:
                rendered = render(rgb, Condition.parse(key), image.target_bpp, zoo)
            except InputError as error:
                raise InputError(f"{image_id}, {Condition.parse(key).label}: {error}") from None
            stimuli[key] = Stimulus(_write_crop(rendered.reconstruction, box, folder), rendered.bpp)
        jpeg = get_codec("jpeg")
        trap = compress(jpeg, rgb, jpeg.qualities[0])
        stimuli[TRAP] = Stimulus(_write_crop(trap.rgb, box, folder), trap.bpp)
        reference = _write_crop(rgb, box, folder)
        manifest[image_id] = ImageStimuli(box, image.target_bpp, reference, stimuli)
    if progress:
        progress(1.0, "stimuli ready")
    return manifest


def _write_crop(rgb: np.ndarray, box: tuple[int, int, int, int], folder: Path) -> str:
    """Save the crop under an opaque name; returns the name relative to ``folder``."""
    x, y, width, height = box
    name = f"{STIMULI_FOLDER}/{secrets.token_hex(8)}.png"
    save_png(np.ascontiguousarray(rgb[y:y + height, x:x + width]), folder / name)
    return name


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    return {image: stimuli.to_dict() for image, stimuli in manifest.items()}


def manifest_from_dict(data: dict[str, Any]) -> Manifest:
    return {image: ImageStimuli.from_dict(value) for image, value in data.items()}
