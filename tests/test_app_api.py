"""Every API endpoint of the workbench through ``gradio_client``, against the app served in this
process with a tiny zoo and small sample images."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from app_fixtures import build_samples, build_zoo, served
from conftest import make_image
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")

from percomp_ui.app.ui import build_app  # noqa: E402
from percomp_ui.codec import LearnedCodec  # noqa: E402

OUTPUTS = ["status", "source", "editor", "saliency", "overlay", "bits_of", "bits", "bits_caption", "flip",
           "gallery", "numbers", "left", "right", "slider", "downloads"]
CODECS = ["jpeg"]
TARGET = 0.3
VIEW = ["ROI", "Original", "ROI", 1]  # bits of, compare left, compare right, zoom


def named(values: tuple) -> dict[str, Any]:
    assert len(values) == len(OUTPUTS)
    return dict(zip(OUTPUTS, values))


def settings(alpha: float = 1.0, bpp: float = TARGET, source: str = "saliency") -> list[Any]:
    return ["tiny", source, bpp, alpha, CODECS]


def rows(out: dict[str, Any]) -> dict[str, list[str]]:
    """The numbers table by slot (the first word of the row label)."""
    table = out["numbers"]
    return {row[0].split(" · ")[0]: dict(zip(table["headers"], row)) for row in table["data"]}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("app")
    zoo = build_zoo(root / "zoo")
    demo = build_app(zoo, device="cpu", precision="float32", samples=build_samples(root / "samples"),
                     default_sample="sample-0.png", sessions_dir=root / "sessions")
    with served(demo) as url:
        yield url, zoo, root / "samples"


def client(app, tmp_path: Path):
    return gradio_client.Client(app[0], verbose=False, download_files=str(tmp_path), analytics_enabled=False)


@pytest.fixture(scope="module")
def loaded(app, tmp_path_factory: pytest.TempPathFactory):
    """One client with sample-0 loaded, and the final outputs of that load."""
    c = client(app, tmp_path_factory.mktemp("client"))
    out = named(c.predict("sample-0.png", *settings(), *VIEW, api_name="/load_sample"))
    return c, out


def test_the_api_names_every_main_action(loaded) -> None:
    endpoints = set(loaded[0].view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert endpoints >= {"/load_sample", "/upload", "/set_roi_source", "/paint", "/set_model", "/set_bpp",
                         "/set_alpha", "/set_codecs", "/show", "/roi_to_brush", "/rd_curves"}


def test_load_sample_fills_every_panel(loaded) -> None:
    _, out = loaded
    assert "sample-0.png" in out["status"] and "256×192" in out["status"] and "all numbers ready" in out["status"]
    for panel in ("saliency", "overlay", "bits", "flip"):
        assert Image.open(out[panel]).format == "PNG"
    assert Image.open(out["overlay"]).size == (256, 192)
    assert Image.open(out["bits"]).size[1] == 192 and Image.open(out["bits"]).size[0] > 256  # colour bar
    captions = [item["caption"] for item in out["gallery"]]
    assert [c.split(" · ")[0] for c in captions] == ["BASE", "ROI", "JPEG"]
    table = rows(out)
    for slot in ("BASE", "ROI", "JPEG"):
        assert float(table[slot]["bpp"]) <= TARGET
        assert 0 < float(table[slot]["MS-SSIM"]) <= 1 and 0 < float(table[slot]["FLIP"]) < 1
    assert table["JPEG"]["ROI bits"] == "–" and table["ROI"]["ROI bits"].endswith("%")
    assert "bytes in the file" in out["bits_caption"] and "ROI" in out["bits_caption"]
    left, right = out["slider"]
    assert Image.open(left).size == Image.open(right).size == (256, 192)


def test_downloads_are_the_real_streams_and_reconstructions(loaded, app) -> None:
    _, out = loaded
    files = [Path(p) for p in out["downloads"]]
    suffixes = sorted(p.suffix for p in files)
    assert suffixes == [".jpg", ".json", ".pcmp", ".pcmp", ".png", ".png", ".png"]
    codec = LearnedCodec.from_zoo("tiny", app[1])
    table = rows(out)
    for stream in (p for p in files if p.suffix == ".pcmp"):
        data = stream.read_bytes()
        png = next(p for p in files if p.suffix == ".png" and p.stem.rsplit("-", 1)[0] == stream.stem.rsplit("-", 1)[0])
        assert np.array_equal(codec.decode(data), np.asarray(Image.open(png)))
        assert f"{len(data):,}" in {row["bytes"] for row in table.values()}


def test_alpha_change_reencodes_only_the_roi(loaded) -> None:
    c, before = loaded
    after = named(c.predict(*settings(alpha=0.3), *VIEW, api_name="/set_alpha"))
    old, new = rows(before), rows(after)
    assert new["BASE"]["bytes"] == old["BASE"]["bytes"] and new["JPEG"]["bytes"] == old["JPEG"]["bytes"]
    roi_label = next(row[0] for row in after["numbers"]["data"] if row[0].startswith("ROI"))
    assert roi_label.endswith("α=0.3")
    assert new["ROI"]["ROI bits"] != old["ROI"]["ROI bits"]
    assert float(new["ROI"]["ROI bits"].rstrip("%")) > float(old["ROI"]["ROI bits"].rstrip("%"))
    c.predict(*settings(), *VIEW, api_name="/set_alpha")  # back, for the other tests


def test_bpp_change_keeps_every_file_within_the_target(app, tmp_path: Path) -> None:
    c = client(app, tmp_path)
    c.predict("sample-1.png", *settings(), *VIEW, api_name="/load_sample")
    out = named(c.predict(*settings(bpp=0.2), *VIEW, api_name="/set_bpp"))
    assert all(0 < float(row["bpp"]) <= 0.2 for row in rows(out).values())
    low = named(c.predict(*settings(bpp=0.1), *VIEW, api_name="/set_bpp"))
    assert "⚠ JPEG: jpeg cannot reach 0.1 bpp" in low["status"]  # the learned results still come
    assert [row[0].split(" · ")[0] for row in low["numbers"]["data"]] == ["BASE", "ROI"]
    with pytest.raises(gradio_client.exceptions.AppError, match="less than minimum value 0.05"):
        c.predict(*settings(bpp=0.001), *VIEW, api_name="/set_bpp")


def test_show_changes_the_compare_pair_and_the_bit_map_without_reencoding(loaded) -> None:
    c, before = loaded
    out = named(c.predict("BASE", "JPEG", "ROI", 4, api_name="/show"))
    assert out["left"]["value"] == "JPEG" and out["right"]["value"] == "ROI"
    assert out["bits_caption"].startswith("**BASE")
    left, right = (np.asarray(Image.open(p)) for p in out["slider"])
    assert left.shape == right.shape == (192, 256, 3)
    assert (left[::4, ::4].repeat(4, 0).repeat(4, 1) == left).all()  # zoomed 4× with visible pixels
    assert rows(out) == rows(before)


def test_rd_curves(app, tmp_path: Path) -> None:
    c = client(app, tmp_path)
    assert not isinstance(c.predict(api_name="/rd_curves"), str)  # nothing loaded in this session: no chart
    c.predict("sample-1.png", *settings(), *VIEW, api_name="/load_sample")
    chart = Image.open(c.predict(api_name="/rd_curves"))
    assert chart.format == "PNG" and chart.size[0] > chart.size[1]


def test_roi_to_brush_puts_the_mask_in_the_editor(loaded) -> None:
    c, _ = loaded
    editor = c.predict(api_name="/roi_to_brush")
    layer = np.asarray(Image.open(editor["layers"][0]))
    assert layer.shape == (192, 256, 4) and layer[..., 3].max() > 0


def test_painting_switches_to_the_painted_roi(app, tmp_path: Path) -> None:
    c = client(app, tmp_path)
    c.predict("sample-1.png", *settings(), *VIEW, api_name="/load_sample")
    out = named(c.predict(*settings(source="painted"), *VIEW, api_name="/set_roi_source"))
    assert out["status"].startswith("⚠") and "painted ROI source needs a mask" in out["status"]
    assert "\n" not in out["status"]
    background = tmp_path / "background.png"
    Image.fromarray(make_image(96, 128, seed=1)).save(background)
    layer = np.zeros((96, 128, 4), np.uint8)
    layer[20:60, 30:100] = (255, 96, 0, 255)
    stroke = tmp_path / "layer.png"
    Image.fromarray(layer).save(stroke)
    editor = {"background": gradio_client.handle_file(str(background)),
              "layers": [gradio_client.handle_file(str(stroke))], "composite": None}
    out = named(c.predict(*settings(), editor, *VIEW, api_name="/paint"))
    assert out["source"] == "painted"
    roi_row = next(row[0] for row in out["numbers"]["data"] if row[0].startswith("ROI"))
    assert "ROI painted" in roi_row
    overlay = np.asarray(Image.open(out["overlay"])).astype(int)
    assert overlay[40, 65].sum() > overlay[90, 5].sum()  # the painted box is lit, the corner dimmed


@pytest.mark.parametrize("content, expected", [
    (b"%PDF-1.4 not an image", "not an image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20, "not an image|corrupt|truncated"),
])
def test_bad_uploads_are_a_message_and_the_app_keeps_serving(app, tmp_path: Path, content: bytes,
                                                            expected: str) -> None:
    bad = tmp_path / "upload.png"
    bad.write_bytes(content)
    c = client(app, tmp_path)
    out = named(c.predict(gradio_client.handle_file(str(bad)), *settings(), *VIEW, api_name="/upload"))
    assert out["status"].startswith("⚠") and re.search(expected, out["status"])
    good = named(c.predict("sample-1.png", *settings(), *VIEW, api_name="/load_sample"))
    assert "sample-1.png" in good["status"]


def test_a_16_bit_upload_is_converted_and_noted(app, tmp_path: Path) -> None:
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), make_image(96, 128).astype(np.uint16) * 257)
    c = client(app, tmp_path)
    out = named(c.predict(gradio_client.handle_file(str(deep)), *settings(), *VIEW, api_name="/upload"))
    assert "16-bit" in out["status"] and "deep.png" in out["status"]
    assert len(out["gallery"]) == 3


def test_concurrent_sessions_do_not_mix(app, tmp_path: Path) -> None:
    results: dict[int, dict[str, Any]] = {}

    def one_user(index: int) -> None:
        c = client(app, tmp_path / str(index))
        c.predict(f"sample-{index + 1}.png", *settings(), *VIEW, api_name="/load_sample")
        results[index] = named(c.predict(*settings(alpha=0.5 + index), *VIEW, api_name="/set_alpha"))

    users = [threading.Thread(target=one_user, args=(i,)) for i in range(2)]
    for user in users:
        user.start()
    for user in users:
        user.join(timeout=300)
    for index in range(2):
        out = results[index]
        assert f"sample-{index + 1}.png" in out["status"]
        roi_row = next(row[0] for row in out["numbers"]["data"] if row[0].startswith("ROI"))
        assert roi_row.endswith(f"α={0.5 + index:g}")
        original = np.asarray(Image.open(app[2] / f"sample-{index + 1}.png"))
        assert np.array_equal(np.asarray(Image.open(out["slider"][0])), original)  # its own image, no other
