"""The ``percomp`` command line: compress, decompress, info, models, train.

Every failure is one line ``percomp: error: …`` on stderr, exit 2 for bad input or usage, 1 for
internal faults; ``--debug`` adds the traceback. Outputs are written atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, NoReturn, Sequence

from .errors import InputError, PercompError

if TYPE_CHECKING:
    from .codec import LearnedCodec

DEFAULT_MODEL = "base-vr"
DEFAULT_RATE = 3.0


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see '{self.prog} --help')")


def float_option(accept: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """An argparse ``type`` for a number that ``accept`` approves; ``expected`` words the refusal."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_float = float_option(lambda v: 0 < v < float("inf"), "a positive number")


def int_option(minimum: int, expected: str) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number ≥ ``minimum``; ``expected`` words the refusal."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = int_option(1, "a positive whole number")
_non_negative_int = int_option(0, "0 or a positive whole number")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="percomp", description="Perceptual, region-of-interest learned image compression.",
                     parents=[_common_options(None)])
    # The same options are accepted after the command name too (``percomp info F --debug``).
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _common_options(argparse.SUPPRESS)

    p = sub.add_parser("compress", help="image(s) → .pcmp", parents=[common])
    p.add_argument("input", type=Path, help="an image, or a folder of images")
    p.add_argument("output", type=Path, help="a .pcmp file, or a folder for a batch")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"zoo model (default {DEFAULT_MODEL})")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--bpp", type=_positive_float, help="target bits per pixel of the whole file: the largest rate at or under it")
    rate.add_argument("--level", type=float, help=f"continuous rate level 0 … L−1 (default {DEFAULT_RATE:g})")
    _add_roi_options(p, "--roi", "code with a seed-003 region of interest: a source "
                     "(auto, saliency, saliency-fine, faces, text, dnn) or a painted mask image; default none")
    _add_refine_option(p)
    _add_runtime_options(p)
    p.set_defaults(run=cmd_compress)

    p = sub.add_parser("choose", help="seed-000 model choice: per image the best of several models at a "
                       "bpp cap (--bpp), or the best mean quality for a folder's average bpp (--budget-bpp)",
                       parents=[common])
    p.add_argument("input", type=Path, help="an image, or a folder of images")
    p.add_argument("output", type=Path, help="a .pcmp file, or a folder for a batch")
    p.add_argument("--models", nargs="+", help="candidate zoo models (default: the zoo's seed-000 family)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--bpp", type=_positive_float, help="every file ≤ this bpp; per image the best model")
    target.add_argument("--budget-bpp", type=_positive_float,
                        help="the folder's total bits / total pixels ≤ this (CLIC's rule), mean quality maximised")
    p.add_argument("--metric", default="psnr", choices=("psnr", "ms-ssim"), help="the quality to maximise")
    p.add_argument("--report", type=Path, help="write the choices (model, rate, bpp, quality per image) as JSON")
    _add_refine_option(p)
    _add_runtime_options(p)
    p.set_defaults(run=cmd_choose)

    p = sub.add_parser("roi", help="an image's seed-003 ROI mask (RM_2D) and an overlay, as PNGs", parents=[common])
    p.add_argument("input", type=Path, help="an image")
    p.add_argument("--out", type=Path, required=True, help="the mask PNG to write (8-bit gray, RM_2D × 255)")
    p.add_argument("--source", default="auto",
                   help="auto, saliency, saliency-fine, faces, text, dnn, or a painted mask image (default auto)")
    p.add_argument("--overlay", type=Path, help="the overlay PNG (default: OUT's name with -overlay)")
    _add_saliency_weights(p)
    _add_pixel_limit(p)
    p.set_defaults(run=cmd_roi)

    p = sub.add_parser("decompress", help=".pcmp → PNG", parents=[common])
    p.add_argument("input", type=Path, help="a .pcmp file, or a folder of them")
    p.add_argument("output", type=Path, help="a .png file, or a folder for a batch")
    _add_runtime_options(p)
    p.set_defaults(run=cmd_decompress)

    p = sub.add_parser("info", help="print a .pcmp header as JSON", parents=[common])
    p.add_argument("input", type=Path)
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("models", help="list the model zoo", parents=[common])
    p.add_argument("--json", action="store_true", help="print the model cards as JSON")
    p.set_defaults(run=cmd_models)

    p = sub.add_parser("eval", help="rate-distortion of a model or a classical codec on an image folder "
                       "(CompressAI results JSON)", parents=[common])
    p.add_argument("folder", type=Path)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help=f"zoo model (default {DEFAULT_MODEL} when no --codec is given)")
    which.add_argument("--codec", metavar="{jpeg,webp,avif,heic,jxl}", help="a classical codec instead of a model")
    p.add_argument("--out", type=Path, required=True, help="results JSON to write")
    p.add_argument("--rates", type=float, nargs="+", help="--model: rate levels (default: every trained level)")
    p.add_argument("--qualities", type=int, nargs="+",
                   help="--codec: fixed qualities, a point each (default: 10 spread over the knob)")
    p.add_argument("--bpp-targets", type=_positive_float, nargs="+",
                   help="matched rate instead: per image the largest bpp not above each target")
    p.add_argument("--per-image", action="store_true", help="include per-image rows")
    p.add_argument("--update-card", action="store_true", help="--model: record the mean results in the model card")
    _add_roi_options(p, "--roi", "--model: code with this ROI source (or painted mask image) and report region metrics")
    p.add_argument("--region", metavar="SOURCE", help="--model: report region metrics for this ROI source's mask "
                   "without ROI coding (the baseline to compare --roi with)")
    _add_refine_option(p)
    _add_runtime_options(p)
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("plot", help="R-D curves and a BD-rate table from CompressAI results JSON files",
                       parents=[common])
    p.add_argument("files", type=Path, nargs="+", help="results JSON files (ours or the CompressAI anchors)")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write; the BD-rate table goes next to it as .md")
    p.add_argument("--metric", choices=("psnr-rgb", "ms-ssim-rgb", "flip"),
                   help="one metric (default: a subplot each for PSNR, MS-SSIM and FLIP where present)")
    p.add_argument("--reference", metavar="NAME_OR_FILE",
                   help="the BD-rate reference: a curve's name or a results file (default: the first file)")
    p.add_argument("--bpp-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help="compute BD-rates on this bpp range only (curves cut to it, ends interpolated)")
    p.set_defaults(run=cmd_plot)

    from .train.cli import add_train_parser

    add_train_parser(sub, common)
    from .sessions.cli import add_sessions_parser
    add_sessions_parser(sub, common)
    return parser


def _common_options(default: object) -> argparse.ArgumentParser:
    """--debug and --zoo; ``default`` is SUPPRESS on sub-commands so they don't reset the main ones."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=default if default is not None else False,
                        help="show tracebacks on errors")
    common.add_argument("--zoo", type=Path, default=default,
                        help="checkpoint folder (default: $PERCOMP_CHECKPOINTS or ./checkpoints)")
    return common


def _add_roi_options(p: argparse.ArgumentParser, flag: str, text: str) -> None:
    p.add_argument(flag, metavar="SOURCE_OR_MASK", help=text)
    p.add_argument("--alpha", type=float, help="seed-003 α with --roi: smaller gives the ROI more bits (default 1)")
    _add_saliency_weights(p)


def _add_saliency_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--saliency-weights", type=Path, metavar="FILE.safetensors",
                   help="weights of the dnn ROI source (default $PERCOMP_SALIENCY_WEIGHTS)")


def _use_saliency_weights(args: argparse.Namespace) -> None:
    """``--saliency-weights`` for this process's dnn ROI source (it reads the environment variable)."""
    from .roi.sources import SALIENCY_WEIGHTS_ENV

    if args.saliency_weights is not None:
        os.environ[SALIENCY_WEIGHTS_ENV] = str(args.saliency_weights)


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"),
                   help="analysis/synthesis transforms: float32 (default, exact and portable), bfloat16 "
                        "(~4x faster with AMX, pixels within a level or so), auto = bfloat16 where native; "
                        "streams decode with either")
    _add_pixel_limit(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or notes")


def _add_refine_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refine", type=_non_negative_int, default=0, metavar="STEPS",
                   help="learned models: fit each latent to its image with this many gradient steps before "
                        "coding (smaller files at equal quality, ~1 s a step for 768x512 on 2 CPU cores; "
                        "the streams decode as usual); default 0")


def _add_pixel_limit(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pixels", type=_positive_int, default=None,
                   help="refuse larger images (default $PERCOMP_MAX_PIXELS or 16.8 MP)")


# -- batch plumbing -------------------------------------------------------------------------------
def _pairs(src: Path, dst: Path, suffixes: frozenset[str], out_suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one file, or every matching file of a folder into an output folder.

    Everything is checked before anything is created: no output folder is left behind by a batch that
    cannot start, and two inputs that would write the same output (``x.png``, ``x.bmp``) are refused.
    """
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise InputError(f"{dst}: input is a folder, so the output must be a folder")
        files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise InputError(f"{src}: no {'/'.join(sorted(suffixes))} files in this folder")
        pairs = [(f, dst / (f.stem + out_suffix)) for f in files]
        clashes = _same_output(pairs)
        if clashes:
            raise InputError(f"{clashes[0].name} and {clashes[1].name} would both write {clashes[0].stem}{out_suffix}")
        dst.mkdir(parents=True, exist_ok=True)
        return pairs
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if dst.is_dir():
        return [(src, dst / (src.stem + out_suffix))]
    if dst.suffix.lower() != out_suffix:
        raise InputError(f"{dst}: output file must end in {out_suffix}")
    return [(src, dst)]


def _same_output(pairs: list[tuple[Path, Path]]) -> tuple[Path, Path] | None:
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        if dst in seen:
            return seen[dst], src
        seen[dst] = src
    return None


def _run_batch(pairs: list[tuple[Path, Path]], work: Callable[[Path, Path], str], quiet: bool, debug: bool) -> int:
    """Run ``work`` on every pair; one failed file does not stop the others. Returns the exit code."""
    from tqdm import tqdm

    failures = 0
    show_bar = len(pairs) > 1 and not quiet
    for src, dst in tqdm(pairs, disable=not show_bar, unit="file", file=sys.stderr):
        try:
            if dst.exists() and dst.resolve() == src.resolve():
                raise InputError(f"{dst}: output would overwrite the input")
            message = work(src, dst)
        except InputError as error:
            failures += 1
            if debug:
                traceback.print_exc()
            text = str(error)
            _print_error(text if src.name in text else f"{src}: {text}")
            if len(pairs) == 1:
                return error.exit_code
            continue
        if message and not quiet:
            print(message, file=sys.stderr)
    return 2 if failures else 0


# -- commands -------------------------------------------------------------------------------------
def cmd_compress(args: argparse.Namespace) -> int:
    from .codec import LearnedCodec
    from .fileio import atomic_write
    from .images import IMAGE_SUFFIXES, load_image

    max_pixels = _max_pixels(args)
    codec = LearnedCodec.from_zoo(args.model, args.zoo, args.device, max_pixels, args.precision, args.refine)
    rate = DEFAULT_RATE if args.level is None else args.level
    if args.bpp is None:
        _check_rate(codec, rate, "--level")

    roi = _roi_choice(args.roi, args.alpha)
    _use_saliency_weights(args)

    def work(src: Path, dst: Path) -> str:
        image = load_image(src, max_pixels)
        prepared = codec.prepare(image.rgb)
        request = None if roi is None else _roi_request(image.rgb, *roi)
        if args.bpp:
            encoded = codec.encode_to_bpp(prepared, args.bpp, request)
        else:
            encoded = codec.encode_prepared(prepared, rate, request)
        atomic_write(dst, encoded.data)
        notes = "".join(f"; {n}" for n in image.notes)
        if request is not None:
            notes += f"; ROI {roi[0]} α={roi[1]:g}, map {len(encoded.stream.roi.coded_map)} bytes"
        if args.bpp and encoded.bpp < args.bpp * 0.98 and encoded.stream.rate == codec.max_rate:
            notes += f"; the model's top rate stays under the {args.bpp:g} bpp target"
        return f"{src.name} → {dst.name}: {len(encoded.data)} bytes, {encoded.bpp:.4f} bpp, rate {encoded.stream.rate:.4f}{notes}"

    pairs = _pairs(args.input, args.output, IMAGE_SUFFIXES, ".pcmp")
    return _run_batch(pairs, work, args.quiet, args.debug)


def _roi_choice(roi: str | None, alpha: float | None) -> tuple[str | Path, float] | None:
    """``--roi`` / ``--alpha`` → (source name or painted-mask path, α), or None for no ROI."""
    from .roi.mask import DEFAULT_ALPHA, check_alpha
    from .roi.sources import SOURCE_NAMES

    if roi is None or roi == "none":
        if alpha is not None:
            raise InputError("--alpha needs --roi")
        return None
    alpha = check_alpha(DEFAULT_ALPHA if alpha is None else alpha)
    if roi in SOURCE_NAMES and roi != "painted":
        return roi, alpha
    path = Path(roi)
    if not path.is_file():
        names = ", ".join(n for n in SOURCE_NAMES if n != "painted")
        raise InputError(f"--roi {roi!r} is neither a ROI source ({names}, none) nor a mask image file")
    return path, alpha


def _roi_request(rgb, source: str | Path, alpha: float):
    from .roi.mask import RoiRequest, roi_masks

    masks = roi_masks(rgb, "painted", source) if isinstance(source, Path) else roi_masks(rgb, source)
    return RoiRequest(masks.smoothed, alpha)


def cmd_roi(args: argparse.Namespace) -> int:
    import io

    import numpy as np
    from PIL import Image

    from .app.visuals import roi_overlay
    from .fileio import atomic_write
    from .images import encode_png, load_image
    from .roi.mask import roi_masks

    source, _ = _roi_choice(args.source, None) or ("none", 0.0)
    _use_saliency_weights(args)
    if source == "none":
        raise InputError("--source none has no mask to write")
    image = load_image(args.input, _max_pixels(args))
    masks = roi_masks(image.rgb, "painted", source) if isinstance(source, Path) else roi_masks(image.rgb, source)
    overlay = args.overlay or args.out.with_name(f"{args.out.stem}-overlay.png")
    gray = io.BytesIO()
    Image.fromarray(np.rint(masks.smoothed * 255).astype(np.uint8)).save(gray, format="PNG")
    atomic_write(args.out, gray.getvalue())
    atomic_write(overlay, encode_png(roi_overlay(image.rgb, masks.smoothed)))
    share = float((masks.smoothed >= 0.5).mean())
    print(f"{args.input.name}: ROI ({source if isinstance(source, str) else 'painted'}) covers {share:.1%} "
          f"of the image; wrote {args.out} and {overlay}")
    return 0


BUDGET_RATE_STEP = 0.5  # --budget-bpp: candidate rates every half level


def cmd_choose(args: argparse.Namespace) -> int:
    from .choice import allocate_budget, candidate_options, choose_for_bpp
    from .codec import LearnedCodec
    from .fileio import atomic_write
    from .images import IMAGE_SUFFIXES, load_image
    from .zoo import seed000_models

    names = args.models or seed000_models(args.zoo)
    if not names:
        raise InputError("no seed-000 models in the zoo (cards with family 'seed-000'); name candidates with --models")
    max_pixels = _max_pixels(args)
    codecs = {name: LearnedCodec.from_zoo(name, args.zoo, args.device, max_pixels, args.precision, args.refine)
              for name in dict.fromkeys(names)}
    pairs = _pairs(args.input, args.output, IMAGE_SUFFIXES, ".pcmp")
    report: dict[str, dict] = {}

    def record(src: Path, option, pixels: int) -> str:
        stream = option.encoded.stream
        report[src.name] = {"model": option.model, "rate": stream.rate, "bytes": len(option.encoded.data),
                            "bpp": option.bits / pixels, args.metric: option.quality}
        return (f"{src.name}: {option.model} at rate {stream.rate:.3f}, {option.bits / pixels:.4f} bpp, "
                f"{args.metric} {option.quality:.4f}")

    if args.bpp is not None:
        def work(src: Path, dst: Path) -> str:
            rgb = load_image(src, max_pixels).rgb
            best, options = choose_for_bpp(rgb, codecs, args.bpp, args.metric)
            atomic_write(dst, best.encoded.data)
            others = ", ".join(f"{o.model} {o.quality:.3f}" for o in options if o is not best)
            return record(src, best, rgb.shape[0] * rgb.shape[1]) + (f" (others: {others})" if others else "")

        code = _run_batch(pairs, work, args.quiet, args.debug)
    else:
        top = max(codec.max_rate for codec in codecs.values())
        rates = [i * BUDGET_RATE_STEP for i in range(int(top / BUDGET_RATE_STEP) + 1)]
        options, pixels = {}, {}
        for src, _ in pairs:
            rgb = load_image(src, max_pixels).rgb
            options[src], pixels[src] = candidate_options(rgb, codecs, rates, args.metric), rgb.shape[0] * rgb.shape[1]
        chosen = allocate_budget(options, pixels, args.budget_bpp)
        for src, dst in pairs:
            atomic_write(dst, chosen[src].encoded.data)
            if not args.quiet:
                print(record(src, chosen[src], pixels[src]), file=sys.stderr)
        average = sum(o.bits for o in chosen.values()) / sum(pixels.values())
        mean_quality = sum(o.quality for o in chosen.values()) / len(chosen)
        print(f"{len(chosen)} images: average {average:.4f} bpp (budget {args.budget_bpp:g}), "
              f"mean {args.metric} {mean_quality:.4f}", file=sys.stderr)
        code = 0
    if args.report is not None:
        atomic_write(args.report, (json.dumps(report, indent=2) + "\n").encode())
    return code


def cmd_decompress(args: argparse.Namespace) -> int:
    from .codec import LearnedCodec
    from .container import unpack
    from .images import save_png

    max_pixels = _max_pixels(args)
    codecs: dict[str, LearnedCodec] = {}

    def work(src: Path, dst: Path) -> str:
        stream = unpack(_read_bytes(src))
        if stream.model_name not in codecs:
            codecs[stream.model_name] = LearnedCodec.from_zoo(
                stream.model_name, args.zoo, args.device, max_pixels, args.precision)
        save_png(codecs[stream.model_name].decode_stream(stream), dst)
        return f"{src.name} → {dst.name}: {stream.width}x{stream.height}"

    pairs = _pairs(args.input, args.output, frozenset({".pcmp"}), ".png")
    return _run_batch(pairs, work, args.quiet, args.debug)


def cmd_eval(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise InputError(f"{args.folder}: no such folder")
    if args.codec is not None:
        return _eval_classical(args)
    if args.qualities is not None:
        raise InputError("--qualities is for --codec; a model takes --rates or --bpp-targets")
    return _eval_model(args)


def _eval_model(args: argparse.Namespace) -> int:
    from .codec import LearnedCodec
    from .evaluate import evaluate_folder, results_json
    from .zoo import update_card

    model = args.model or DEFAULT_MODEL
    codec = LearnedCodec.from_zoo(model, args.zoo, args.device, _max_pixels(args), args.precision, args.refine)
    if args.rates is not None and args.bpp_targets is not None:
        raise InputError("use --rates or --bpp-targets, not both")
    if args.roi is not None and args.region is not None:
        raise InputError("--roi already reports region metrics; --region is for the plain baseline")
    roi = _roi_choice(args.roi, args.alpha)
    _use_saliency_weights(args)
    region, alpha = (None, None) if roi is None else roi
    if args.region is not None:
        region = _roi_choice(args.region, None)[0]
    if args.bpp_targets is not None:
        mode, points = "bpp", list(args.bpp_targets)
    else:
        mode, points = "rate", args.rates or [float(level) for level in range(codec.model.num_levels)]
        for rate in points:
            _check_rate(codec, rate, "--rates")
    if isinstance(region, Path):
        raise InputError("a painted mask fits one image; evaluate a folder with a ROI source")
    if args.update_card and (region is not None or mode == "bpp" or args.refine):
        raise InputError("--update-card records the plain curve over rate levels "
                         "(no --roi, --region, --bpp-targets or --refine)")
    evaluation = evaluate_folder(codec, args.folder, points, mode, region, alpha)
    what = "" if region is None else (f", ROI {region} α={alpha:g}" if alpha is not None else f", region {region}")
    name = f"{model}+refine{args.refine}" if args.refine else model
    if args.refine:
        what += f", latents refined with {args.refine} steps"
    result = results_json(name, f"percomp {model} on {args.folder.name}{what} (real .pcmp bytes)", evaluation)
    if args.update_card:  # the card keeps the means; per-image rows stay in the results file
        update_card(model, {f"results_{args.folder.name}": result}, args.zoo)
    _write_results(args, result, evaluation)
    for row, point in zip(evaluation["mean"], points):
        print(f"{mode} {point:5.2f}  {_metrics_line(row)}")
    return 0


def _eval_classical(args: argparse.Namespace) -> int:
    from .evaluate import classical_results_json, evaluate_classical

    for option, value in (("--rates", args.rates), ("--update-card", args.update_card or None),
                          ("--refine", args.refine or None), ("--roi", args.roi), ("--region", args.region),
                          ("--alpha", args.alpha), ("--saliency-weights", args.saliency_weights)):
        if value is not None:
            raise InputError(f"{option} is for --model, not --codec")
    if args.qualities is not None and args.bpp_targets is not None:
        raise InputError("use --qualities or --bpp-targets, not both")
    evaluation = evaluate_classical(args.codec, args.folder, args.qualities, args.bpp_targets, _max_pixels(args))
    result = classical_results_json(evaluation, args.folder.name)
    _write_results(args, result, evaluation)
    label = "quality" if evaluation["mode"] == "quality" else "target"
    for row, point in zip(evaluation["mean"], evaluation["points"]):
        print(f"{label} {point:<5g}  {_metrics_line(row)}")
    return 0


def _write_results(args: argparse.Namespace, result: dict, evaluation: dict) -> None:
    """The results JSON at ``--out`` (atomically), with per-image rows when ``--per-image``."""
    from .fileio import atomic_write

    if args.per_image:
        result = {**result, "per_image": evaluation["per_image"]}
    atomic_write(args.out, (json.dumps(result, indent=2) + "\n").encode())


def _metrics_line(row: dict) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    line = (f"bpp {row['bpp']:.4f}  PSNR {row['psnr-rgb']:.2f} dB  MS-SSIM {fmt(row['ms-ssim-rgb'], '.4f')}  "
            f"FLIP {fmt(row['flip'], '.4f')}  LPIPS {fmt(row['lpips'], '.4f')}")
    if "roi-psnr" in row:
        line += (f"  ROI PSNR {fmt(row['roi-psnr'], '.2f')}  background PSNR {fmt(row['background-psnr'], '.2f')}"
                 f"  ROI bits {fmt(row['roi-bit-share'], '.1%')} of {fmt(row['roi-fraction'], '.1%')} area")
    return line


def cmd_plot(args: argparse.Namespace) -> int:
    from .plot import plot_files

    md, table = plot_files(args.files, args.out, args.metric, args.reference,
                           tuple(args.bpp_range) if args.bpp_range else None)
    print(table, end="")
    print(f"wrote {args.out} and {md}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .container import header_dict, unpack

    data = _read_bytes(args.input)
    print(json.dumps(header_dict(unpack(data), len(data)), indent=2))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .zoo import default_checkpoint_dir, list_cards

    cards = list_cards(args.zoo or default_checkpoint_dir())
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    if not cards:
        print("no models in the zoo", file=sys.stderr)
        return 0
    rows = [("name", "architecture", "levels", "λ range", "steps", "Kodak bpp", "Kodak PSNR", "hash", "description")]
    for card in cards:
        lambdas = card["config"].get("lambdas", [])
        training = card.get("training", {})
        kodak = card.get("results_kodak", {}).get("results", {})
        rows.append((
            card["name"], card["config"].get("architecture", "?"), str(len(lambdas)),
            f"{min(lambdas):g}–{max(lambdas):g}" if lambdas else "-", str(training.get("steps", "-")),
            _span(kodak.get("bpp"), "{:.3f}"), _span(kodak.get("psnr-rgb"), "{:.2f}"), card["weights_hash"], card.get("description", ""),
        ))
    print(_table(rows))
    return 0


def _span(values: list[float] | None, fmt: str) -> str:
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}" if values else "-"


def _table(rows: Iterable[Sequence[str]]) -> str:
    rows = list(rows)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _max_pixels(args: argparse.Namespace) -> int:
    from .images import max_pixels_from_env

    return args.max_pixels or max_pixels_from_env()


def _check_rate(codec: "LearnedCodec", rate: float, option: str) -> None:
    if not 0 <= rate <= codec.max_rate:
        raise InputError(f"{option} {rate:g} is outside the model's range 0 … {codec.max_rate:g}")


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None


# -- entry point ----------------------------------------------------------------------------------
def _print_error(error: object) -> None:
    text = " ".join(str(error).split()) or type(error).__name__
    print(f"percomp: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except PercompError as error:
        if debug:
            traceback.print_exc()
        _print_error(error)
        return error.exit_code
    except BrokenPipeError:  # e.g. ``percomp info F | head``: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("percomp: error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an internal fault: one line unless --debug
        if debug:
            traceback.print_exc()
        _print_error(f"internal error: {type(error).__name__}: {error} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
