"""The checkerboard-context latent codec: exact two-pass decoding, the zero start, training from a
mean-scale checkpoint, and files through the codec, the zoo and the CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG, make_image, make_tiny_model

from percomp_ui.codec import LearnedCodec
from percomp_ui.errors import StreamError
from percomp_ui.nn.checkerboard import anchor_mask, checkerboard_state_from, context_model, non_anchor_context
from percomp_ui.nn.hyperprior import CHECKERBOARD, MEAN_SCALE, GainedMeanScaleHyperprior, HyperpriorConfig
from percomp_ui.roi.mask import RoiRequest
from percomp_ui.zoo import load_model, save_checkpoint

CONFIG = HyperpriorConfig(N=TINY_CONFIG.N, M=TINY_CONFIG.M, architecture=CHECKERBOARD)


def checkerboard_from(mean_scale: GainedMeanScaleHyperprior) -> GainedMeanScaleHyperprior:
    model = GainedMeanScaleHyperprior(CONFIG)
    model.load_state_dict(checkerboard_state_from(mean_scale.state_dict(), model))
    model.eval().update(force=True)
    return model


def with_live_context(model: GainedMeanScaleHyperprior, seed: int = 0) -> GainedMeanScaleHyperprior:
    """The context's zero output layer replaced by random weights, as training would move it."""
    torch.manual_seed(seed)
    last = model.latent_codec.entropy_parameters[-1]
    with torch.no_grad():
        last.weight.normal_(0, 0.05)
        last.bias.normal_(0, 0.05)
    return model


@pytest.fixture(scope="module")
def live() -> GainedMeanScaleHyperprior:
    return with_live_context(checkerboard_from(make_tiny_model(0)))


def test_anchor_mask_is_a_checkerboard() -> None:
    mask = anchor_mask(3, 4)
    assert mask.tolist() == [[True, False, True, False], [False, True, False, True], [True, False, True, False]]


@pytest.mark.parametrize("size", [(4, 6), (8, 8), (3, 5), (12, 4)])
def test_the_non_anchor_context_is_the_full_convolution_at_the_non_anchors(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    context = context_model(8).double()
    y = torch.randn(2, 8, *size, dtype=torch.float64)
    expected = context(y)[..., ~anchor_mask(*size)]
    assert torch.allclose(non_anchor_context(context, y), expected, rtol=0, atol=1e-12)


def test_from_a_mean_scale_checkpoint_it_codes_the_same_bits_until_the_context_learns() -> None:
    mean_scale = make_tiny_model(0)
    model = checkerboard_from(mean_scale)
    x = torch.rand(1, 3, 128, 192)
    ours, theirs = model.compress(x, 3.3), mean_scale.compress(x, 3.3)
    assert torch.equal(ours["y_hat"], theirs["y_hat"])
    y = mean_scale.analyse(x)
    assert model.estimate_latent_bits(y, 3.3) == mean_scale.estimate_latent_bits(y, 3.3)
    model.train(), mean_scale.train()
    torch.manual_seed(1)
    a = model(x, torch.tensor([2]))["likelihoods"]["y"]
    torch.manual_seed(1)
    b = mean_scale(x, torch.tensor([2]))["likelihoods"]["y"]
    assert torch.equal(a, b)


def test_the_context_changes_only_the_non_anchor_parameters(live: GainedMeanScaleHyperprior) -> None:
    y = live.analyse(torch.rand(1, 3, 128, 128))
    codec = live.latent_codec
    gains = live.gains_for_rate(4.0)
    with torch.inference_mode():
        symbols = codec._symbols(y, gains, None, exact=True)
        hyper_means, _ = codec._gained(codec._hyper_params(symbols["z_hat_g"] * gains.z_inv, exact=True), gains)
    anchors = anchor_mask(*y.shape[-2:])
    assert torch.equal(symbols["means_g"][..., anchors], hyper_means[..., anchors])
    assert not torch.equal(symbols["means_g"][..., ~anchors], hyper_means[..., ~anchors])


@pytest.mark.parametrize("rate", [0.0, 2.6, 7.0])
def test_streams_decode_to_the_encoders_latent_exactly(live: GainedMeanScaleHyperprior, rate: float) -> None:
    x = torch.rand(2, 3, 128, 192)
    out = live.compress(x, rate)
    assert len(out["strings"]) == 3 and all(len(s) == 2 for s in out["strings"])
    assert torch.equal(live.decompress_latent(out["strings"], out["shape"], rate), out["y_hat"])


def test_the_bit_map_prices_the_coded_symbols(live: GainedMeanScaleHyperprior) -> None:
    y = live.analyse(torch.rand(1, 3, 128, 192))
    out = live.compress_latent(y, 5.0)
    bits = live.latent_bits(out["strings"], out["shape"], 5.0)
    total = float(bits["y"].sum() + bits["z"].sum())
    assert total == pytest.approx(live.estimate_latent_bits(y, 5.0), rel=1e-3)
    coded = 8 * sum(len(s[0]) for s in out["strings"])
    assert total <= coded <= total + 3 * 64  # three rANS strings, a few bytes of flush each


def test_a_real_file_with_and_without_a_roi_round_trips(tmp_path: Path, live: GainedMeanScaleHyperprior) -> None:
    save_checkpoint(live, "cb", {"description": "untrained checkerboard test model"}, tmp_path)
    model, card = load_model("cb", tmp_path)
    assert card["config"]["architecture"] == CHECKERBOARD
    codec = LearnedCodec(model, "cb")
    rgb = make_image(160, 200, seed=3)
    mask = np.zeros(rgb.shape[:2], np.float32)
    mask[40:120, 60:160] = 1
    for roi in (None, RoiRequest(mask, 0.5)):
        encoded = codec.encode_to_bpp(codec.prepare(rgb), 0.6, roi)
        assert encoded.bpp <= 0.6 and len(encoded.stream.strings) == 3
        assert np.array_equal(codec.decode(encoded.data), codec.reconstruct(encoded))
    plain = LearnedCodec(make_tiny_model(0), "cb")
    plain.weights_hash = codec.weights_hash  # even with the right hash, a mean-scale decoder refuses it
    with pytest.raises(StreamError, match="3 entropy-coded strings; this model writes 2"):
        plain.decode(encoded.data)


def test_refinement_descends_through_the_context(live: GainedMeanScaleHyperprior) -> None:
    codec = LearnedCodec(live, "cb", refine_steps=4)
    rgb = make_image(128, 128, seed=5)
    image = codec.prepare(rgb)
    refined = codec.encode_prepared(image, 4.0)
    assert np.array_equal(LearnedCodec(live, "cb").decode(refined.data), codec.reconstruct(refined))


def test_a_checkerboard_run_starts_from_a_mean_scale_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from percomp_ui.train.trainer import TrainConfig, Trainer

    zoo = tmp_path / "zoo"
    save_checkpoint(make_tiny_model(0), "ms", {"training": {"steps": 5}}, zoo)
    monkeypatch.setenv("PERCOMP_CHECKPOINTS", str(zoo))
    config = TrainConfig(data=[str(tmp_path)], N=CONFIG.N, M=CONFIG.M, architecture=CHECKERBOARD,
                         init_from="ms", threads=1, lr=1e-3)
    trainer = Trainer(tmp_path / "run", config)
    source, _ = load_model("ms", zoo)
    x = torch.rand(1, 3, 128, 128)
    trainer.model.eval().update(force=True)
    assert torch.equal(trainer.model.compress(x, 2.0)["y_hat"], source.compress(x, 2.0)["y_hat"])
    trainer.model.train()
    before = trainer.model.latent_codec.entropy_parameters[-1].weight.detach().clone()
    trainer.train_step(torch.rand(2, 3, 64, 64))
    assert not torch.equal(trainer.model.latent_codec.entropy_parameters[-1].weight, before)
    card = trainer.export(tmp_path / "best", None)
    assert "checkerboard context" in card["description"]
    with pytest.raises(ValueError, match="architecture"):  # a resumed run keeps its architecture
        trainer.save_state()
        Trainer(tmp_path / "run", TrainConfig(**{**config.__dict__, "architecture": MEAN_SCALE}))
    save_checkpoint(trainer.model, "cb", {}, zoo)
    back = TrainConfig(data=[str(tmp_path)], N=CONFIG.N, M=CONFIG.M, init_from="cb", threads=1,
                       architecture=MEAN_SCALE)
    with pytest.raises(ValueError, match="is a gained-checkerboard-hyperprior"):
        Trainer(tmp_path / "run2", back)


def test_a_run_from_a_checkerboard_checkpoint_is_a_checkerboard_run_unless_told_otherwise(tmp_path: Path,
                                                                                         monkeypatch) -> None:
    """campaign.sh, the ROI and the seed-000 fine-tunes name no architecture: they follow the shipped BASE."""
    import json

    from percomp_ui.train.trainer import TrainConfig, Trainer

    zoo = tmp_path / "zoo"
    save_checkpoint(with_live_context(checkerboard_from(make_tiny_model(0))), "cb", {}, zoo)
    monkeypatch.setenv("PERCOMP_CHECKPOINTS", str(zoo))
    config = TrainConfig(data=[str(tmp_path)], N=CONFIG.N, M=CONFIG.M, init_from="cb", threads=1)
    trainer = Trainer(tmp_path / "run", config)
    assert trainer.config.architecture == CHECKERBOARD
    assert trainer.model.latent_codec.num_strings == 3
    trainer.save_state()
    assert Trainer(tmp_path / "run", config).config.architecture == CHECKERBOARD  # resumed, still not named
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["architecture"] == CHECKERBOARD
    old = tmp_path / "old"  # a run folder written before the option existed
    Trainer(old, TrainConfig(data=[str(tmp_path)], N=CONFIG.N, M=CONFIG.M, threads=1)).save_state()
    config_path = old / "config.json"
    config_path.write_text(json.dumps({k: v for k, v in json.loads(config_path.read_text()).items()
                                       if k != "architecture"}))
    assert Trainer(old).config.architecture == MEAN_SCALE
