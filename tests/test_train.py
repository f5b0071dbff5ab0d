"""The trainer learns, saves and resumes; its export loads through the zoo and round-trips a file."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from percomp_ui.codec import LearnedCodec
from percomp_ui.errors import InputError
from percomp_ui.train.trainer import TrainConfig, Trainer
from percomp_ui.zoo import load_model


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train_images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128]
    for i in range(3):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=-1).astype(np.float64)
        noisy = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"img{i}.png")
    return folder


def tiny_config(folder: Path, **overrides) -> TrainConfig:
    # One thread: two OpenMP threads on two cores shared with a background trainer run ~50× slower here.
    values = dict(data=[str(folder)], val=str(folder), N=16, M=24, crop=64, batch=2, lr=1e-3,
                  val_every=4, val_images=1, val_levels=[0, 7], log_every=2, threads=1, export_name="trained-tiny")
    return TrainConfig(**(values | overrides))


def test_loss_decreases_on_a_fixed_batch(image_folder: Path, tmp_path: Path) -> None:
    trainer = Trainer(tmp_path / "run", tiny_config(image_folder))
    torch.manual_seed(1)
    x = torch.rand(2, 3, 64, 64)
    losses = [trainer.train_step(x)["loss"] for _ in range(25)]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_resume_continues_at_the_same_step_with_the_same_optimizer_state(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = Trainer(run, tiny_config(image_folder))
    first.run(max_steps=5, progress=False)
    assert first.step == 5
    resumed = Trainer(run)  # config comes from the run folder
    assert resumed.step == 5
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    saved = first.optimizer.state_dict()["state"]
    loaded = resumed.optimizer.state_dict()["state"]
    assert saved.keys() == loaded.keys()
    for index in saved:
        assert torch.equal(saved[index]["exp_avg"], loaded[index]["exp_avg"])
        assert saved[index]["step"] == loaded[index]["step"]
    resumed.run(max_steps=3, progress=False)
    assert resumed.step == 8
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]


def test_resume_refuses_another_network_shape(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(run, tiny_config(image_folder)).save_state()
    with pytest.raises(ValueError, match="N"):
        Trainer(run, tiny_config(image_folder, N=32))


def test_validation_exports_a_zoo_checkpoint_that_round_trips(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(run, tiny_config(image_folder)).run(max_steps=4, progress=False)
    validations = [json.loads(line) for line in (run / "val.jsonl").read_text().splitlines()]
    assert [v["step"] for v in validations] == [4]
    assert set(validations[0]["levels"]) == {"0", "7"}
    model, card = load_model("trained-tiny", run / "best")
    assert card["training"]["steps"] == 4
    codec = LearnedCodec(model, "trained-tiny")
    rgb = np.asarray(Image.open(image_folder / "img0.png").convert("RGB"))
    encoded = codec.encode(rgb, 2.5)
    path = tmp_path / "img0.pcmp"
    path.write_bytes(encoded.data)
    assert np.array_equal(codec.decode(path.read_bytes()), codec.reconstruct(encoded))


def test_a_perceptual_fine_tune_validates_on_its_loss_and_exports_as_seed_000(image_folder: Path,
                                                                               tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tiny_config(image_folder, beta=0.1, levels=[2], val_levels=[2], export_name="s000-tiny")
    Trainer(run, config).run(max_steps=4, progress=False)
    (validation,) = [json.loads(line) for line in (run / "val.jsonl").read_text().splitlines()]
    level = validation["levels"]["2"]
    mse = 10 ** (-level["psnr"] / 10)
    expected = level["bpp"] + config.lambdas[2] * (mse + 0.1 * (1 - level["ms_ssim"]))  # seed 000 eq. 1
    assert validation["objective"] == pytest.approx(expected, rel=1e-3)
    _, card = load_model("s000-tiny", run / "best")
    assert card["family"] == "seed-000" and "λ 256" in card["description"]


def test_levels_subset_trains_only_those_levels(image_folder: Path, tmp_path: Path) -> None:
    trainer = Trainer(tmp_path / "run", tiny_config(image_folder, val=None, levels=[2, 5]))
    drawn = trainer.draw_levels(400)
    assert set(drawn.tolist()) == {2, 5}
    before = trainer.model.y_gains.log_gain.detach().clone()
    torch.manual_seed(1)
    for _ in range(2):
        trainer.train_step(torch.rand(2, 3, 64, 64))
    changed = (trainer.model.y_gains.log_gain.detach() != before).any(dim=1)
    assert changed[[2, 5]].any() and not changed[[0, 1, 3, 4, 6, 7]].any()
    with pytest.raises(ValueError, match="levels"):
        Trainer(tmp_path / "other", tiny_config(image_folder, levels=[8]))


def test_a_repeated_level_is_drawn_that_many_times_as_often(image_folder: Path, tmp_path: Path) -> None:
    trainer = Trainer(tmp_path / "run", tiny_config(image_folder, val=None, levels=[0, 1, 2, 3, 3, 3]))
    torch.manual_seed(0)
    drawn = trainer.draw_levels(6000).tolist()
    assert set(drawn) == {0, 1, 2, 3}
    assert drawn.count(3) / len(drawn) == pytest.approx(0.5, abs=0.03)
    assert drawn.count(0) / len(drawn) == pytest.approx(1 / 6, abs=0.03)


def test_lr_milestones_decay_the_learning_rate_and_survive_a_resume(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = tiny_config(image_folder, val=None, log_every=1, lr=1e-3, lr_milestones=[2, 4], lr_gamma=0.5)
    first = Trainer(run, config)
    first.run(max_steps=3, progress=False)
    assert first.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)  # set for step 3 (2 done)
    resumed = Trainer(run)
    assert resumed.config.lr_milestones == [2, 4]
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)
    resumed.run(max_steps=2, progress=False)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4)
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5]
    assert [r["lr"] for r in logged] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])  # lr of that step


def test_a_run_whose_start_fails_leaves_nothing_to_resume(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(InputError, match="unknown model 'no-such-model'"):
        Trainer(run, tiny_config(image_folder, init_from="no-such-model"))
    assert not (run / "config.json").exists()  # a corrected second call starts afresh, not from this config


def test_a_run_starts_from_the_zoo_it_is_given(image_folder: Path, tmp_path: Path, tiny_zoo: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``percomp train --zoo Z --init-from M`` reads M from Z (a GPU session's .gpu/zoo), not the default zoo."""
    monkeypatch.setenv("PERCOMP_CHECKPOINTS", str(tmp_path / "empty"))
    trainer = Trainer(tmp_path / "run", tiny_config(image_folder, init_from="tiny"), zoo=tiny_zoo)
    source, _ = load_model("tiny", tiny_zoo)
    for key, value in source.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[key]), key


def test_the_last_step_of_a_run_is_validated_and_exported(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(run, tiny_config(image_folder, steps=6)).run(progress=False)  # val_every 4
    assert [json.loads(line)["step"] for line in (run / "val.jsonl").read_text().splitlines()] == [4, 6]
    assert load_model("trained-tiny", run / "best")[1]["training"]["steps"] in (4, 6)  # the better one


def test_sigterm_stops_after_the_step_in_progress_with_the_state_saved(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = [sys.executable, "-m", "percomp_ui", "train", str(run), "--data", str(image_folder), "--N", "16",
               "--M", "24", "--crop", "64", "--batch", "2", "--log-every", "1", "--save-every-s", "3600",
               "--threads", "1", "--no-progress"]
    trainer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = run / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and len(log.read_text().splitlines()) >= 3) and time.monotonic() < deadline:
        time.sleep(0.2)
    trainer.send_signal(signal.SIGTERM)  # as `campaign.sh stop` does; no periodic save happened (3600 s)
    output, _ = trainer.communicate(timeout=120)
    assert trainer.returncode == 0, output
    last_logged = json.loads(log.read_text().splitlines()[-1])["step"]
    assert "stopped (SIGTERM)" in output
    assert Trainer(run).step == last_logged  # every finished step is in state.pt (log_every 1)


def test_campaign_finalize_trains_a_decayed_copy_and_leaves_the_run_as_it_was(image_folder: Path,
                                                                              tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    run = tmp_path / "run"
    Trainer(run, tiny_config(image_folder, steps=1000, lr_milestones=[1])).run(max_steps=3, progress=False)
    before = (run / "state.pt").read_bytes()
    env = {**os.environ, "PERCOMP_RUN": str(run), "FINAL_STEPS": "2"}
    done = subprocess.run(["bash", "scripts/campaign.sh", "finalize", "base-vr"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "from step 3" in done.stdout
    final = Path(f"{run}-final")
    pid = int((final / "trainer.pid").read_text())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    config = json.loads((final / "config.json").read_text())
    assert config["lr_milestones"] == [1, 3] and config["steps"] == 5  # the run's own decay stays
    finished = Trainer(final)
    assert finished.step == 5 and finished.lr_at(finished.step) == pytest.approx(1e-5)  # 1e-3 ÷ 10 ÷ 10
    assert (run / "state.pt").read_bytes() == before  # the campaign's own run is untouched
    assert [json.loads(line)["step"] for line in (final / "val.jsonl").read_text().splitlines()][-1] == 5


def test_average_into_is_an_exponential_moving_average() -> None:
    from percomp_ui.train.average import average_into_

    mean, value = [torch.tensor([0.0, 4.0])], [torch.tensor([2.0, 0.0])]
    average_into_(mean, value, 0.75)
    assert torch.allclose(mean[0], torch.tensor([0.5, 3.0]))  # θ̄ + (1 − d)(θ − θ̄)
    with pytest.raises(ValueError, match="decay"):
        average_into_(mean, value, 1.0)


def test_a_run_with_ema_validates_saves_resumes_and_exports_the_average(image_folder: Path, tmp_path: Path) -> None:
    run, decay = tmp_path / "run", 0.5
    trainer = Trainer(run, tiny_config(image_folder, ema=decay, val_every=3))
    start = [p.detach().clone() for p in trainer.model.parameters()]
    expected = start
    torch.manual_seed(2)
    for _ in range(2):  # by hand: θ̄ follows every step's weights
        trainer.train_step(torch.rand(2, 3, 64, 64))
        expected = [decay * m + (1 - decay) * p.detach() for m, p in zip(expected, trainer.model.parameters())]
    averaged = list(trainer.average.model.parameters())
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(averaged, expected))
    assert any(not torch.equal(a, p) for a, p in zip(averaged, trainer.model.parameters()))

    trainer.run(max_steps=1, progress=False)  # step 3: validated and exported
    line = json.loads((run / "val.jsonl").read_text().splitlines()[-1])
    assert line["step"] == 3 and set(line["raw"]["levels"]) == {"0", "7"}
    assert line["objective"] != line["raw"]["objective"]  # the average, not the trained weights
    assert trainer.validate(trainer_images(image_folder), trainer.model)["objective"] == pytest.approx(
        line["raw"]["objective"], rel=1e-5)
    exported, card = load_model("trained-tiny", run / "best")
    assert card["training"]["recipe"]["ema"] == decay
    shipped = dict(exported.named_parameters())
    for name, trained in trainer.model.named_parameters():  # every weight nearer the average than the trained one
        average = dict(trainer.average.model.named_parameters())[name]
        assert (shipped[name].float() - average).norm() <= (shipped[name].float() - trained).norm(), name

    resumed = Trainer(run)
    for a, b in zip(resumed.average.model.parameters(), trainer.average.model.parameters()):
        assert torch.equal(a, b)


def test_a_run_that_turns_ema_on_later_starts_the_average_at_its_weights(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(run, tiny_config(image_folder)).run(max_steps=2, progress=False)
    resumed = Trainer(run, tiny_config(image_folder, ema=0.9))
    for a, b in zip(resumed.average.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="ema"):
        Trainer(tmp_path / "other", tiny_config(image_folder, ema=1.0))


def trainer_images(folder: Path) -> list[torch.Tensor]:
    from percomp_ui.train.data import load_validation

    return load_validation(folder, 1)


def test_the_average_resumes_whatever_size_the_cdf_tables_were_exported_at(image_folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trainer = Trainer(run, tiny_config(image_folder, ema=0.9, val_every=2, lr=1e-2))
    trainer.model.update(force=True)  # the trained weights' tables, as an export before the average existed made them
    trainer.run(max_steps=2, progress=False)  # the average exported: its own tables
    cdf = "latent_codec.entropy_bottleneck._quantized_cdf"
    saved = torch.load(run / "state.pt", weights_only=True)
    assert cdf not in saved["ema"] and set(saved["ema"]) == {n for n, _ in trainer.model.named_parameters()}
    resumed = Trainer(run)
    for name, param in resumed.average.model.named_parameters():
        assert torch.equal(param, dict(trainer.average.model.named_parameters())[name]), name
    resumed.run(max_steps=2, progress=False)
    assert resumed.step == 4
