"""Latent codec internals: the scale-index rule and float64 entropy parameters."""
from __future__ import annotations

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
