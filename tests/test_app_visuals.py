"""The workbench's pictures and files (``percomp_ui.app.visuals`` / ``.files``): pure functions on arrays."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import make_image
from percomp_ui.app import files as files_module
from percomp_ui.app.files import FileStore, digest, safe_stem
from percomp_ui.app.visuals import (
    BAR_MARGIN, BAR_WIDTH, LABEL_WIDTH, colorize, gray_map, heat_map, rd_chart, robust_max, roi_overlay,
    tick_values,
)


def test_colorize_runs_dark_to_bright_and_clips() -> None:
    values = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0]])
    rgb = colorize(values, vmax=1.0)
    luminance = rgb.astype(float) @ [0.299, 0.587, 0.114]
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 5, 3)
    assert np.array_equal(rgb[0, 0], rgb[0, 1]) and np.array_equal(rgb[0, 3], rgb[0, 4])  # clipped ends
    assert luminance[0, 1] < luminance[0, 2] < luminance[0, 3]  # magma: dark → bright


def test_heat_map_appends_a_colour_bar_whose_top_is_the_maximum_colour() -> None:
    values = np.tile(np.linspace(0, 3, 40), (30, 1))
    out = heat_map(values, vmax=3.0, label="bits/px")
    assert out.shape == (30, 40 + BAR_MARGIN + BAR_WIDTH + LABEL_WIDTH, 3)
    assert np.array_equal(out[:, :40], colorize(values, 3.0))
    bar = out[:, 40 + BAR_MARGIN + BAR_WIDTH // 2]
    assert np.array_equal(bar[0], colorize(np.array([[3.0]]), 3.0)[0, 0])
    assert np.array_equal(bar[-1], colorize(np.array([[0.0]]), 3.0)[0, 0])
    labels = out[:, 40 + BAR_MARGIN + BAR_WIDTH:]
    assert (labels < 128).any(), "tick labels are drawn in black"


def test_tick_values_and_robust_max() -> None:
    assert tick_values(2.0, 5) == [0.0, 0.5, 1.0, 1.5, 2.0]
    values = np.zeros((100, 100), np.float32)
    values[:50] = 1.0
    values[0, 0] = 1000.0  # one extreme pixel does not set the scale
    assert robust_max(values) == pytest.approx(1.0)
    assert robust_max(np.zeros((4, 4))) > 0


def test_roi_overlay_dims_the_background_and_tints_the_roi() -> None:
    rgb = np.full((4, 6, 3), 200, np.uint8)
    mask = np.zeros((4, 6), np.float32)
    mask[:, 3:] = 1.0
    out = roi_overlay(rgb, mask)
    assert np.all(out[:, :3] == 100)  # background at half brightness
    roi = out[0, 4].astype(int)
    assert roi[0] > 200 > roi[2]  # orange tint: more red, less blue


def test_gray_map() -> None:
    out = gray_map(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert out.shape == (1, 3, 3) and list(out[0, :, 0]) == [0, 128, 255]


def test_rd_chart_draws_curves_and_operating_points() -> None:
    curves = {"A": [{"bpp": 0.2, "psnr": 25.0, "ms_ssim": 0.9}, {"bpp": 0.5, "psnr": 28.0, "ms_ssim": None}],
              "B": []}
    empty = rd_chart({}, {}, 0.4)
    drawn = rd_chart(curves, {"A": {"bpp": 0.3, "psnr": 26.0, "ms_ssim": 0.92}}, 0.4)
    assert drawn.shape == empty.shape and drawn.dtype == np.uint8
    assert np.abs(drawn.astype(int) - empty.astype(int)).sum() > 0


def test_digest_is_stable_and_sensitive_to_content_shape_and_dtype() -> None:
    a = make_image(8, 8)
    assert digest(a) == digest(a.copy())
    assert digest(a) != digest(a.reshape(16, 4, 3))
    assert digest(a) != digest(a.astype(np.int16))
    assert digest(b"x", "y") != digest(b"xy")


def test_safe_stem() -> None:
    assert safe_stem("kodim04.png-ROI · α=1") == "kodim04.png-ROI-1"
    assert safe_stem("///") == "file"


def test_file_store_writes_each_content_once_and_cleans_up(tmp_path) -> None:
    store = FileStore(tmp_path)
    image = make_image(16, 24)
    first = store.png("panel", image)
    mtime = first.stat().st_mtime_ns
    assert store.png("panel", image) == first and first.stat().st_mtime_ns == mtime
    assert np.array_equal(np.asarray(Image.open(first)), image)
    other = store.png("panel", image[::-1].copy())
    assert other != first
    stream = store.data("s", ".pcmp", b"PCMP...")
    assert stream.suffix == ".pcmp" and stream.read_bytes() == b"PCMP..."
    numbers = store.json("numbers", {"psnr": 30.5})
    assert json.loads(numbers.read_text()) == {"psnr": 30.5}
    with pytest.raises(ValueError):
        store.json("bad", {"psnr": float("inf")})  # JSON has no infinity: callers convert first
    store.close()
    assert not store.folder.exists()


def test_file_store_keeps_only_the_newest_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(files_module, "MAX_FILES", 3)
    store = FileStore(tmp_path)
    paths = [store.data(f"f{i}", ".bin", bytes([i])) for i in range(5)]
    assert [p.exists() for p in paths] == [False, False, True, True, True]
    assert sorted(p.name for p in store.folder.iterdir()) == sorted(p.name for p in paths[2:])


def test_file_store_encodes_the_same_pixels_once_under_several_names(tmp_path, monkeypatch) -> None:
    calls = []
    real = files_module.encode_png
    monkeypatch.setattr(files_module, "encode_png", lambda rgb, level: calls.append(1) or real(rgb, level))
    store = FileStore(tmp_path)
    image = make_image(16, 24)
    gallery, download = store.png("gallery-ROI", image), store.png("kodim-roi-0.5bpp", image)
    assert gallery != download and gallery.read_bytes() == download.read_bytes()
    assert len(calls) == 1
