"""The model zoo (``percomp_ui.zoo``): safetensors + JSON card, weights-hash verification, fp16 storage."""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import TINY_CONFIG, make_tiny_model
from percomp_ui.errors import InputError, PercompError
from percomp_ui.nn.hyperprior import GainedMeanScaleHyperprior
from percomp_ui.zoo import list_cards, load_model, read_card, save_checkpoint, weights_hash

TRANSFORM_PREFIXES = ("g_a.", "g_s.", "latent_codec.h_a.", "latent_codec.h_s.")


def tensor_regions(path: Path) -> dict[str, tuple[str, int, int]]:
    """name -> (dtype, absolute start, absolute end) from the safetensors header (read by hand)."""
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    return {
        name: (info["dtype"], base + info["data_offsets"][0], base + info["data_offsets"][1])
        for name, info in header.items()
        if name != "__metadata__"
    }


# ----------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tiny_zoo: Path) -> None:
    model, card = load_model("tiny", tiny_zoo)
    assert isinstance(model, GainedMeanScaleHyperprior)
    assert not model.training
    assert weights_hash(model).hex() == card["weights_hash"]
    assert len(bytes.fromhex(card["weights_hash"])) == 8
    assert card["name"] == "tiny"
    assert card["description"] == "untrained tiny test model"
    assert card["weights_file"] == "tiny.safetensors"
    assert card["config"] == {**TINY_CONFIG.to_dict()}
    assert card["config"]["N"] == 16 and card["config"]["M"] == 24
    assert json.loads((tiny_zoo / "tiny.json").read_text()) == card

    # the loaded weights are the saved model's, transforms rounded through fp16, everything else exact
    original = make_tiny_model(0).state_dict()
    loaded = model.state_dict()
    assert set(loaded) == set(original)
    for name, tensor in original.items():
        if name.startswith(TRANSFORM_PREFIXES) and tensor.is_floating_point():
            expected = tensor.half().to(tensor.dtype)
        else:
            expected = tensor
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(loaded[name], expected), name


def test_two_models_have_different_hashes(tiny_zoo: Path) -> None:
    assert read_card("tiny", tiny_zoo)["weights_hash"] != read_card("tiny2", tiny_zoo)["weights_hash"]


def test_save_checkpoint_is_deterministic(tmp_path: Path, tiny_zoo: Path) -> None:
    card = save_checkpoint(make_tiny_model(0), "tiny", {"description": "untrained tiny test model"}, tmp_path)
    assert card == read_card("tiny", tiny_zoo)
    assert (tmp_path / "tiny.safetensors").read_bytes() == (tiny_zoo / "tiny.safetensors").read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


def test_full_precision_storage(tmp_path: Path) -> None:
    card = save_checkpoint(make_tiny_model(0), "full", {}, tmp_path, half=False)
    assert card["weights_dtype"] == "float32"
    model, _ = load_model("full", tmp_path)
    reference = make_tiny_model(0)
    assert weights_hash(model) == weights_hash(reference)
    with safe_open(str(tmp_path / "full.safetensors"), framework="pt") as f:
        assert all(f.get_slice(k).get_dtype() in ("F32", "I32") for k in f.keys())


def test_fp16_storage_layout(tiny_zoo: Path) -> None:
    path = tiny_zoo / "tiny.safetensors"
    reference = make_tiny_model(0).state_dict()
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        assert keys == set(reference)
        dtypes = {k: f.get_tensor(k).dtype for k in keys}
    for name, dtype in dtypes.items():
        if name.startswith(TRANSFORM_PREFIXES):
            assert dtype == torch.float16, name
        elif reference[name].is_floating_point():
            assert dtype == torch.float32, name
        else:
            assert dtype == reference[name].dtype, name
    # spot checks by name, independent of the prefix rule above
    assert dtypes["g_a.0.weight"] == torch.float16
    assert dtypes["g_s.6.weight"] == torch.float16
    assert dtypes["latent_codec.h_a.0.weight"] == torch.float16
    assert dtypes["latent_codec.h_s.4.weight"] == torch.float16
    for name in ("y_gains.log_gain", "y_gains.log_gain_inv", "z_gains.log_gain", "z_gains.log_gain_inv",
                 "latent_codec.entropy_bottleneck.quantiles", "latent_codec.entropy_bottleneck.matrices.0",
                 "latent_codec.gaussian_conditional.scale_table"):
        assert dtypes[name] == torch.float32, name
    for name in ("latent_codec.entropy_bottleneck._quantized_cdf", "latent_codec.gaussian_conditional._quantized_cdf",
                 "latent_codec.gaussian_conditional._offset", "latent_codec.gaussian_conditional._cdf_length"):
        assert dtypes[name] == torch.int32, name
    card = read_card("tiny", tiny_zoo)
    assert card["weights_dtype"].startswith("float16")


# ----------------------------------------------------------------------------- tampering


def test_flipped_byte_in_weights_is_refused(zoo_copy: Path) -> None:
    path = zoo_copy / "tiny.safetensors"
    dtype, start, end = tensor_regions(path)["g_a.2.weight"]
    assert dtype == "F16"
    raw = bytearray(path.read_bytes())
    offset = start + ((end - start) // 4) * 2  # the low (mantissa) byte of one fp16 value: stays finite
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(PercompError, match="weights hash") as info:
        load_model("tiny", zoo_copy)
    assert not isinstance(info.value, InputError)
    assert read_card("tiny", zoo_copy)["weights_hash"] in str(info.value)


def test_flipped_byte_in_entropy_tables_is_refused(zoo_copy: Path) -> None:
    path = zoo_copy / "tiny.safetensors"
    dtype, start, end = tensor_regions(path)["latent_codec.gaussian_conditional._quantized_cdf"]
    assert dtype == "I32"
    raw = bytearray(path.read_bytes())
    raw[start + 4 * 10] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(PercompError, match="weights hash"):
        load_model("tiny", zoo_copy)


def test_other_weights_under_same_name_are_refused(zoo_copy: Path) -> None:
    shutil.copyfile(zoo_copy / "tiny2.safetensors", zoo_copy / "tiny.safetensors")
    with pytest.raises(PercompError, match="weights hash .* does not match its model card"):
        load_model("tiny", zoo_copy)


def test_resaved_weights_with_stale_card_are_refused(zoo_copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    model = make_tiny_model(5)
    save_checkpoint(model, "tiny", {"description": "retrained"}, other)
    shutil.copyfile(other / "tiny.safetensors", zoo_copy / "tiny.safetensors")  # the card stays the old one
    with pytest.raises(PercompError, match="weights hash"):
        load_model("tiny", zoo_copy)


def test_truncated_weights_file_is_refused(zoo_copy: Path) -> None:
    path = zoo_copy / "tiny.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(PercompError, match="cannot be loaded"):
        load_model("tiny", zoo_copy)


def test_missing_weights_file_is_refused(zoo_copy: Path) -> None:
    (zoo_copy / "tiny.safetensors").unlink()
    with pytest.raises(PercompError, match="cannot be loaded"):
        load_model("tiny", zoo_copy)


# ----------------------------------------------------------------------------- names and cards


def test_unknown_model_lists_known_models(tiny_zoo: Path) -> None:
    with pytest.raises(InputError, match="unknown model 'nosuch'") as info:
        load_model("nosuch", tiny_zoo)
    message = str(info.value)
    assert "tiny" in message and "tiny2" in message
    assert "\n" not in message


def test_unknown_model_in_empty_zoo(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="none"):
        load_model("tiny", tmp_path)


@pytest.mark.parametrize(
    "name",
    ["", "../tiny", "a/b", "a b", "x" * 65, "tïny", "tiny.json/..", "tiny\n"],
)
def test_invalid_names_are_rejected(tiny_zoo: Path, tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="invalid model name"):
        load_model(name, tiny_zoo)
    with pytest.raises(InputError, match="invalid model name"):
        save_checkpoint(make_tiny_model(0), name, {}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_longest_valid_name(tmp_path: Path) -> None:
    name = "a." + "x" * 60 + "-_"
    assert len(name) == 64
    save_checkpoint(make_tiny_model(0), name, {}, tmp_path)
    _, card = load_model(name, tmp_path)
    assert card["name"] == name


def test_list_cards_skips_junk(zoo_copy: Path) -> None:
    (zoo_copy / "broken.json").write_text("{not json")
    (zoo_copy / "list.json").write_text("[1, 2, 3]")
    (zoo_copy / "nohash.json").write_text(json.dumps({"name": "nohash", "config": {}}))
    (zoo_copy / "noconfig.json").write_text(json.dumps({"name": "noconfig", "weights_hash": "00" * 8}))
    (zoo_copy / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (zoo_copy / "notes.txt").write_text("not a card")
    assert [card["name"] for card in list_cards(zoo_copy)] == ["tiny", "tiny2"]


def test_unreadable_card_is_an_error(zoo_copy: Path) -> None:
    (zoo_copy / "tiny.json").write_text("{not json")
    with pytest.raises(PercompError, match="unreadable"):
        load_model("tiny", zoo_copy)


@pytest.mark.parametrize("content", ["[1, 2, 3]", "null"])
def test_malformed_card_is_a_percomp_error(zoo_copy: Path, content: str) -> None:
    (zoo_copy / "tiny.json").write_text(content)
    with pytest.raises(PercompError):
        load_model("tiny", zoo_copy)


def test_card_without_hash_is_a_percomp_error(zoo_copy: Path) -> None:
    card = json.loads((zoo_copy / "tiny.json").read_text())
    del card["weights_hash"]
    (zoo_copy / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(PercompError):
        load_model("tiny", zoo_copy)


def test_unknown_architecture_in_card(zoo_copy: Path) -> None:
    card = json.loads((zoo_copy / "tiny.json").read_text())
    card["config"]["architecture"] = "something-else"
    (zoo_copy / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(PercompError, match="cannot be loaded"):
        load_model("tiny", zoo_copy)


def test_default_checkpoint_dir_from_env(tiny_zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERCOMP_CHECKPOINTS", str(tiny_zoo))
    _, card = load_model("tiny2")
    assert card["name"] == "tiny2"
    assert [c["name"] for c in list_cards()] == ["tiny", "tiny2"]
