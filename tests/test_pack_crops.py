"""The crop set a GPU session carries: real JPEG crops within the budget, readable as training data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image, save_png
from percomp_ui.errors import InputError
from percomp_ui.train.data import CropSampler
from percomp_ui.train.pack import MANIFEST, crop_window, pack_crops


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(4):
        save_png(make_image(200, 300, seed=i), folder / f"photo{i}.png")
    save_png(make_image(100, 100, seed=9), folder / "small.png")  # below the crop: skipped
    return folder


def test_crop_window_stays_inside_the_image() -> None:
    import random

    rng = random.Random(0)
    windows = {crop_window((130, 200, 3), 128, rng) for _ in range(200)}
    assert all(0 <= top <= 2 and 0 <= left <= 72 for top, left in windows)
    assert {top for top, _ in windows} == {0, 1, 2}  # every position can come up


def test_packs_jpeg_crops_with_a_manifest_and_trains_from_them(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "crops"
    manifest = pack_crops([photos], out, crop=128, budget_bytes=10**7)
    assert manifest["count"] == 4 and manifest["photos_too_small"] == 1 and manifest["photos_available"] == 5
    files = sorted(out.glob("*.jpg"))
    assert len(files) == 4 and manifest["bytes"] == sum(f.stat().st_size for f in files)
    for path in files:
        with Image.open(path) as im:
            assert im.format == "JPEG" and im.size == (128, 128) and im.mode == "RGB"
            assert im.layer[0][1:3] == (1, 1)  # 4:4:4: the luma plane is not subsampled
    assert json.loads((out / MANIFEST).read_text())["crops"].keys() == {f.name for f in files}
    batch = CropSampler([out], crop=64, seed=0).batch(3)  # smaller crops of the packed ones
    assert batch.shape == (3, 3, 64, 64) and 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0


def test_the_budget_is_never_exceeded_and_a_seed_repeats_the_set(photos: Path, tmp_path: Path) -> None:
    one = pack_crops([photos], tmp_path / "all", crop=128, budget_bytes=10**7)
    budget = one["bytes"] - 1  # everything but a byte: at least one crop must stay out
    small = pack_crops([photos], tmp_path / "small", crop=128, budget_bytes=budget)
    assert 1 <= small["count"] < one["count"] and small["bytes"] <= budget
    again = pack_crops([photos], tmp_path / "again", crop=128, budget_bytes=budget)
    assert [(tmp_path / "small" / n).read_bytes() for n in small["crops"]] == \
        [(tmp_path / "again" / n).read_bytes() for n in again["crops"]]


def test_refuses_bad_requests_and_overwrites_nothing(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "crops"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        pack_crops([photos], out, crop=128, budget_bytes=10**7)
    assert (out / "mine.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="multiple of 64"):
        pack_crops([photos], tmp_path / "a", crop=100, budget_bytes=10**7)
    with pytest.raises(InputError, match="fits"):
        pack_crops([photos], tmp_path / "b", crop=128, budget_bytes=100)


def test_cli_packs_and_reports_bad_input_in_one_line(cli, photos: Path, tmp_path: Path) -> None:
    done = cli("pack-crops", photos, "--out", tmp_path / "crops", "--crop", 128, "--budget-mb", 1)
    assert done.returncode == 0 and "packed" in done.stdout
    assert len(list((tmp_path / "crops").glob("*.jpg"))) >= 1
    missing = cli("pack-crops", tmp_path / "nowhere", "--out", tmp_path / "x", "--budget-mb", 1)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "no such folder" in missing.stderr
