"""percomp demo on the shipped checkpoint and the sample images in ``assets/``.

Until the Gradio workbench lands (issue: "The Gradio workbench"), this runs the real codec path a
user would: each sample is compressed to a ``.pcmp`` file at several target bit rates (0.2 / 0.35 /
0.6 bpp by default), decoded back from the file, and measured; reconstructions and streams are
written to ``demo-output/``.

    .venv/bin/python app.py [--model base-vr] [--bpp 0.1 0.25 0.5] [--out demo-output]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from percomp_ui.codec import LearnedCodec
from percomp_ui.errors import PercompError
from percomp_ui.fileio import atomic_write
from percomp_ui.images import load_image, save_png
from percomp_ui.metrics import psnr_rgb

ROOT = Path(__file__).resolve().parent


def run_demo(model: str, targets: list[float], out_dir: Path) -> None:
    codec = LearnedCodec.from_zoo(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"model {model}: {codec.model.num_levels} rate levels, weights {codec.weights_hash.hex()}")
    print(f"{'image':14}{'target':>8}{'bytes':>8}{'bpp':>8}{'PSNR dB':>9}")
    for path in sorted((ROOT / "assets").glob("*.png")):
        image = load_image(path)
        prepared = codec.prepare(image.rgb)
        for target in targets:
            stem = f"{path.stem}-{target:g}bpp"
            try:
                encoded = codec.encode_to_bpp(prepared, target)
            except PercompError as error:
                print(f"{path.name:14}{target:8g}  skipped: {error}")
                continue
            atomic_write(out_dir / f"{stem}.pcmp", encoded.data)
            decoded = codec.decode((out_dir / f"{stem}.pcmp").read_bytes())
            save_png(decoded, out_dir / f"{stem}.png")
            print(f"{path.name:14}{target:8g}{len(encoded.data):8d}{encoded.bpp:8.3f}{psnr_rgb(image.rgb, decoded):9.2f}")
    print(f"streams and reconstructions in {out_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description="percomp codec demo on the sample images")
    parser.add_argument("--model", default="base-vr")
    parser.add_argument("--bpp", type=float, nargs="+", default=[0.2, 0.35, 0.6])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-output")
    args = parser.parse_args()
    try:
        run_demo(args.model, args.bpp, args.out)
    except PercompError as error:
        print(f"percomp: error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
