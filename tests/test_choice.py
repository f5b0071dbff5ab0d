"""Seed-000 model choice (percomp_ui.choice and ``percomp choose``): real encodings, caps never exceeded,
the budget allocation feasible and no worse than any single model."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import make_image, save_png
from percomp_ui.choice import Option, allocate_budget, choose_for_bpp, pareto_front
from percomp_ui.codec import LearnedCodec
from percomp_ui.errors import InputError


def fake(bits_bytes: int, quality: float, model: str = "m") -> Option:
    return Option(model, SimpleNamespace(data=bytes(bits_bytes)), quality)  # type: ignore[arg-type]


def test_pareto_front_drops_dominated_options() -> None:
    points = [fake(10, 20), fake(20, 30), fake(30, 29), fake(40, 38), fake(25, 25), fake(20, 29)]
    assert [(o.bits // 8, o.quality) for o in pareto_front(points)] == [(10, 20), (20, 30), (40, 38)]


def test_budget_allocation_is_the_exact_optimum() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        options = {image: [fake(int(b), float(q)) for b, q in zip(rng.integers(10, 200, 5), rng.uniform(20, 40, 5))]
                   for image in range(3)}
        pixels = {image: 100 for image in options}
        budget = float(rng.uniform(1.5, 12))
        fits = [combo for combo in itertools.product(*options.values()) if sum(o.bits for o in combo) <= budget * 300]
        if not fits:
            with pytest.raises(InputError, match="below the lowest average"):
                allocate_budget(options, pixels, budget)
            continue
        chosen = allocate_budget(options, pixels, budget)
        assert sum(o.bits for o in chosen.values()) <= budget * 300
        assert sum(o.quality for o in chosen.values()) == pytest.approx(max(sum(o.quality for o in c) for c in fits))


def test_budget_below_the_lowest_points_is_refused() -> None:
    with pytest.raises(InputError, match="below the lowest average"):
        allocate_budget({"a": [fake(100, 30)]}, {"a": 100}, 1.0)


@pytest.fixture(scope="module")
def codecs(codec: LearnedCodec, codec2: LearnedCodec) -> dict[str, LearnedCodec]:
    return {"tiny": codec, "tiny2": codec2}


def test_choose_for_bpp_takes_the_best_model_under_the_cap(codecs) -> None:
    image = make_image(96, 128, seed=5)
    prepared = codecs["tiny"].prepare(image)
    cap = codecs["tiny"].encode_prepared(prepared, 6.0).bpp
    best, options = choose_for_bpp(image, codecs, cap)
    assert options and all(o.encoded.bpp <= cap for o in options)
    assert best.quality == max(o.quality for o in options)
    with pytest.raises(InputError, match="no model reaches"):
        choose_for_bpp(image, codecs, 1e-4)


def test_choose_command_caps_every_file_and_reports(cli, codecs, tmp_path: Path) -> None:
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    for seed in range(2):
        save_png(make_image(96, 128, seed=seed), folder / f"im{seed}.png")
    image = make_image(96, 128, seed=0)
    cap = codecs["tiny"].encode(image, 6.5).bpp
    report = tmp_path / "choices.json"
    result = cli("choose", folder, out, "--models", "tiny", "tiny2", "--bpp", cap, "--report", report)
    assert result.returncode == 0, result.stderr
    choices = json.loads(report.read_text())
    assert set(choices) == {"im0.png", "im1.png"}
    for name, choice in choices.items():
        size = (out / name.replace(".png", ".pcmp")).stat().st_size
        assert size * 8 / (96 * 128) <= cap and choice["model"] in ("tiny", "tiny2")


def test_choose_budget_meets_the_average(cli, codecs, tmp_path: Path) -> None:
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    for seed in range(2):
        save_png(make_image(96, 128, seed=seed), folder / f"im{seed}.png")
    budget = codecs["tiny"].encode(make_image(96, 128, seed=0), 6.0).bpp
    result = cli("choose", folder, out, "--models", "tiny", "tiny2", "--budget-bpp", budget)
    assert result.returncode == 0, result.stderr
    total = sum(p.stat().st_size for p in out.glob("*.pcmp")) * 8
    assert total / (2 * 96 * 128) <= budget
    assert "average" in result.stderr


def test_choose_without_seed000_models_says_how(cli, tmp_path: Path) -> None:
    save_png(make_image(48, 64), tmp_path / "a.png")
    result = cli("choose", tmp_path / "a.png", tmp_path / "a.pcmp", "--bpp", "0.5")
    assert result.returncode == 2 and "--models" in result.stderr
