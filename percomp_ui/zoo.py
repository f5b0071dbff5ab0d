"""Model zoo: ``checkpoints/NAME.safetensors`` + ``checkpoints/NAME.json`` (the model card).

Weights are safetensors only (never pickles). The card holds the architecture config, the λ of every
rate level, training provenance and Kodak results, and ``weights_hash``: the first 8 bytes of a SHA-256
over the canonical float32 state dict (:func:`weights_hash`). Loading recomputes it and refuses a
mismatch; every ``.pcmp`` stream carries it so a decoder refuses streams made by other weights.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import InputError, PercompError
from .nn.checkerboard import CONTEXT_PREFIXES
from .nn.hyperprior import GainedMeanScaleHyperprior, HyperpriorConfig

WEIGHTS_HASH_BYTES = 8
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
SEED000_FAMILY = "seed-000"  # card "family" of the seed-000 perceptual fine-tunes (percomp choose's candidates)
# Transform weights tolerate fp16 storage; gains, entropy-model parameters and CDF tables stay exact.
HALF_PRECISION_PREFIXES = ("g_a.", "g_s.", "latent_codec.h_a.", "latent_codec.h_s.", *CONTEXT_PREFIXES)


def default_checkpoint_dir() -> Path:
    """``$PERCOMP_CHECKPOINTS`` or the repository's ``checkpoints/`` folder."""
    env = os.environ.get("PERCOMP_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


def weights_hash(model: nn.Module) -> bytes:
    """SHA-256 (first 8 bytes) over names, dtypes, shapes and bytes of the state dict, sorted by name."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # flattened first: a channels_last 1×1 convolution counts as contiguous but keeps a stride ≠ 1
        digest.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.digest()[:WEIGHTS_HASH_BYTES]


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InputError(f"invalid model name {name!r} (use 1-64 characters from A-Z a-z 0-9 . _ -)")
    return name


def storage_state_dict(model: nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """The tensors as written to disk: fp16 for transform weights when ``half``, else unchanged."""
    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        if half and t.is_floating_point() and name.startswith(HALF_PRECISION_PREFIXES):
            t = t.half()
        out[name] = t
    return out


def build_model(config: HyperpriorConfig, state: dict[str, torch.Tensor]) -> GainedMeanScaleHyperprior:
    """A model in eval mode from a config and a (possibly fp16) state dict."""
    model = GainedMeanScaleHyperprior(config)
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    model.load_state_dict(state)
    return model.eval()


def save_checkpoint(
    model: GainedMeanScaleHyperprior, name: str, card: dict[str, Any], directory: Path, half: bool = True
) -> dict[str, Any]:
    """Write NAME.safetensors and NAME.json; returns the full card (with ``weights_hash``).

    The hash is taken on the weights as a loader will see them (after the fp16 round trip).
    """
    validate_name(name)
    directory.mkdir(parents=True, exist_ok=True)
    state = storage_state_dict(model, half)
    reloaded = build_model(model.config, state)
    full_card = {
        "name": name,
        **card,
        "config": model.config.to_dict(),
        "weights_file": f"{name}.safetensors",
        "weights_dtype": "float16 transforms, float32 gains/entropy models" if half else "float32",
        "weights_hash": weights_hash(reloaded).hex(),
    }
    weights_path = directory / f"{name}.safetensors"
    card_path = directory / f"{name}.json"
    for path, write in (
        (weights_path, lambda p: save_file(state, str(p))),
        (card_path, lambda p: p.write_text(json.dumps(full_card, indent=2) + "\n")),
    ):
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        os.replace(tmp, path)
    return full_card


def read_card(name: str, directory: Path | None = None) -> dict[str, Any]:
    directory = directory or default_checkpoint_dir()
    path = directory / f"{validate_name(name)}.json"
    if not path.is_file():
        known = ", ".join(c["name"] for c in list_cards(directory)) or "none"
        raise InputError(f"unknown model {name!r} (models in {directory}: {known})")
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PercompError(f"model card {path} is unreadable: {exc}") from None
    if not _is_card(card):
        raise PercompError(f"model card {path} is malformed (needs an object with 'config' and 'weights_hash')")
    return card


def _is_card(card: object) -> bool:
    return isinstance(card, dict) and isinstance(card.get("config"), dict) and isinstance(card.get("weights_hash"), str)


def update_card(name: str, fields: dict[str, Any], directory: Path | None = None) -> dict[str, Any]:
    """Merge ``fields`` into a model card (results, notes); the weights and their hash are untouched."""
    directory = directory or default_checkpoint_dir()
    card = read_card(name, directory)
    if any(key in fields for key in ("name", "config", "weights_file", "weights_hash")):
        raise ValueError("update_card cannot change a card's identity fields")
    card.update(fields)
    path = directory / f"{name}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(tmp, path)
    return card


def seed000_models(directory: Path | None = None) -> list[str]:
    """The names of the zoo's seed-000 family (cards with ``"family": "seed-000"``), sorted."""
    return [card["name"] for card in list_cards(directory) if card.get("family") == SEED000_FAMILY]


def list_cards(directory: Path | None = None) -> list[dict[str, Any]]:
    directory = directory or default_checkpoint_dir()
    cards = []
    for path in sorted(directory.glob("*.json")):
        try:
            card = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _is_card(card):
            cards.append(card)
    return cards


def load_model(name: str, directory: Path | None = None) -> tuple[GainedMeanScaleHyperprior, dict[str, Any]]:
    """Load a zoo model by name, verifying its weights hash against the card."""
    directory = directory or default_checkpoint_dir()
    card = read_card(name, directory)
    weights_path = directory / card.get("weights_file", f"{name}.safetensors")
    try:
        config = HyperpriorConfig.from_dict(card["config"])
        state = load_file(str(weights_path))
        model = build_model(config, state)
    except (OSError, SafetensorError, KeyError, ValueError, RuntimeError) as exc:
        raise PercompError(f"checkpoint {name!r} cannot be loaded: {str(exc).splitlines()[0]}") from None
    actual = weights_hash(model).hex()
    if actual != card["weights_hash"]:
        raise PercompError(
            f"checkpoint {name!r}: weights hash {actual} does not match its model card ({card['weights_hash']})"
        )
    return model, card
