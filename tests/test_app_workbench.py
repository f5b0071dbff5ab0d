"""The workbench without gradio (``percomp_ui.app.workbench``, ``.sweep``, ``.views``): real encodes
with tiny untrained zoo models on small images."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_fixtures import build_zoo
from conftest import make_image, save_png
from percomp_ui.app.sweep import RdPoint, curve_conditions, knob_positions, learned_rates, rd_sweep
from percomp_ui.app.views import Tab, compare_view, view
from percomp_ui.app.workbench import (
    BASE, HIFIC, ORIGINAL, ROI, SEED000, CodecPool, Session, Settings, Zoo, cell, mask_layer, model_role,
    finish, painted_mask, report, roi_centre, sample_images, slots, table, update, zoom,
)
from percomp_ui.codec import LearnedCodec
from percomp_ui.container import unpack
from percomp_ui.errors import InputError
from percomp_ui.metrics import psnr_rgb

HEIGHT, WIDTH = 96, 128
TARGET = 0.6  # bpp: inside the ranged tiny model's range and above JPEG's lowest on the test image


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="module")
def pool(zoo: Path) -> CodecPool:
    return CodecPool(zoo, "cpu", "float32")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_png(make_image(HEIGHT, WIDTH, seed=3), tmp_path_factory.mktemp("images") / "sample.png")


@pytest.fixture
def session(pool: CodecPool, image_file: Path) -> Session:
    session = Session(pool)
    session.open(image_file, image_file.name)
    return session


def everything(session: Session, chosen: Settings) -> list:
    """Every snapshot of a full update: the quick learned part, then the rest."""
    quick = list(update(session, chosen))
    return quick + list(finish(session, chosen, quick[-1]))


def settings(bpp: float, **changes) -> Settings:
    return Settings(**{"model": "tiny", "source": "saliency", "alpha": 1.0, "target_bpp": bpp,
                       "codecs": ("jpeg",), **changes})


# -- the zoo ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def role_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zoo with every role: a BASE model, two seed-000 fine-tunes, a HiFiC-style and a ROI checkpoint."""
    return build_zoo(tmp_path_factory.mktemp("role_zoo"), {
        "base": {}, "s0-a": {"family": "seed-000"}, "s0-b": {"family": "seed-000"},
        "gan": {"family": "hific"}, "roi": {"roi": True}})


def test_model_roles_come_from_card_fields() -> None:
    assert model_role({}) == BASE
    assert model_role({"family": "seed-000"}) == SEED000
    assert model_role({"family": "hific"}) == HIFIC
    assert model_role({"roi": True, "family": "seed-000"}) == ROI
    assert model_role({"roi": "yes"}) == BASE  # only a real true marks a ROI checkpoint


def test_slots_show_what_the_zoo_has(role_zoo: Path, zoo: Path) -> None:
    chosen = Settings("base", "faces", 0.5, 0.3, ("jpeg", "nonexistent"))
    shown = slots(Zoo.scan(role_zoo), chosen)
    assert [s.title for s in shown] == [BASE, ROI, SEED000, f"{HIFIC} gan", "JPEG"]
    assert [c.key for c in shown[1].candidates] == ["roi+roi=faces@0.5"]  # the dedicated ROI checkpoint
    assert [c.key for c in shown[2].candidates] == ["s0-a", "s0-b"]
    plain = slots(Zoo.scan(zoo), Settings("tiny", codecs=()))
    assert [s.title for s in plain] == [BASE, ROI]  # no seed-000 or HiFiC panels without checkpoints
    assert plain[1].candidates[0].key == "tiny+roi=auto@1"


def test_zoo_summary_uses_the_card_results(role_zoo: Path) -> None:
    zoo = Zoo.scan(role_zoo)
    assert zoo.summary("base") == "base"
    zoo.cards["base"]["results_kodak"] = {"results": {"bpp": [0.2, 1.5], "psnr-rgb": [24.0, 29.5]}}
    assert zoo.summary("base") == "base (Kodak 0.20–1.50 bpp, 24.0–29.5 dB)"


def test_seed000_choice_keeps_the_best_candidate(role_zoo: Path) -> None:
    session = Session(CodecPool(role_zoo, "cpu", "float32"))
    rgb = make_image(HEIGHT, WIDTH, seed=5)
    session.open(save_png(rgb, role_zoo.parent / "s0.png"), "s0.png")
    slot = next(s for s in slots(session.pool.zoo, Settings("base", codecs=())) if s.title == SEED000)
    masks = session.masks("saliency")
    result = session.render(slot, 2.0, masks)
    candidates = [session.render(type(slot)(SEED000, (c,)), 2.0, masks) for c in slot.candidates]
    best = max(candidates, key=lambda r: psnr_rgb(rgb, r.rendered.reconstruction))
    assert result.rendered.condition == best.rendered.condition
    assert result.label == f"{SEED000} · {best.rendered.condition.label}"


def test_sample_images(tmp_path: Path) -> None:
    assert sample_images(tmp_path / "missing") == {}
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert list(sample_images(tmp_path)) == ["a.jpg", "b.png"]


# -- the session ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"not an image at all", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|corrupt|truncated"),
])
def test_bad_files_are_one_line_input_errors(pool: CodecPool, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        Session(pool).open(path, "photo.png")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("photo.png: ")
    assert str(tmp_path) not in str(caught.value)


def test_tiny_and_huge_images_are_refused(pool: CodecPool, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="too small"):
        Session(pool).open(save_png(make_image(4, 40), tmp_path / "tiny.png"), "tiny.png")
    with pytest.raises(InputError, match="pixel limit"):
        Session(pool, max_pixels=1000).open(save_png(make_image(40, 40), tmp_path / "big.png"), "big.png")


def test_converted_images_carry_their_notes(pool: CodecPool, tmp_path: Path) -> None:
    rgba = np.dstack([make_image(40, 40), np.full((40, 40), 128, np.uint8)])
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)
    image = Session(pool).open(path, "alpha.png")
    assert any("alpha" in note for note in image.notes)


def test_no_image_yet_is_a_clear_error(pool: CodecPool) -> None:
    with pytest.raises(InputError, match="pick a sample or upload"):
        Session(pool).masks("saliency")


def test_every_result_is_real_bytes_within_the_target(session: Session) -> None:
    snapshots = everything(session, settings(TARGET))
    final = snapshots[-1]
    assert final.done and not final.problems
    assert [r.slot for r in final.results] == [BASE, ROI, "JPEG"]
    for result in final.results:
        assert result.rendered.bpp <= TARGET
        assert result.rendered.bpp == len(result.rendered.data) * 8 / (HEIGHT * WIDTH)
    base, roi = final.results[0], final.results[1]
    codec = session.pool.codec("tiny")
    assert unpack(roi.rendered.data).roi is not None and unpack(base.rendered.data).roi is None
    assert np.array_equal(codec.decode(roi.rendered.data), roi.rendered.reconstruction)


def test_update_shows_the_roi_first_and_finish_each_codec_then_the_numbers(session: Session) -> None:
    quick = [[r.slot for r in s.results] for s in update(session, settings(TARGET, codecs=("jpeg",)))]
    assert quick == [[ROI], [BASE, ROI]]
    steps = [([r.slot for r in s.results], {k: "ms_ssim" in v for k, v in s.metrics.items()}, s.done)
             for s in everything(session, settings(TARGET, codecs=("jpeg", "webp")))]
    assert steps[0][0] == [ROI] and not any(steps[0][1].values())
    assert steps[1][0] == [BASE, ROI]
    assert steps[2][0] == [BASE, ROI, "JPEG"] and steps[3][0] == [BASE, ROI, "JPEG", "WebP"]
    assert steps[-1][2] and all(steps[-1][1].values())
    assert len(steps) == 4 + 4 + 1


def test_a_refining_pool_codes_refined_streams_within_the_target(zoo: Path, image_file: Path) -> None:
    pool = CodecPool(zoo, "cpu", "float32", refine_steps=2)
    assert "latents refined: 2 steps" in pool.describe()
    session = Session(pool)
    session.open(image_file, image_file.name)
    final = everything(session, settings(TARGET))[-1]
    assert final.done and not final.problems
    plain = CodecPool(zoo, "cpu", "float32").codec("tiny")
    for result in final.results[:2]:  # BASE and ROI: refined, still within the target, decoded by any codec
        assert result.rendered.bpp <= TARGET
        assert np.array_equal(plain.decode(result.rendered.data), result.rendered.reconstruction)


def test_alpha_and_bpp_changes_reuse_the_analysis_and_the_masks(session: Session,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    everything(session, settings(TARGET))
    codec = session.pool.codec("tiny")
    calls = {"prepare": 0, "masks": 0}
    real_prepare = codec.prepare

    def counting_prepare(rgb):
        calls["prepare"] += 1
        return real_prepare(rgb)

    monkeypatch.setattr(codec, "prepare", counting_prepare)
    import percomp_ui.app.workbench as workbench

    real_masks = workbench.roi_masks
    monkeypatch.setattr(workbench, "roi_masks", lambda *a: calls.__setitem__("masks", calls["masks"] + 1)
                        or real_masks(*a))
    before = {r.slot: r.rendered.data for r in everything(session, settings(TARGET))[-1].results}
    after = {r.slot: r.rendered.data for r in everything(session, settings(TARGET, alpha=0.3))[-1].results}
    everything(session, settings(TARGET * 0.8, alpha=0.3))
    assert calls == {"prepare": 0, "masks": 0}
    assert after[BASE] == before[BASE] and after["JPEG"] == before["JPEG"]  # untouched by α
    assert after[ROI] != before[ROI]


def test_the_analysis_of_every_zoo_model_stays_cached(role_zoo: Path, image_file: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An update renders every learned model of the zoo (five here): none of their analyses may be
    evicted by the others before the next α or bpp change."""
    pool = CodecPool(role_zoo, "cpu", "float32")
    session = Session(pool)
    session.open(image_file, image_file.name)
    everything(session, settings(TARGET, model="base"))
    calls = []
    for name in pool.zoo.cards:
        codec, real = pool.codec(name), pool.codec(name).prepare
        monkeypatch.setattr(codec, "prepare", lambda rgb, name=name, real=real: calls.append(name) or real(rgb))
    everything(session, settings(TARGET, model="base", alpha=0.3))
    everything(session, settings(TARGET * 0.8, model="base", alpha=0.3))
    assert calls == []


def test_smaller_alpha_moves_bits_into_the_roi(session: Session) -> None:
    painted = np.zeros((HEIGHT, WIDTH), np.uint8)
    painted[:, : WIDTH // 2] = 255
    masks = session.masks("painted", painted)
    shares = []
    for alpha in (4.0, 0.25):
        slot = slots(session.pool.zoo, settings(TARGET, source="painted", alpha=alpha))[1]
        result = session.render(slot, TARGET, masks)
        bits = session.bit_map(result)
        shares.append(session.full_metrics(result, masks)["roi_bit_share"])
        assert bits.shape == (HEIGHT, WIDTH) and bits.min() >= 0
        # the file adds its header and ROI map; the map drops the bits of the padding to 128×128
        assert 0.5 * len(result.rendered.data) * 8 < bits.sum() < len(result.rendered.data) * 8
    assert shares[1] > shares[0]


def test_painted_source_needs_strokes_and_ignores_them_otherwise(session: Session) -> None:
    with pytest.raises(InputError, match="painted"):
        session.masks("painted", None)
    strokes = np.zeros((HEIGHT, WIDTH), np.uint8)
    strokes[10:30, 10:30] = 255
    assert session.masks("saliency", strokes) is session.masks("saliency", None)
    painted = session.masks("painted", strokes)
    assert painted.saliency[20, 20] == 1.0 and painted.saliency[80, 100] == 0.0


def test_a_target_below_a_codecs_range_is_reported_not_fatal(session: Session) -> None:
    final = everything(session, settings(0.0005))[-1]
    assert final.done and final.results == []
    assert len(final.problems) == 3 and all("0.0005" in p for p in final.problems)


def test_metrics_table_and_report(session: Session) -> None:
    chosen = settings(TARGET)
    final = everything(session, chosen)[-1]
    headers, rows = table(final)
    assert headers[:4] == ["reconstruction", "bytes", "bpp", "PSNR dB"] and "ROI bits" in headers
    assert [row[0] for row in rows] == [r.label for r in final.results]
    assert rows[0][headers.index("bytes")] == f"{len(final.results[0].rendered.data):,}"
    assert rows[2][headers.index("ROI bits")] == "–"  # JPEG has no likelihoods
    payload = report(session, chosen, final)
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text)["results"][1]["condition"] == "tiny+roi=saliency@1"
    numbers = payload["results"][0]
    assert numbers["bpp"] == final.results[0].rendered.bpp and 0 < numbers["flip"] < 1


def test_cell_formats() -> None:
    assert cell(None, "{:.2f}") == "–"
    assert cell(float("inf"), "{:.2f}") == "∞"
    assert cell(0.1234, "{:.1%}") == "12.3%"


# -- small pure helpers -----------------------------------------------------------------------------

def test_painted_mask_from_editor_layers() -> None:
    assert painted_mask(None) is None and painted_mask([]) is None
    empty = np.zeros((5, 6, 4), np.uint8)
    assert painted_mask([empty]) is None
    stroke = empty.copy()
    stroke[1:3, 2:4, 3] = 200
    other = empty.copy()
    other[4, 5, 3] = 255
    mask = painted_mask([stroke, other])
    assert mask.shape == (5, 6) and mask[1, 2] == 200 and mask[4, 5] == 255 and mask[0, 0] == 0


def test_mask_layer_round_trips_through_painted_mask() -> None:
    smoothed = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    layer = mask_layer(smoothed)
    assert layer.shape == (3, 4, 4) and (layer[..., :3] == layer[0, 0, :3]).all()
    assert np.array_equal(painted_mask([layer]), np.rint(smoothed * 255).astype(np.uint8))


def test_zoom_enlarges_a_window_with_visible_pixels() -> None:
    rgb = make_image(40, 60)
    assert zoom(rgb, 1, (0.5, 0.5)) is rgb
    out = zoom(rgb, 4, (0.0, 1.0))  # bottom-left corner, clamped inside the image
    assert out.shape == (40, 60, 3)
    assert np.array_equal(out[::4, ::4], rgb[30:40, 0:15])


def test_roi_centre() -> None:
    mask = np.zeros((10, 20), np.float32)
    assert roi_centre(mask) == (0.5, 0.5)
    mask[0:2, 18:20] = 1.0
    x, y = roi_centre(mask)
    assert x == pytest.approx(19.0 / 20) and y == pytest.approx(1.0 / 10)


# -- R-D curves ---------------------------------------------------------------------------------

def test_sweep_positions() -> None:
    assert learned_rates(7.0, 3) == [0.0, 3.5, 7.0]
    assert knob_positions(range(1, 101), 4) == [1, 34, 67, 100]
    assert knob_positions(range(0, 3), 8) == [0, 1, 2]


def test_curve_conditions_unfold_the_seed000_choice(role_zoo: Path) -> None:
    keys = [c.key for c in curve_conditions(slots(Zoo.scan(role_zoo), Settings("base", codecs=("jpeg",))))]
    assert keys == ["base", "roi+roi=auto@1", "s0-a", "s0-b", "gan", "jpeg"]


def test_rd_sweep_measures_real_points_psnr_first_then_ms_ssim(pool: CodecPool, tmp_path: Path) -> None:
    session = Session(pool)
    session.open(save_png(make_image(176, 176, seed=2), tmp_path / "rd.png"), "rd.png")  # MS-SSIM needs ≥ 161 px
    chosen = Settings("tiny", "saliency", 1.0, 0.5, ("jpeg",))
    masks = session.masks("saliency")
    steps = list(rd_sweep(session, chosen, masks))
    final = steps[-1]
    assert final.done == final.total and [s.done for s in steps] == sorted(s.done for s in steps)
    learned = final.curves["tiny"]
    assert len(learned) == len(learned_rates(pool.codec("tiny").max_rate))
    assert [p.bpp for p in learned] == sorted(p.bpp for p in learned)
    top = max(p.bpp for c in ("tiny", "tiny · ROI saliency α=1") for p in final.curves[c])
    assert all(p.bpp <= top * 1.15 for p in final.curves["JPEG"])
    assert all(p.complete and p.ms_ssim is not None for curve in final.curves.values() for p in curve)
    first_complete = next(i for i, s in enumerate(steps) if any(p.complete for c in s.curves.values() for p in c))
    assert all(all(not p.complete for c in s.curves.values() for p in c) for s in steps[:first_complete])
    again = list(rd_sweep(session, chosen, masks))[-1]  # cached: same numbers
    assert again.curves == final.curves


def test_rd_points_are_the_real_file_sizes(pool: CodecPool, session: Session) -> None:
    final = list(rd_sweep(session, settings(0.5, codecs=()), session.masks("saliency")))[-1]
    codec: LearnedCodec = pool.codec("tiny")
    top = codec.encode_prepared(session.prepared("tiny"), codec.max_rate)
    assert final.curves["tiny"][-1] == RdPoint(top.bpp, final.curves["tiny"][-1].psnr, None, True)


# -- views --------------------------------------------------------------------------------------

def test_views_fill_in_and_downloads_are_real_files(session: Session, tmp_path: Path) -> None:
    tab = Tab(session)
    tab.settings = settings(TARGET)
    snapshots = everything(session, tab.settings)
    quick = view(tab, snapshots[0], ROI, ORIGINAL, ROI, 1, detailed=False)
    assert quick.bits is None and quick.flip is None and quick.downloads is None
    assert [caption.split(" · ")[0] for _, caption in quick.gallery] == [ROI]
    full = view(tab, snapshots[-1], ROI, ORIGINAL, ROI, 2, detailed=True)
    assert full.bits.exists() and full.flip.exists() and "ROI" in full.bits_caption
    assert full.bits_choices == [BASE, ROI] and full.compare.choices == [ORIGINAL, BASE, ROI, "JPEG"]
    left, right = (np.asarray(Image.open(p)) for p in full.compare.pair)
    assert left.shape == right.shape == (HEIGHT, WIDTH, 3)
    names = [p.name for p in full.downloads]
    assert sum(n.endswith(".pcmp") for n in names) == 2 and any(n.endswith(".jpg") for n in names)
    pcmp = next(p for p in full.downloads if p.name.startswith("sample-tiny-roi"))
    decoded = session.pool.codec("tiny").decode(pcmp.read_bytes())
    png = next(p for p in full.downloads if p.name.startswith(pcmp.name.rsplit("-", 1)[0]) and p.suffix == ".png")
    assert np.array_equal(decoded, np.asarray(Image.open(png)))
    numbers = json.loads(next(p for p in full.downloads if p.suffix == ".json").read_text())
    assert [r["slot"] for r in numbers["results"]] == [BASE, ROI, "JPEG"]
    tab.close()
    assert not tab.files.folder.exists()


def test_compare_view_falls_back_to_original_and_roi(session: Session) -> None:
    tab = Tab(session)
    final = everything(session, settings(TARGET))[-1]
    compare = compare_view(tab, final, "gone", "also gone", 1)
    assert (compare.left, compare.right) == (ORIGINAL, ROI)
    assert np.array_equal(np.asarray(Image.open(compare.pair[0])), session.rgb)
