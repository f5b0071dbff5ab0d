"""Do streams move between devices? GPU-made ``.pcmp`` files decoded here, against the GPU's own decode.

Learned codecs break when the encoder's and the decoder's entropy parameters differ by one scale-table
index, which float differences between devices can cause (``docs/architecture.md``, "Determinism").
A GPU session (``scripts/gpu_session.sh train``) encodes the validation images on CUDA at one rate and
decodes them there too; this script, run where the files come back:

- decodes every GPU stream on this machine (CPU) and compares the pixels with the GPU's decode and the
  original (a wrong scale index shows as an error or a collapse in PSNR, not as a small difference);
- encodes each original here with the stream's own model and rate and compares the bytes with the GPU's
  stream.

    .venv/bin/python benchmarks/device_exchange.py STREAMS GPU_DECODED ORIGINALS --zoo ZOO \\
        [--out benchmarks/results/device-exchange.json]
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from percomp_ui.codec import LearnedCodec
from percomp_ui.container import unpack
from percomp_ui.errors import PercompError
from percomp_ui.fileio import atomic_write
from percomp_ui.images import load_image
from percomp_ui.metrics import psnr_rgb


def compare(codec_of: Callable[[str], LearnedCodec], stream_path: Path, gpu_png: Path, original: Path
            ) -> dict[str, Any]:
    """One image: CPU decode of the GPU stream vs the GPU decode and the original; a CPU encode at the
    stream's own model and rate vs the GPU's stream. ``codec_of`` maps a model name to its codec."""
    data = stream_path.read_bytes()
    reference = load_image(original).rgb
    gpu = load_image(gpu_png).rgb
    row: dict[str, Any] = {"image": original.name, "bytes": len(data),
                           "psnr_gpu_decode": round(psnr_rgb(reference, gpu), 3)}
    try:
        stream = unpack(data)
        codec = codec_of(stream.model_name)
        cpu = codec.decode_stream(stream)
    except PercompError as error:
        return row | {"decodes_here": False, "error": str(error)}
    difference = np.abs(cpu.astype(np.int16) - gpu.astype(np.int16))
    same_stream = codec.encode(reference, stream.rate).data == data
    return row | {"model": stream.model_name, "weights_hash": stream.weights_hash.hex(), "rate": stream.rate,
                  "decodes_here": True, "psnr_cpu_decode": round(psnr_rgb(reference, cpu), 3),
                  "max_pixel_difference": int(difference.max()), "pixels_differing": int((difference > 0).sum()),
                  "cpu_stream_identical": same_stream}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("streams", type=Path)
    parser.add_argument("gpu_decoded", type=Path)
    parser.add_argument("originals", type=Path)
    parser.add_argument("--zoo", type=Path, help="the zoo the GPU encoded with")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    codecs: dict[str, LearnedCodec] = {}

    def codec_of(name: str) -> LearnedCodec:
        if name not in codecs:
            codecs[name] = LearnedCodec.from_zoo(name, args.zoo)
        return codecs[name]

    rows = []
    for stream_path in sorted(args.streams.glob("*.pcmp")):
        originals = sorted(args.originals.glob(stream_path.stem + ".*"))
        if not originals:
            print(f"{stream_path.name}: no original in {args.originals}")
            continue
        rows.append(compare(codec_of, stream_path, args.gpu_decoded / f"{stream_path.stem}.png", originals[0]))
        r = rows[-1]
        here = (f"CPU {r['psnr_cpu_decode']:.3f} dB, max |Δ| {r['max_pixel_difference']}, "
                f"stream {'identical' if r['cpu_stream_identical'] else 'differs'}") if r["decodes_here"] else \
            f"does not decode here: {r['error']}"
        print(f"{r['image']:<14} {r['bytes']:>7} B  GPU {r['psnr_gpu_decode']:.3f} dB  {here}")
    if not rows:
        parser.error(f"no .pcmp streams with originals in {args.streams}")
    summary = {"images": len(rows), "decode_here": sum(r["decodes_here"] for r in rows),
               "streams_identical": sum(bool(r.get("cpu_stream_identical")) for r in rows)}
    print(f"{summary['decode_here']}/{len(rows)} GPU streams decode here; "
          f"{summary['streams_identical']}/{len(rows)} identical to this machine's encode")
    if args.out:
        result = {"decoded_on": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
                  "summary": summary, "images": rows}
        atomic_write(args.out, (json.dumps(result, indent=2) + "\n").encode())
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
