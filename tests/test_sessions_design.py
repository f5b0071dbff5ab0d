"""Session files: YAML/JSON load and save, defaults, and a one-line error for every bad field."""
from __future__ import annotations

from pathlib import Path

import pytest

from percomp_ui.errors import InputError
from percomp_ui.sessions.design import SessionImage, load_spec, parse_spec, save_spec, spec_text

GOOD = """
name: lowrate-1
seed: 7
target_bpp: 0.3
crop: 128
trials: 12
traps: 1
identical: 3
conditions: [jpeg, webp, base-vr, "base-vr+roi=auto@0.5"]
images:
  - photos/a.png
  - path: photos/b.png
    bpp: 0.25
    crop_at: [10, 20]
"""


def test_a_session_file_with_every_field(tmp_path: Path) -> None:
    spec = parse_spec(GOOD, tmp_path)
    assert spec.name == "lowrate-1" and spec.seed == 7 and spec.crop == 128
    assert (spec.trials, spec.traps, spec.identical, spec.training) == (12, 1, 3, True)
    assert spec.conditions == ("jpeg", "webp", "base-vr", "base-vr+roi=auto@0.5")
    assert spec.images == (SessionImage(tmp_path / "photos/a.png", 0.3),
                           SessionImage(tmp_path / "photos/b.png", 0.25, (10, 20)))
    assert spec.image_ids == ("a", "b")


def test_defaults_and_duplicate_stems(tmp_path: Path) -> None:
    spec = parse_spec("name: s\nconditions: [jpeg, webp]\nimages: [{path: x/a.png, bpp: 1}, y/a.png]\n"
                      "target_bpp: 0.5\n", tmp_path)
    assert (spec.crop, spec.trials, spec.traps, spec.identical, spec.training, spec.seed) == (256, None, 2, 2, True, 0)
    assert spec.image_ids == ("a", "a-2")
    assert [i.target_bpp for i in spec.images] == [1.0, 0.5]
    assert parse_spec("name: s\nconditions: [jpeg, webp]\nimages: [a.png]\ntarget_bpp: 1\ncrop: null\n",
                      tmp_path).crop is None


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_and_load_round_trip_with_relative_paths(tmp_path: Path, suffix: str) -> None:
    spec = parse_spec(GOOD, tmp_path)
    path = tmp_path / f"session{suffix}"
    save_spec(spec, path)
    assert "photos/a.png" in path.read_text() and str(tmp_path) not in path.read_text()
    assert load_spec(path) == spec
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / path.name).write_text(path.read_text())
    assert load_spec(moved / path.name).images[0].path == moved / "photos/a.png"


def test_spec_text_is_yaml_by_default(tmp_path: Path) -> None:
    text = spec_text(parse_spec(GOOD, tmp_path), tmp_path)
    assert text.startswith("name: lowrate-1\n") and parse_spec(text, tmp_path) == parse_spec(GOOD, tmp_path)


BASE = "name: s\nconditions: [jpeg, webp]\nimages: [a.png]\ntarget_bpp: 0.3\n"


@pytest.mark.parametrize("text,message", [
    ("name: s\nconditions: [jpeg, webp]\n", "needs a 'images' field"),
    (BASE + "colour: red\n", "unknown session field 'colour'"),
    (BASE.replace("name: s", "name: 'a b'"), "session name"),
    (BASE.replace("[jpeg, webp]", "[jpeg, jpeg]"), "listed twice"),
    (BASE.replace("[jpeg, webp]", "[jpeg]"), "at least 2 conditions"),
    (BASE.replace("[jpeg, webp]", "jpeg"), "must be a list"),
    (BASE.replace("[jpeg, webp]", "[jpeg, 'webp+roi=auto']"), "learned models only"),
    (BASE.replace("name: s", "name: jpeg-vs-webp"), "names condition 'jpeg'"),
    (BASE.replace("target_bpp: 0.3", "target_bpp: -1"), "positive number"),
    (BASE.replace("target_bpp: 0.3", ""), "no target bpp"),
    (BASE.replace("[a.png]", "[]"), "non-empty list"),
    (BASE.replace("[a.png]", "[{path: a.png, size: 3}]"), "unknown field 'size'"),
    (BASE.replace("[a.png]", "[{path: a.png, crop_at: [1]}]"), "crop_at must be [x, y]"),
    (BASE + "crop: 8\n", "crop must be a whole number ≥ 32"),
    (BASE + "trials: 0\n", "trials must be a whole number ≥ 1"),
    (BASE + "traps: 1.5\n", "traps must be a whole number"),
    (BASE + "training: maybe\n", "true or false"),
    ("name: [unclosed\n", "not valid YAML at line"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_bad_fields_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_spec(text, tmp_path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")
