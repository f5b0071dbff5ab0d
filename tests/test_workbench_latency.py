"""benchmarks/workbench_latency.py: the in-process latency a GPU session measures (docs/gpu-session.md)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from percomp_ui.images import load_image
from percomp_ui.roi.mask import roi_masks

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "workbench_latency.py"


def bench(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], check=False, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_a_saved_source_map_painted_back_gives_the_same_mask_and_is_timed(tiny_zoo: Path, tmp_path: Path) -> None:
    mask_file, out = tmp_path / "roi.png", tmp_path / "latency.json"
    saved = bench("--save-mask", mask_file, "--zoo", tiny_zoo)
    assert saved.returncode == 0, saved.stderr
    rgb = load_image(ROOT / "assets" / "kodim23.png").rgb
    auto, painted = roi_masks(rgb, "auto"), roi_masks(rgb, "painted", load_image(mask_file).rgb)
    assert np.abs(auto.smoothed - painted.smoothed).max() < 1e-3
    assert painted.mask.mean() > 0.01  # kodim23's parrots: a real ROI, not an empty one

    timed = bench("--zoo", tiny_zoo, "--model", "tiny", "--device", "cpu", "--painted", mask_file,
                  "--repeats", 2, "--out", out)
    assert timed.returncode == 0, timed.stderr
    result = json.loads(out.read_text())
    assert result["roi_slot_model"] == "tiny" and result["device"] == "cpu"
    assert result["roi_source"] == "painted (roi.png)"
    for key in ("alpha_change_to_roi_s", "bpp_change_to_roi_s"):
        assert len(result[key]["all"]) == 2 and all(t > 0 for t in result[key]["all"])
    assert "α → ROI recon" in timed.stdout


def test_an_unknown_model_or_mask_is_one_line(tiny_zoo: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    for args in (("--model", "nope"), ("--model", "tiny", "--painted", tmp_path / "broken.png")):
        done = bench("--zoo", tiny_zoo, "--device", "cpu", "--repeats", 1, *args)
        assert done.returncode != 0
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("workbench_latency: error:"), done.stderr
