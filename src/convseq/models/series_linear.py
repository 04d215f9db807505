"""A forecaster that is one linear map of the whole window: the classic autoregressive model.

Beside a TCN it is a second member of a different kind (``models.ensemble``):
it weighs every step of the window directly, where the TCN sees only its
receptive field through nonlinear filters, so the two err differently and
their mean forecast is better than either on ETTh1's validation split
(docs/tcn.md). It is a convolution too: one filter as long as the window,
read at the last step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from convseq.errors import UserError
from convseq.models.forecast import RESIDUAL_HELP, Anchored
from convseq.models.registry import SeriesShape, register_model


class SeriesLinear(nn.Module):
    """(batch, time, features) -> Linear over the last ``window`` rows -> (batch,) or (batch, H).

    With ``residual`` it reads the window relative to its last row and
    forecasts the change, as the other forecasters do.
    """

    shard_safe = True  # samples independent, no randomness

    def __init__(
        self,
        num_features: int,
        window: int,
        residual: bool = False,
        target_index: int = 0,
        absolute_features: Sequence[int] = (),
        horizons: int = 1,
        targets: Sequence[int] = (),
        quantiles: int = 0,
    ):
        super().__init__()
        if window < 1:
            raise UserError(f"a linear forecaster needs a window of at least 1 row, got {window}")
        self.window, self.num_features = window, num_features
        self.min_length = window
        self.anchor = Anchored(
            residual, target_index, absolute_features, horizons, targets, quantiles
        )
        self.linear = nn.Linear(window * num_features, self.anchor.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.anchor.relative(x)[:, -self.window :]
        return self.anchor.absolute(self.linear(rows.flatten(1)), x)

    def summary_extra(self) -> list[str]:
        return [f"Linear map of the last {self.window} rows x {self.num_features} features"]


@register_model(
    "series-linear",
    "forecast",
    "one linear map of the whole window (an autoregressive model)",
    help={"residual": RESIDUAL_HELP},
)
def series_linear(shape: SeriesShape, *, residual: bool = True) -> nn.Module:
    return SeriesLinear(
        shape.num_features,
        shape.window,
        residual,
        *shape.layout,
    )
