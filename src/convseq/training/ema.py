"""An exponential moving average of the weights, for evaluation and saving.

The weights at the end of an epoch are one noisy point of the optimizer's
path; their running average over the last few hundred steps usually scores
better and varies less from epoch to epoch (Polyak averaging). With ``--ema
DECAY`` the trainer updates the average after every optimizer step,
evaluates it at each epoch's end, and keeps it as the best weights, so the
run saves the averaged weights. Training itself continues from the live
weights, so the average changes nothing about the optimization.

The early average would be dominated by the random initial weights, so the
decay ramps up as in TensorFlow's ExponentialMovingAverage with
``num_updates``: ``min(decay, (1 + n) / (10 + n))`` at update ``n``.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn


class WeightAverage:
    """The moving average of ``model``'s floating-point parameters."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.params = [p for p in model.parameters() if p.dtype.is_floating_point]
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights into the average (call after each optimizer step)."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, p in zip(self.average, self.params, strict=True):
            avg.lerp_(p.detach(), 1.0 - decay)
        self.updates += 1

    @contextmanager
    @torch.no_grad()
    def swapped_in(self):
        """Inside the block the model holds the averaged weights; the live ones come back after."""
        live = [p.detach().clone() for p in self.params]
        for p, avg in zip(self.params, self.average, strict=True):
            p.copy_(avg)
        try:
            yield
        finally:
            for p, saved in zip(self.params, live, strict=True):
                p.copy_(saved)

    def state_dict(self) -> dict:
        return {"average": [a.clone() for a in self.average], "updates": self.updates}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for avg, saved in zip(self.average, state["average"], strict=True):
            avg.copy_(saved)
        self.updates = state["updates"]
