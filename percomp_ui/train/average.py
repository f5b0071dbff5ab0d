"""A moving average of the weights a run trains (Polyak averaging, as an exponential moving average).

With one 512-px crop a batch, the campaign's weights wander around where the loss is low by about as
much as 500 steps move them forward (docs/results.md, "Learning rate"); only a decayed copy
(``campaign.sh finalize``) took that noise out. The average does it at every step, for the cost of one
more copy of the weights, so every validation and export of a run that keeps one is of the averaged
weights (a decay on top still gains a little: docs/results.md, "Weight averaging").

.. code-block:: none

    optimizer step ─► θ_t ─► θ̄ ← θ̄ + (1 − decay)·(θ_t − θ̄)   (θ̄ starts at the θ it is first given)
                               └─► validation, export (CDF tables built from θ̄)

A decay d averages over about 1 / (1 − d) steps. Buffers (the entropy models' CDF tables) are not
averaged: they are rebuilt from the averaged parameters when the average is exported.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def average_into_(averaged: Sequence[Tensor], current: Sequence[Tensor], decay: float) -> None:
    """θ̄ ← θ̄ + (1 − decay)·(θ − θ̄), in place on ``averaged``."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1) (got {decay})")
    for mean, value in zip(averaged, current, strict=True):
        mean.lerp_(value.detach(), 1.0 - decay)


class WeightAverage:
    """An eval-mode copy of ``model`` whose parameters follow the model's as a moving average."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1) (got {decay})")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current parameters into the average (after each optimizer step)."""
        average_into_(list(self.model.parameters()), list(model.parameters()), self.decay)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged parameters. Buffers are left out: the entropy models' CDF tables are sized by
        each export's ``update()``, so a saved table need not fit the model it is loaded into."""
        return {name: p.detach().clone() for name, p in self.model.named_parameters()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Averaged parameters from :meth:`state_dict` (other entries, such as buffers, are ignored)."""
        params = dict(self.model.named_parameters())
        missing = sorted(params.keys() - state.keys())
        if missing:
            raise ValueError(f"the saved weight average lacks {', '.join(missing[:3])}")
        for name, param in params.items():
            param.copy_(state[name])
