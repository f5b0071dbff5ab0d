"""ROI sources: each image → an H×W float32 map in [0, 1], on real content (rendered text, a real
portrait from ``assets/``), tiny images, painted masks in every form, and the U²-Net slot with random
weights in a temporary safetensors file."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from percomp_ui.errors import InputError
from percomp_ui.images import load_image
from percomp_ui.roi.sources import (
    SOURCE_NAMES, combine, dnn_saliency, face_map, fine_grained_saliency, painted_map, source_map,
    spectral_residual_saliency, text_map, two_tone_separation,
)
from percomp_ui.roi.u2net import U2Net, U2NetConfig, load_saliency_net, save_saliency_net
from tests.conftest import make_image

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TINY_NET = U2NetConfig(heights=(4, 3, 3), dilated=1, mid=4, width=8, size=64)
TEXT_BOX = (slice(50, 110), slice(24, 440))  # rows, columns holding the rendered text lines


def assert_map(values: np.ndarray, shape: tuple[int, int]) -> None:
    assert values.shape == shape and values.dtype == np.float32
    assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0


def assert_one_line(error: pytest.ExceptionInfo[InputError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message
    for fragment in fragments:
        assert fragment in message


@pytest.fixture(scope="module")
def text_image() -> np.ndarray:
    """Two lines of printed text, dark on light, on a photo-like background."""
    rgb = make_image(160, 480, seed=3)
    rgb[TEXT_BOX] = (rgb[TEXT_BOX] // 4 + 180).astype(np.uint8)  # a light, still textured sign
    cv2.putText(rgb, "Region of interest", (30, 76), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 30), 2,
                cv2.LINE_AA)
    cv2.putText(rgb, "compressed with care 2026", (30, 102), cv2.FONT_HERSHEY_SIMPLEX, 0.75, (20, 20, 30),
                2, cv2.LINE_AA)
    return rgb


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("u2net") / "tiny.safetensors"
    save_saliency_net(U2Net(TINY_NET), path)
    return path


# --- saliency -----------------------------------------------------------------------------------

@pytest.mark.parametrize("saliency", [spectral_residual_saliency, fine_grained_saliency])
def test_saliency_is_normalised_and_finds_the_odd_patch(saliency) -> None:
    rgb = np.full((96, 128, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    rgb[40:60, 80:100] = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)  # one busy patch
    values = saliency(rgb)
    assert_map(values, (96, 128))
    assert values.max() == pytest.approx(1.0) and values.min() == pytest.approx(0.0)
    inside = values[40:60, 80:100].mean()
    outside = np.concatenate([values[:, :40].ravel(), values[:20].ravel()]).mean()
    assert inside > 0.2 and inside > 4 * outside


@pytest.mark.parametrize("saliency", [spectral_residual_saliency, fine_grained_saliency])
def test_saliency_of_a_flat_image_is_zero(saliency) -> None:
    assert not saliency(np.full((30, 40, 3), 77, np.uint8)).any()


# --- text ---------------------------------------------------------------------------------------

def test_text_map_covers_printed_text_and_little_else(text_image: np.ndarray) -> None:
    values = text_map(text_image)
    assert_map(values, text_image.shape[:2])
    on_text = values[58:104, 32:300]  # the cores of both rendered lines
    outside = np.ones(values.shape, bool)
    outside[TEXT_BOX] = False
    assert on_text.mean() > 0.8
    assert values[outside].mean() < 0.02


def test_text_map_fires_on_light_text_on_dark_too() -> None:
    rgb = make_image(120, 360, seed=5) // 3
    cv2.putText(rgb, "Night sign 42", (20, 70), cv2.FONT_HERSHEY_DUPLEX, 1.1, (235, 235, 220), 2, cv2.LINE_AA)
    values = text_map(rgb)
    assert values[45:72, 30:240].mean() > 0.8 and values[90:].max() == 0


def test_text_map_is_empty_on_texture_without_text() -> None:
    assert not text_map(make_image(200, 300, seed=1)).any()


def test_two_tone_separation() -> None:
    two_tone = np.where(np.arange(64)[:, None] % 7 < 3, 30, 220).astype(np.uint8).repeat(8, axis=1)
    assert two_tone_separation(two_tone) == pytest.approx(1.0)
    assert two_tone_separation(np.full((8, 8), 9, np.uint8)) == 0.0
    ramp = np.arange(256, dtype=np.uint8)[None, :].repeat(4, axis=0)
    assert two_tone_separation(ramp) == pytest.approx(0.75, abs=0.01)  # uniform levels: 3/4


# --- faces --------------------------------------------------------------------------------------

def test_face_map_puts_a_blob_on_the_portrait_face() -> None:
    rgb = load_image(ASSETS / "kodim04.png").rgb  # 512 x 768 portrait, face around x 120-380, y 180-500
    values = face_map(rgb)
    assert_map(values, rgb.shape[:2])
    assert values[300:420, 180:330].min() == pytest.approx(1.0)  # eyes, nose and mouth
    assert values[:120].max() == 0 and values[650:].max() == 0  # hat crown, shoulders
    covered = values > 0.5
    assert 0.15 < covered.mean() < 0.5  # one face-sized blob
    assert cv2.connectedComponents(covered.astype(np.uint8))[0] == 2  # background + one blob


def test_face_map_is_empty_without_faces(text_image: np.ndarray) -> None:
    assert not face_map(make_image(120, 160, seed=2)).any()
    assert not face_map(text_image).any()


# --- every source, every size -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (2, 300), (33, 17)])
@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_every_source_handles_tiny_images(source: str, shape: tuple[int, int], tiny_weights: Path) -> None:
    rgb = make_image(*shape, seed=4)
    painted = np.ones(shape, bool)
    values = source_map(rgb, source, painted=painted, dnn_weights=tiny_weights)
    assert_map(values, shape)


def test_auto_uses_text_when_found_else_saliency(text_image: np.ndarray) -> None:
    np.testing.assert_array_equal(source_map(text_image, "auto"), text_map(text_image))
    plain = make_image(120, 160, seed=6)
    np.testing.assert_array_equal(source_map(plain, "auto"), spectral_residual_saliency(plain))


def test_named_sources_dispatch_to_their_functions() -> None:
    rgb = make_image(64, 80, seed=7)
    np.testing.assert_array_equal(source_map(rgb, "saliency"), spectral_residual_saliency(rgb))
    np.testing.assert_array_equal(source_map(rgb, "saliency-fine"), fine_grained_saliency(rgb))


@pytest.mark.parametrize("source, kwargs, fragment", [
    ("edges", {}, "unknown ROI source 'edges'"),
    ("painted", {}, "needs a mask"),
])
def test_source_map_refuses_bad_requests(source: str, kwargs: dict, fragment: str) -> None:
    with pytest.raises(InputError) as error:
        source_map(make_image(8, 8), source, **kwargs)
    assert_one_line(error, fragment)


@pytest.mark.parametrize("rgb", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32),
                                 np.zeros((0, 4, 3), np.uint8), [[0, 0, 0]]])
def test_source_map_refuses_non_rgb_input(rgb) -> None:
    with pytest.raises(InputError) as error:
        source_map(rgb, "saliency")
    assert_one_line(error, "H×W×3 uint8")


# --- combine ------------------------------------------------------------------------------------

def test_combine_max_and_weighted() -> None:
    a = np.array([[0.0, 0.5], [1.0, 0.2]], np.float32)
    b = np.array([[0.4, 0.1], [0.0, 0.8]], np.float32)
    np.testing.assert_allclose(combine([a, b]), [[0.4, 0.5], [1.0, 0.8]])
    np.testing.assert_allclose(combine([a, b], "max", [1.0, 0.5]), [[0.2, 0.5], [1.0, 0.4]])
    np.testing.assert_allclose(combine([a, b], "weighted"), [[0.2, 0.3], [0.5, 0.5]], atol=1e-6)
    np.testing.assert_allclose(combine([a, b], "weighted", [3, 1]), 0.75 * a + 0.25 * b, atol=1e-6)
    assert combine([a, b], "weighted").dtype == np.float32


@pytest.mark.parametrize("mode, weights, fragment", [
    ("sum", None, "unknown combine mode"),
    ("weighted", [1.0], "one finite, non-negative weight per map"),
    ("weighted", [1.0, -1.0], "non-negative"),
    ("max", [0.0, 0.0], "not all zero"),
    ("weighted", [float("nan"), 1.0], "finite"),
])
def test_combine_refuses_bad_modes_and_weights(mode: str, weights, fragment: str) -> None:
    maps = [np.zeros((2, 2), np.float32)] * 2
    with pytest.raises(InputError) as error:
        combine(maps, mode, weights)
    assert_one_line(error, fragment)


def test_combine_refuses_nothing_and_mixed_shapes() -> None:
    with pytest.raises(InputError):
        combine([])
    with pytest.raises(ValueError):
        combine([np.zeros((2, 2)), np.zeros((2, 3))])


# --- painted masks ------------------------------------------------------------------------------

def test_painted_arrays_of_every_kind() -> None:
    gray = np.array([[0, 255], [51, 102]], np.uint8)
    expected = gray / 255.0
    np.testing.assert_allclose(painted_map(gray, (2, 2)), expected, atol=1e-6)
    np.testing.assert_allclose(painted_map(gray[..., None], (2, 2)), expected, atol=1e-6)
    np.testing.assert_array_equal(painted_map(gray > 100, (2, 2)), [[0, 1], [0, 1]])
    np.testing.assert_allclose(painted_map(expected, (2, 2)), expected, atol=1e-6)
    np.testing.assert_allclose(painted_map(gray.astype(np.uint16) * 257, (2, 2)), expected, atol=1e-6)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb[0, 0] = (255, 0, 0)  # pure red has BT.601 luma 0.299
    np.testing.assert_allclose(painted_map(rgb, (2, 2)), [[0.299, 1], [0.2, 0.4]], atol=1e-6)


def test_painted_rgba_uses_a_varying_alpha_else_luminance() -> None:
    strokes = np.zeros((4, 4, 4), np.uint8)
    strokes[1:3, 1:3] = (200, 30, 30, 255)  # red brush on a transparent layer
    np.testing.assert_array_equal(painted_map(strokes, (4, 4)), strokes[..., 3] / 255)
    opaque = np.zeros((4, 4, 4), np.uint8)
    opaque[..., 3] = 255
    opaque[:2, :, :3] = 255  # a white-on-black mask saved with an opaque alpha channel
    np.testing.assert_array_equal(painted_map(opaque, (4, 4)), [[1] * 4] * 2 + [[0] * 4] * 2)
    gray_alpha = np.stack([np.full((3, 3), 9, np.uint8), np.eye(3, dtype=np.uint8) * 255], axis=-1)
    np.testing.assert_array_equal(painted_map(gray_alpha, (3, 3)), np.eye(3))


def test_painted_mask_from_a_scaled_copy_is_resized() -> None:
    mask = np.zeros((50, 75), np.float32)
    mask[10:40, 20:60] = 1.0
    values = painted_map(mask, (101, 150))  # the image is twice as large, within a pixel
    assert_map(values, (101, 150))
    assert values[30:70, 50:110].min() == 1.0 and values[:10].max() == 0.0


@pytest.mark.parametrize("mask, fragment", [
    (np.zeros((40, 20), np.uint8), "paint it on this image"),
    (np.full((8, 12), 2.0), "in [0, 1]"),
    (np.full((8, 12), np.nan), "in [0, 1]"),
    (np.zeros((8, 12), np.int64), "not int64"),
    (np.zeros((8, 12, 5), np.uint8), "not (8, 12, 5)"),
    (np.zeros((0, 12), np.uint8), "not (0, 12)"),
    ("not a path or array".encode(), "not bytes"),
])
def test_painted_refuses_unusable_masks(mask, fragment: str) -> None:
    with pytest.raises(InputError) as error:
        painted_map(mask, (8, 12))
    assert_one_line(error, fragment)


def test_painted_png_files(tmp_path: Path) -> None:
    gray = np.zeros((6, 9), np.uint8)
    gray[2:4, 3:7] = 255
    Image.fromarray(gray).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(painted_map(tmp_path / "gray.png", (6, 9)), gray / 255)
    rgba = np.zeros((6, 9, 4), np.uint8)
    rgba[..., 3] = gray  # black strokes on a transparent layer: only the alpha holds the mask
    Image.fromarray(rgba).save(tmp_path / "strokes.png")
    np.testing.assert_array_equal(painted_map(tmp_path / "strokes.png", (6, 9)), gray / 255)
    np.testing.assert_array_equal(source_map(make_image(12, 18), "painted", painted=tmp_path / "strokes.png")
                                  > 0.5, cv2.resize(gray, (18, 12)) > 127)


@pytest.mark.parametrize("name, content, fragment", [
    ("missing.png", None, "no such file"),
    ("notes.txt", b"not an image at all", "not an image"),
])
def test_painted_refuses_bad_files(tmp_path: Path, name: str, content: bytes | None, fragment: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError) as error:
        painted_map(tmp_path / name, (4, 4))
    assert_one_line(error, fragment)


# --- the U²-Net slot ----------------------------------------------------------------------------

def test_u2net_keeps_any_input_size() -> None:
    net = U2Net(TINY_NET).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 37, 50)).shape == (1, 1, 37, 50)
    assert sum(p.numel() for p in U2Net().parameters()) == pytest.approx(1.13e6, rel=0.01)


def test_dnn_saliency_with_random_weights(tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = make_image(45, 70, seed=8)
    values = dnn_saliency(rgb, tiny_weights)
    assert_map(values, (45, 70))
    assert 0.0 < values.min() and values.max() < 1.0 and values.std() > 0  # a sigmoid, not a constant
    np.testing.assert_array_equal(dnn_saliency(rgb, tiny_weights), values)
    monkeypatch.setenv("PERCOMP_SALIENCY_WEIGHTS", str(tiny_weights))
    np.testing.assert_array_equal(source_map(rgb, "dnn"), values)
    net = load_saliency_net(tiny_weights)
    assert net.config == TINY_NET and not net.training


def test_dnn_saliency_without_weights_says_how_and_other_sources_still_work(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERCOMP_SALIENCY_WEIGHTS", raising=False)
    rgb = make_image(32, 48)
    with pytest.raises(InputError) as error:
        source_map(rgb, "dnn")
    assert_one_line(error, "DNN saliency needs a weights file", "PERCOMP_SALIENCY_WEIGHTS", "--saliency-weights")
    assert_map(source_map(rgb, "auto"), (32, 48))


def test_damaged_or_foreign_weights_are_refused(tmp_path: Path, tiny_weights: Path) -> None:
    rgb = make_image(16, 16)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(np.random.default_rng(0).bytes(300))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_weights.read_bytes()[:-100])
    pickled = tmp_path / "pickled.pt"
    torch.save(U2Net(TINY_NET).state_dict(), pickled)
    mismatched = tmp_path / "mismatched.safetensors"
    save_file(U2Net(TINY_NET).state_dict(), str(mismatched))  # no metadata: read as the default config
    bad_metadata = tmp_path / "bad_metadata.safetensors"
    save_file({"x": torch.zeros(1)}, str(bad_metadata), metadata={"u2net": '{"mid": -3}'})
    cases = {corrupt: "not a usable U²-Net safetensors file", truncated: "not a usable",
             pickled: "not a usable", mismatched: "do not fit", bad_metadata: "invalid U²-Net config",
             tmp_path / "absent.safetensors": "no such saliency weights file"}
    for path, fragment in cases.items():
        with pytest.raises(InputError) as error:
            dnn_saliency(rgb, path)
        assert_one_line(error, str(path), fragment)


def test_weights_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "net.safetensors"
    rgb = make_image(20, 20)
    torch.manual_seed(1)
    save_saliency_net(U2Net(TINY_NET), path)
    first = dnn_saliency(rgb, path)
    torch.manual_seed(2)
    save_saliency_net(U2Net(TINY_NET), path)
    later = path.stat().st_mtime_ns + 10**9  # a coarse file-system clock could leave it unchanged
    os.utime(path, ns=(later, later))
    assert not np.array_equal(dnn_saliency(rgb, path), first)
