"""The one path every client shares: RGB image → ``.pcmp`` bytes → RGB image.

.. code-block:: none

    rgb ─► tensor ─► pad to ×64 ─► g_a ─► y ──(cached)──► latent codec at rate r ─► strings ─► pack ─► .pcmp
    .pcmp ─► unpack ─► check model + weights hash ─► latent codec ─► g_s ─► crop ─► rgb

``LearnedCodec.prepare`` runs the rate-independent analysis once, so a rate search (``--bpp``) or an
app slider only re-runs the cheap gain / hyperprior / entropy-coding part for each candidate rate.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .container import RATE_INTERP_SCALE, RoiSection, Stream, pack, quantize_rate, unpack
from .errors import InputError, StreamError
from .images import DEFAULT_MAX_PIXELS, crop_to, pad_to_multiple, rgb_to_tensor, tensor_to_rgb
from .nn.hyperprior import GainedMeanScaleHyperprior
from .nn.refine import refine_latent
from .rate_search import BPP_TOLERANCE, Point, bracket, local_slope, search_rate, secant_grid
from .roi.mapcode import roi_section, section_scale
from .roi.mask import RoiRequest, latent_mask
from .zoo import load_model, weights_hash

# Secant steps a warm rate search takes from the previous answer before it falls back to the whole grid.
WARM_STEPS = 3
# How close under its aim the estimates' search stops: a quarter of the files' tolerance, so that the
# first real encode (0.1–0.2 % over its estimate) usually lands inside the files' tolerance; an
# estimate costs a third of an encode.
ESTIMATE_TOLERANCE = BPP_TOLERANCE / 4
# Estimates a search passes on to the next one with the same ROI (those nearest its answer).
KEPT_ESTIMATES = 32


@dataclass(frozen=True)
class SearchTrail:
    """Where a rate search on an image ended: its answer's grid, the slope of log(bpp) there, and
    its estimates (grid → bpp), which hold for another search only with the same ROI ``section``."""

    section: RoiSection | None
    estimates: tuple[Point, ...]
    answer: int
    slope: float


@dataclass
class SearchMemory:
    """The last rate search on an image: the next one (another α, a nearby target) starts from it."""

    last: SearchTrail | None = None  # replaced whole, so threads never see half of one


@dataclass(frozen=True)
class PreparedImage:
    """An image after the rate-independent analysis transforms: ``y = g_a(x)`` and ``z = h_a(y)``
    (or a refined ``y`` and its ``z``: :meth:`LearnedCodec.refine`), with ``x``, the padded input."""

    y: torch.Tensor
    z: torch.Tensor
    height: int
    width: int
    x: torch.Tensor
    memory: SearchMemory = field(default_factory=SearchMemory, compare=False, repr=False)

    @property
    def num_pixels(self) -> int:
        return self.height * self.width

    @property
    def latent_shape(self) -> tuple[int, int]:
        return tuple(self.y.shape[-2:])


@dataclass(frozen=True)
class RoiPlan:
    """A ROI request made concrete for one image: the stream section and the latent scale it implies."""

    section: RoiSection
    scale: torch.Tensor  # (1, M, h, w), rebuilt from ``section`` exactly as the decoder will


@dataclass(frozen=True)
class Encoded:
    """A finished encode: the file bytes and the model's own quantized reconstruction."""

    data: bytes
    stream: Stream
    y_hat: torch.Tensor

    @property
    def bpp(self) -> float:
        return len(self.data) * 8 / (self.stream.height * self.stream.width)


PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 convolutions run natively (AMX / AVX512-BF16 on CPUs, bf16 tensor cores on GPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype of the analysis/synthesis transforms; ``auto`` = bfloat16 where it is native."""
    if name not in PRECISIONS:
        raise InputError(f"unknown precision {name!r} (use {', '.join(PRECISIONS)})")
    if name == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    return torch.bfloat16 if name == "bfloat16" else torch.float32


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA GPU is available")
    if name not in ("cpu", "cuda"):
        raise InputError(f"unknown device {name!r} (use cpu or cuda)")
    return torch.device(name)


class LearnedCodec:
    """A zoo model bound to its name and weights hash, encoding to and decoding from ``.pcmp``.

    ``precision`` applies to the analysis and synthesis transforms only. In bfloat16 they run about 4×
    faster on CPUs with AMX (benchmarks/speed.py) and reconstructions differ from float32 by a pixel
    level or so; the entropy-model path (h_s, scale indexes) is float64 either way, so every stream
    decodes with either precision and the bitstream format does not depend on it.

    ``refine_steps`` > 0 fits each latent to its image before coding it (:mod:`percomp_ui.nn.refine`):
    smaller files at the same quality for about one synthesis forward and backward pass per step; the
    streams are ordinary streams of the same model.
    """

    def __init__(self, model: GainedMeanScaleHyperprior, name: str, device: str = "cpu",
                 max_pixels: int = DEFAULT_MAX_PIXELS, precision: str = "float32", refine_steps: int = 0) -> None:
        if refine_steps < 0:
            raise InputError(f"refinement steps must be 0 or more (got {refine_steps})")
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        # channels_last roughly halves CPU convolution time for these 5×5 transforms (benchmarks/speed.py).
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.name = name
        self.weights_hash = weights_hash(model)
        self.max_pixels = max_pixels
        self.refine_steps = refine_steps

    @classmethod
    def from_zoo(cls, name: str, directory: Path | None = None, device: str = "cpu",
                 max_pixels: int = DEFAULT_MAX_PIXELS, precision: str = "float32",
                 refine_steps: int = 0) -> "LearnedCodec":
        model, _ = load_model(name, directory)
        return cls(model, name, device, max_pixels, precision, refine_steps)

    @property
    def max_rate(self) -> float:
        return self.model.max_rate

    # -- encoding -------------------------------------------------------------------------------
    def prepare(self, rgb: np.ndarray) -> PreparedImage:
        height, width = rgb.shape[:2]
        self._check_size(height, width)
        x = pad_to_multiple(rgb_to_tensor(rgb), self.model.downsampling_factor).to(self.device)
        with self._transform_precision():
            y = self.model.analyse(x).float()
        return PreparedImage(y, self.model.hyper_analyse(y), height, width, x)

    def refine(self, image: PreparedImage, rate: float, plan: RoiPlan | None = None) -> PreparedImage:
        """``image`` with its latent fitted to the image at ``rate`` (and ROI) by ``refine_steps`` steps."""
        y = refine_latent(self.model, image.x, image.y, rate, roi_scale=None if plan is None else plan.scale,
                          size=(image.height, image.width), steps=self.refine_steps)
        return PreparedImage(y, self.model.hyper_analyse(y), image.height, image.width, image.x)

    def plan_roi(self, image: PreparedImage, roi: RoiRequest) -> RoiPlan:
        """Seed 003 eq. 5 on the request's RM_2D, coded for the stream, and the scale it decodes to."""
        if roi.mask_2d.shape != (image.height, image.width):
            raise InputError(f"ROI mask is {roi.mask_2d.shape[1]}x{roi.mask_2d.shape[0]} but the image is "
                             f"{image.width}x{image.height}")
        section = roi_section(latent_mask(roi.mask_2d, image.latent_shape), roi.alpha)
        return RoiPlan(section, self._scale_tensor(section, image.latent_shape))

    def _scale_tensor(self, section: RoiSection, latent_shape: tuple[int, int]) -> torch.Tensor:
        scale = section_scale(section, latent_shape, self.model.config.M)
        return torch.from_numpy(scale)[None].to(self.device)

    def encode_prepared(self, image: PreparedImage, rate: float, roi: RoiRequest | RoiPlan | None = None) -> Encoded:
        plan = self.plan_roi(image, roi) if isinstance(roi, RoiRequest) else roi
        if self.refine_steps:
            level, interp = quantize_rate(rate, self.model.num_levels - 1)
            image = self.refine(image, level + interp / RATE_INTERP_SCALE, plan)
        return self._code(image, rate, plan)

    def _code(self, image: PreparedImage, rate: float, plan: RoiPlan | None) -> Encoded:
        """Entropy-code ``image``'s latent as it is at ``rate`` (on the stream's rate grid)."""
        level, interp = quantize_rate(rate, self.model.num_levels - 1)
        out = self.model.compress_latent(image.y, level + interp / RATE_INTERP_SCALE,
                                         None if plan is None else plan.scale, image.z)
        stream = self._stream(image, level, interp, plan, tuple(s[0] for s in out["strings"]))
        return Encoded(pack(stream), stream, out["y_hat"])

    def _stream(self, image: PreparedImage, level: int, interp: int, plan: RoiPlan | None,
                strings: tuple[bytes, ...]) -> Stream:
        return Stream(model_name=self.name, weights_hash=self.weights_hash, height=image.height, width=image.width,
                      rate_level=level, rate_interp=interp, strings=strings,
                      roi=None if plan is None else plan.section)

    def encode(self, rgb: np.ndarray, rate: float, roi: RoiRequest | None = None) -> Encoded:
        return self.encode_prepared(self.prepare(rgb), rate, roi)

    def encode_to_bpp(self, image: PreparedImage, target_bpp: float, roi: RoiRequest | None = None) -> Encoded:
        """The largest rate whose real file size is ≤ ``target_bpp`` (within ``BPP_TOLERANCE``
        under it where the rate grid allows), with a ROI's map bytes counted.

        Two :func:`search_rate` passes over the stream's rate grid: the first on estimates (the
        symbols' information content plus the file's fixed bytes: a third of an encode's time,
        within 0.1–0.2 % of the real size), the second on real encodes, started from the first's
        bracket scaled by the real / estimated ratio at its answer. On the shipped models a search
        costs 1.2–1.4 real encodes on average (tiny files, whose tolerance is under a byte, bisect
        further); only a real encode whose file fits the target is ever returned.

        A search on an image that was searched before (an app slider moving α or the target) starts
        from where the last one ended (``image.memory``: its answer, the slope there, and its
        estimates when the ROI is the same): two or three estimates instead of five to seven. It may
        then stop at another rate within the tolerance than a first search would.

        With ``refine_steps``, the latent is refined at the rate that search found and searched again:
        the refined latent's files are smaller, so the second search climbs to a higher rate that
        still fits (the latent stays fitted to the first rate, a fraction of a level below).
        """
        if not target_bpp > 0 or not math.isfinite(target_bpp):
            raise InputError(f"target bpp must be a positive number (got {target_bpp})")
        plan = None if roi is None else self.plan_roi(image, roi)
        found = self._search_bpp(image, target_bpp, plan)
        if not self.refine_steps:
            return found
        try:
            return self._search_bpp(self.refine(image, found.stream.rate, plan), target_bpp, plan)
        except InputError:  # not even the refined latent's lowest rate fits: keep the unrefined encode
            return found

    def _search_bpp(self, image: PreparedImage, target_bpp: float, plan: RoiPlan | None) -> Encoded:
        """:meth:`encode_to_bpp`'s search over the rate grid, coding ``image``'s latent as it is."""
        top = round(self.max_rate * RATE_INTERP_SCALE)
        empty = (b"",) * self.model.latent_codec.num_strings
        fixed_bits = 8 * len(pack(self._stream(image, 0, 0, plan, empty)))  # the file less its strings
        last, section = image.memory.last, None if plan is None else plan.section
        estimates: dict[int, float] = dict(last.estimates) if last is not None and last.section == section else {}
        encodes: dict[int, Encoded] = {}

        def estimated(grid: int) -> float:
            if grid not in estimates:
                with self._transform_precision():  # bfloat16 h_s where the transforms use it: 3× faster again
                    bits = self.model.estimate_latent_bits(image.y, grid / RATE_INTERP_SCALE,
                                                           None if plan is None else plan.scale, image.z)
                estimates[grid] = (bits + fixed_bits) / image.num_pixels
            return estimates[grid]

        def real(grid: int) -> float:
            if grid not in encodes:
                encodes[grid] = self._code(image, grid / RATE_INTERP_SCALE, plan)
            return encodes[grid].bpp

        guess, (lo, hi) = self._estimated_guess(estimated, estimates, top, target_bpp, last)
        first = real(guess)
        ratio = first / estimated(guess)
        if first < target_bpp * (1 - BPP_TOLERANCE):  # upwards, below the first point the scaled estimates put over it
            uppers = ((g, estimated(g) * ratio) for g in ((hi[0], top) if hi else (top,)) if g > guess)
            ceiling = next(((g, b) for g, b in uppers if b > target_bpp), None)
            if ceiling is None and guess < top:
                ceiling = (top, real(top))
            if ceiling is not None and ceiling[1] > target_bpp:
                search_rate(real, (guess, first), ceiling, target_bpp)
        elif first > target_bpp:  # downwards, above the first point the scaled estimates put under the target
            lowers = ((g, estimated(g) * ratio) for g in ((lo[0], 0) if lo else (0,)) if g < guess)
            floor = next(((g, b) for g, b in lowers if b <= target_bpp), None)
            if floor is not None:
                search_rate(real, floor, (guess, first), target_bpp)
            if all(e.bpp > target_bpp for e in encodes.values()):  # the estimate misled us: start from the bottom
                if real(0) > target_bpp:
                    raise InputError(
                        f"target {target_bpp:g} bpp is below the lowest rate of model {self.name!r} "
                        f"for this image ({encodes[0].bpp:.4f} bpp)"
                    )
                search_rate(real, (0, encodes[0].bpp), min(((g, e.bpp) for g, e in encodes.items()
                                                            if e.bpp > target_bpp)), target_bpp)
        answer = max((e for e in encodes.values() if e.bpp <= target_bpp),
                     key=lambda e: (e.bpp, e.stream.rate_level, e.stream.rate_interp))
        grid = answer.stream.rate_level * RATE_INTERP_SCALE + answer.stream.rate_interp
        slope = local_slope(estimates, grid) or (last.slope if last is not None else None)
        kept = sorted(sorted(estimates.items(), key=lambda point: abs(point[0] - grid))[:KEPT_ESTIMATES])
        image.memory.last = None if slope is None or slope <= 0 else SearchTrail(section, tuple(kept), grid, slope)
        return answer

    @staticmethod
    def _estimated_guess(estimated: Callable[[int], float], estimates: dict[int, float], top: int, target_bpp: float,
                         last: SearchTrail | None) -> tuple[int, tuple[Point | None, Point | None]]:
        """The grid whose estimate is the largest ≤ the target (a little under it: estimates run a
        little low), and the estimates' bracket around it (a side is None where the guess is an end
        of the grid). Cold, the bracket starts as the whole grid. Warm (``last``: the previous
        search on this image), secant steps from its answer with the curve's slope there bracket the
        target first: two or three estimates instead of five to seven (``estimates`` already holds
        the previous search's when the ROI is the same)."""
        aim = target_bpp * (1 - BPP_TOLERANCE / 2)

        def close(lo: Point | None) -> bool:  # an estimate already within the tolerance under the aim
            return lo is not None and lo[1] >= aim * (1 - ESTIMATE_TOLERANCE)

        if last is not None and not close(bracket(estimates, aim)[0]):
            point, slope = (last.answer, estimated(last.answer)), last.slope
            for _ in range(WARM_STEPS):
                grid = min(max(secant_grid(point, slope, aim), 0), top)
                if grid in estimates:
                    break
                step = (grid, estimated(grid))
                lo, hi = bracket(estimates, aim)
                if close(lo) or (lo and hi):
                    break
                secant = local_slope({point[0]: point[1], grid: step[1]}, grid, 0.0)
                slope = secant if secant and secant > 0 else slope
                point = step
        lo, hi = bracket(estimates, aim)
        if close(lo):
            return lo[0], (lo, hi)
        if hi is None:
            if estimated(top) <= target_bpp:
                return top, (lo, None)
            hi = (top, estimates[top])
        if lo is None:
            if estimated(0) > target_bpp:
                return 0, (None, hi)
            lo = (0, estimates[0])
        lo, hi = search_rate(estimated, lo, hi, aim, ESTIMATE_TOLERANCE)
        return lo[0], (lo, hi)

    def reconstruct(self, encoded: Encoded) -> np.ndarray:
        """The model's own reconstruction of an encode (what the decoder will produce)."""
        return self._synthesize_rgb(encoded.y_hat, encoded.stream.height, encoded.stream.width)

    # -- decoding -------------------------------------------------------------------------------
    def decode(self, data: bytes) -> np.ndarray:
        return self.decode_stream(unpack(data))

    def decode_stream(self, stream: Stream) -> np.ndarray:
        self.check_stream(stream)
        y_hat = self.model.decompress_latent(*self._latent_arguments(stream))
        return self._synthesize_rgb(y_hat, stream.height, stream.width)

    def bit_map(self, stream: Stream) -> np.ndarray:
        """Where the bits went: an H×W float32 map of entropy-coded bits per pixel, from the real
        likelihoods of the stream's decoded symbols. Each latent's bits are spread evenly over the
        16×16 pixels it codes and each hyper-latent's over its 64×64, so the map sums to the
        information content of the coded symbols (the rANS strings are a few bytes longer; bits on
        the edge padding of sizes that are not multiples of 64 are cropped away with the padding)."""
        self.check_stream(stream)
        bits = self.model.latent_bits(*self._latent_arguments(stream))
        y_bits = bits["y"][0].double().cpu().numpy() / 16**2
        z_bits = bits["z"][0].double().cpu().numpy() / 64**2
        per_pixel = np.kron(y_bits, np.ones((16, 16))) + np.kron(z_bits, np.ones((64, 64)))
        return per_pixel[: stream.height, : stream.width].astype(np.float32)

    def _latent_arguments(self, stream: Stream) -> tuple:
        factor = self.model.downsampling_factor
        shape = (-(-stream.height // factor), -(-stream.width // factor))
        latent_shape = (shape[0] * 4, shape[1] * 4)
        scale = None if stream.roi is None else self._scale_tensor(stream.roi, latent_shape)
        return [[s] for s in stream.strings], shape, stream.rate, scale

    def _synthesize_rgb(self, y_hat: torch.Tensor, height: int, width: int) -> np.ndarray:
        with self._transform_precision():
            x_hat = self.model.synthesize(y_hat)
        return tensor_to_rgb(crop_to(x_hat.float(), height, width).cpu())

    def _transform_precision(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16)

    def check_stream(self, stream: Stream) -> None:
        """Refuse streams this codec cannot decode exactly."""
        if stream.model_name != self.name:
            raise StreamError(f"stream was made by model {stream.model_name!r}, not {self.name!r}")
        if stream.weights_hash != self.weights_hash:
            raise StreamError(
                f"stream was made by other weights of model {stream.model_name!r} "
                f"(stream {stream.weights_hash.hex()}, installed {self.weights_hash.hex()})"
            )
        expected = self.model.latent_codec.num_strings
        if len(stream.strings) != expected:
            raise StreamError(f"stream has {len(stream.strings)} entropy-coded strings; this model writes {expected}")
        if stream.rate > self.max_rate:
            raise StreamError(f"stream rate {stream.rate:.4f} is beyond the model's top level {self.max_rate:g}")
        self._check_size(stream.height, stream.width)

    def _check_size(self, height: int, width: int) -> None:
        if height * width > self.max_pixels:
            raise InputError(
                f"{width}x{height} = {height * width / 1e6:.1f} MP exceeds the pixel limit of "
                f"{self.max_pixels / 1e6:.1f} MP (set PERCOMP_MAX_PIXELS or --max-pixels to raise it)"
            )


def decode_file_bytes(data: bytes, directory: Path | None = None, device: str = "cpu",
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a ``.pcmp`` stream with the zoo model it names."""
    stream = unpack(data)
    return LearnedCodec.from_zoo(stream.model_name, directory, device, max_pixels).decode_stream(stream)
