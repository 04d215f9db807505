"""Prediction intervals calibrated on validation, built into the model they correct.

A quantile head trained on the pinball loss is often too narrow or too wide
where the validation (or test) period is more or less volatile than the
training one. Conformalized quantile regression moves the outermost levels
by a margin measured on held-out windows, so the interval covers its nominal
share there; kept as a buffer of the model, the margins reach ``predict``,
``evaluate`` and the ONNX graph with no extra step.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class Calibrated(nn.Module):
    """A quantile forecaster whose outermost levels are moved by ``margins`` [H, T], fitted on
    validation (conformalized quantile regression, Romano et al. 2019): the lowest level
    minus the margin, the highest plus it, so the interval covers its nominal share of the
    validation targets at each step and target. The other levels are left as they are; the
    model has at least one level inside the interval (the median)."""

    def __init__(self, model: nn.Module, horizons: int, targets: int):
        super().__init__()
        self.model = model
        self.register_buffer("margins", torch.zeros(horizons, targets))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out if self.training else moved(out, self.margins)


def moved(out: torch.Tensor, margins: torch.Tensor) -> torch.Tensor:
    """Quantile forecasts ``out`` [..., H, T, Q] with the lowest level lowered and the highest
    raised by ``margins`` [H, T]; a negative margin narrows the interval, never past the levels
    inside it."""
    low, middle, high = out[..., :1], out[..., 1:-1], out[..., -1:]
    margin = margins.unsqueeze(-1)
    low = torch.minimum(low - margin, middle[..., :1])
    high = torch.maximum(high + margin, middle[..., -1:])
    return torch.cat([low, middle, high], dim=-1)


def conformal_margins(low, high, truth, coverage: float) -> torch.Tensor:
    """Per step and target [H, T], the margin that makes [low - m, high + m] cover
    ``coverage`` of the ``truth`` [N, H, T]: the ceil((N + 1) coverage)-th smallest of
    max(low - y, y - high) (the largest when N is too small for that)."""
    scores = torch.maximum(low - truth, truth - high).sort(dim=0).values
    n = len(truth)
    rank = min(n, math.ceil((n + 1) * coverage)) - 1
    return scores[rank]
