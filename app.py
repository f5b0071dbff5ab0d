"""The percomp workbench: a Gradio app on the zoo's models and the sample images in ``assets/``.

    .venv/bin/python app.py [--host 127.0.0.1] [--port 7860] [--share] [--zoo checkpoints/]
                            [--device auto|cpu|cuda] [--precision auto|float32|bfloat16]
                            [--samples assets/] [--codecs jpeg webp avif heic] [--max-pixels N]
                            [--sessions-dir DIR] [--refine STEPS]

Opens http://127.0.0.1:7860 (see README "The workbench"); the layout and API live in
``percomp_ui/app/``.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no calls home

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from percomp_ui.app.ui import ASSETS, DEFAULT_SESSIONS_DIR, MAX_FILE_SIZE, build_app  # noqa: E402
from percomp_ui.app.workbench import APP_MAX_PIXELS, DEFAULT_CODECS, default_device  # noqa: E402
from percomp_ui.codec import PRECISIONS  # noqa: E402
from percomp_ui.errors import PercompError  # noqa: E402
from percomp_ui.nn.isolated_decoder import start_worker  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description="percomp workbench (Gradio)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    parser.add_argument("--zoo", type=Path, default=None, help="model folder (default: checkpoints/)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: cuda when a GPU is available, else cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="analysis/synthesis transforms; auto: bfloat16 where the hardware runs it natively")
    parser.add_argument("--samples", type=Path, default=ASSETS, help="folder of sample images")
    parser.add_argument("--codecs", nargs="*", default=list(DEFAULT_CODECS), metavar="CODEC",
                        help=f"classical codecs ticked at start; none after the flag ticks none (default: {' '.join(DEFAULT_CODECS)})")
    parser.add_argument("--max-pixels", type=int, default=APP_MAX_PIXELS, help="largest upload, in pixels")
    parser.add_argument("--sessions-dir", type=Path, default=DEFAULT_SESSIONS_DIR,
                        help=f"subjective sessions for the Rate / Organise / Results tabs (default {DEFAULT_SESSIONS_DIR})")
    parser.add_argument("--refine", type=int, default=0, metavar="STEPS",
                        help="refine the latent of every learned encode with this many gradient steps: smaller "
                             "files at equal quality, ~1 s a step at 768x512 on 2 CPU cores (a GPU suits it); default 0")
    args = parser.parse_args(argv)
    if args.max_pixels < 1:
        parser.error("--max-pixels must be a positive number of pixels")
    if args.refine < 0:
        parser.error("--refine must be 0 or a positive number of steps")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start_worker()  # before the server's threads exist: see start_worker
    device = default_device() if args.device == "auto" else args.device
    try:
        demo = build_app(args.zoo, device=device, precision=args.precision, samples=args.samples,
                         max_pixels=args.max_pixels, default_codecs=tuple(args.codecs),
                         sessions_dir=args.sessions_dir, refine_steps=args.refine)
    except PercompError as error:
        print(f"percomp: error: {error}", file=sys.stderr)
        return error.exit_code
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_FILE_SIZE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
