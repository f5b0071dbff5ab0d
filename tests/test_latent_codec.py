"""Latent codec internals: the scale-index rule and float64 entropy parameters."""
from __future__ import annotations

import os

import pytest
import torch
from compressai.entropy_models import GaussianConditional
from compressai.models.base import get_scale_table

from percomp_ui.nn.hyperprior import GainedMeanScaleHyperprior, HyperpriorConfig
from percomp_ui.nn.latent_codec import scale_indexes


def test_scale_indexes_match_compressai_build_indexes_including_table_boundaries() -> None:
    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    table = gc.scale_table.double()
    torch.manual_seed(0)
    scales = torch.cat([
        torch.rand(20000, dtype=torch.float64) * 300,
        table, table + 1e-12, table - 1e-12,
        torch.tensor([0.0, -1.0, 1e-30, 1e9], dtype=torch.float64),
    ])
    assert torch.equal(scale_indexes(scales, gc.scale_table), gc.build_indexes(scales))
    scales32 = scales.float().reshape(1, -1, 1, 1)
    assert torch.equal(scale_indexes(scales32, gc.scale_table), gc.build_indexes(scales32))


def test_entropy_parameters_do_not_depend_on_the_thread_count() -> None:
    torch.manual_seed(0)
    model = GainedMeanScaleHyperprior(HyperpriorConfig(N=16, M=24)).eval()
    model.update(force=True)
    x = torch.rand(1, 3, 128, 192)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = model.compress(x, 4.25)
        torch.set_num_threads(2)
        two = model.compress(x, 4.25)
    finally:
        torch.set_num_threads(threads)
    assert one["strings"] == two["strings"]
    decoded = model.decompress(one["strings"], one["shape"], 4.25)["x_hat"]
    assert torch.equal(decoded, model.synthesize(one["y_hat"]))


def test_a_dead_decoder_worker_is_a_stream_error_and_the_next_decode_forks_a_new_one() -> None:
    import os
    import signal

    import pytest

    from percomp_ui.errors import StreamError
    from percomp_ui.nn.isolated_decoder import IsolatedEntropyCoder

    torch.manual_seed(0)
    model = GainedMeanScaleHyperprior(HyperpriorConfig(N=16, M=24)).eval()
    model.update(force=True)
    good = model.compress(torch.rand(1, 3, 64, 64), 2.0)
    expected = model.synthesize(good["y_hat"])
    assert torch.equal(model.decompress(good["strings"], good["shape"], 2.0)["x_hat"], expected)
    worker = IsolatedEntropyCoder._worker
    assert worker is not None and worker.pid != os.getpid()
    os.kill(worker.pid, signal.SIGKILL)  # what a segfault in the C++ decoder does to the worker
    os.waitpid(worker.pid, 0)
    with pytest.raises(StreamError, match="corrupt"):
        model.decompress(good["strings"], good["shape"], 2.0)
    assert torch.equal(model.decompress(good["strings"], good["shape"], 2.0)["x_hat"], expected)
    assert IsolatedEntropyCoder._worker.pid != worker.pid


def test_exact_and_estimating_passes_run_at_once_from_two_threads() -> None:
    """The app codes the ROI slot while another tab's rate search estimates: float64 and float32
    passes of h_s must not see each other's weights."""
    import threading

    torch.manual_seed(0)
    model = GainedMeanScaleHyperprior(HyperpriorConfig(N=16, M=24)).eval()
    model.update(force=True)
    y = model.analyse(torch.rand(1, 3, 128, 192))
    expected_strings, expected_bits = model.compress_latent(y, 4.25)["strings"], model.estimate_latent_bits(y, 4.25)
    errors: list[BaseException] = []

    def repeat(work) -> None:
        try:
            for _ in range(30):
                work()
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    def exact() -> None:
        assert model.compress_latent(y, 4.25)["strings"] == expected_strings

    def estimate() -> None:
        assert model.estimate_latent_bits(y, 4.25) == expected_bits

    threads = [threading.Thread(target=repeat, args=(work,)) for work in (exact, estimate, exact, estimate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_the_float64_hyper_synthesis_follows_new_weights() -> None:
    torch.manual_seed(0)
    model = GainedMeanScaleHyperprior(HyperpriorConfig(N=16, M=24)).eval()
    other = GainedMeanScaleHyperprior(HyperpriorConfig(N=16, M=24)).eval()
    for m in (model, other):
        m.update(force=True)
    y = model.analyse(torch.rand(1, 3, 128, 192))
    before = model.compress_latent(y, 4.25)["strings"]
    model.load_state_dict(other.state_dict())
    assert model.compress_latent(y, 4.25)["strings"] == other.compress_latent(y, 4.25)["strings"] != before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the decoder worker is a forked process")
def test_start_worker_forks_the_decoder_worker_up_front() -> None:
    from percomp_ui.nn.isolated_decoder import IsolatedEntropyCoder, start_worker

    start_worker()
    worker = IsolatedEntropyCoder._worker
    assert worker is not None and IsolatedEntropyCoder._worker_pid == os.getpid()
    start_worker()
    assert IsolatedEntropyCoder._worker is worker  # one per process: a second call reuses it
