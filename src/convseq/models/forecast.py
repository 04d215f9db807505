"""Forecasting models: windows ``(batch, time, features)`` in, one value per window out.

A learned model built with ``horizons`` H above 1 outputs the whole path
``(batch, H)`` instead, the forecast being its last column
(``final_horizon``); the earlier columns exist to be trained on. Built for
``--horizon`` (``SeriesShape.targets``), every model forecasts each target
at each step, ``(batch, H, targets[, quantiles])``, all of it the forecast.

The two baselines are parameter-free modules, so they go through the same
evaluation, run folder and comparison as the learned models. The learned ones
are the reference chapter's: a small 1D convnet, a convnet feeding a GRU, and
a GRU alone, each initialised as Keras initialises them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from convseq.models.conv_global_max import conv_relu_global_max
from convseq.models.conv_pool import conv_relu_pool
from convseq.models.gru import KerasGRU
from convseq.models.init import keras_init
from convseq.models.registry import SeriesShape, register_model


class CommonSense(nn.Module):
    """Predicts that the target will be what it was at the window's last sample."""

    def __init__(self, num_features: int, target_index: int = 0, horizons: int = 1, targets=()):
        super().__init__()
        if not 0 <= target_index < num_features:
            raise ValueError(f"target_index {target_index} is not among {num_features} features")
        self.target_index, self.horizons, self.targets = target_index, horizons, list(targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.targets:  # every step of the path: (batch, H, targets)
            return x[:, -1, :][:, self.targets].unsqueeze(1).expand(-1, self.horizons, -1)
        return x[:, -1, self.target_index]


class Mean(nn.Module):
    """Predicts the training mean of the target (0 on normalized data) for every window."""

    def __init__(self, num_features: int, value: float = 0.0, horizons: int = 1, targets=()):
        super().__init__()
        self.register_buffer("value", torch.tensor(float(value)))
        self.layout = (horizons, len(targets)) if targets else ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], *self.layout)


def final_horizon(output: torch.Tensor) -> torch.Tensor:
    """The forecast in a model's output: the last column of a path, or the values themselves."""
    return output[:, -1] if output.ndim == 2 else output


def path_or_value(head_output: torch.Tensor) -> torch.Tensor:
    """A head's ``(batch, H)`` output, squeezed to ``(batch,)`` when it forecasts one horizon."""
    return head_output.squeeze(-1) if head_output.shape[-1] == 1 else head_output


class Anchored(nn.Module):
    """A forecaster's output layer: reads the head, optionally relative to the window's last row.

    The head gives ``width`` numbers per window; ``absolute`` lays them out
    as the forecast: one value ``(batch,)``, a path ``(batch, H)``, or with
    ``targets`` (``--horizon``) ``(batch, H, targets)``, and with
    ``quantiles`` ``(batch, H, targets, quantiles)``.

    With ``residual`` on, each window has its last row subtracted from every
    row, and the head's output is added to each target's last value: the
    model starts from the common-sense forecast and learns a correction. This
    makes it blind to the series' level, which matters when the level drifts
    between the training and test periods (ETTh1's oil temperature does).
    ``absolute_features`` are left as they are: a calendar phase taken
    relative to the last row would no longer say what time it is.
    """

    def __init__(
        self,
        residual: bool = False,
        target_index: int = 0,
        absolute_features: Sequence[int] = (),
        horizons: int = 1,
        targets: Sequence[int] = (),
        quantiles: int = 0,
    ):
        super().__init__()
        self.residual, self.target_index = residual, target_index
        self.absolute_features = list(absolute_features)
        self.horizons, self.targets, self.quantiles = horizons, list(targets), quantiles
        self.width = horizons * max(1, len(self.targets)) * max(1, quantiles)

    def relative(self, x: torch.Tensor) -> torch.Tensor:
        if not self.residual:
            return x
        anchor = x[:, -1:, :]
        if self.absolute_features:
            anchor = anchor.clone()
            anchor[:, :, self.absolute_features] = 0
        return x - anchor

    def absolute(self, head: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The head's ``(batch, width)`` output as the forecast, plus the last values if residual."""
        if not self.targets:
            change = path_or_value(head)
            if not self.residual:
                return change
            last = x[:, -1, self.target_index]
            return change + (last.unsqueeze(-1) if change.ndim == 2 else last)
        layout = (-1, self.horizons, len(self.targets), self.quantiles)  # -1: any batch (ONNX)
        change = head.reshape(layout if self.quantiles else layout[:3])
        if not self.residual:
            return change
        last = x[:, -1, :][:, self.targets].unsqueeze(1)
        return change + (last.unsqueeze(-1) if self.quantiles else last)


def _conv_relu(channels_in: int, channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(channels_in, channels, kernel_size), nn.ReLU())


def _hooked(layers: nn.Module) -> bool:
    # A forward hook on a layer (the model summary sets them) wants to see
    # that layer run, so such calls take the layer-by-layer path.
    return any(layer._forward_hooks for layer in layers.modules())


def _fused_features(features: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run ``features`` (conv+ReLU blocks, each maybe followed by a max-pool) channels last.

    Same values as ``features(x.transpose(1, 2)).transpose(1, 2)``, through
    ``conv_relu_pool``: channels-last convolutions, no layout copies between layers.
    """
    layers = list(features)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.MaxPool1d):
            continue
        conv = layer[0]
        after = layers[i + 1] if i + 1 < len(layers) else None
        pool = after.kernel_size if isinstance(after, nn.MaxPool1d) else 1
        x = conv_relu_pool(x, conv.weight, conv.bias, pool)
    return x


class SeriesCNN(nn.Module):
    """(Conv1D(32,5) ReLU -> MaxPool(3)) x2 -> Conv1D(32,5) ReLU -> global max -> Dense(1).

    The reference's model 2. It sees local patterns but, after the global max,
    not where in the window they were, which is why it trails the baseline on
    Jena.
    """

    shard_safe = True  # samples independent, no randomness (training/shards.py)

    def __init__(
        self,
        num_features: int,
        channels: int = 32,
        kernel_size: int = 5,
        pool: int = 3,
        residual: bool = False,
        target_index: int = 0,
        absolute_features: Sequence[int] = (),
        horizons: int = 1,
        targets: Sequence[int] = (),
        quantiles: int = 0,
    ):
        super().__init__()
        self.anchor = Anchored(
            residual, target_index, absolute_features, horizons, targets, quantiles
        )
        self.features = nn.Sequential(
            _conv_relu(num_features, channels, kernel_size),
            nn.MaxPool1d(pool),
            _conv_relu(channels, channels, kernel_size),
            nn.MaxPool1d(pool),
            _conv_relu(channels, channels, kernel_size),
        )
        self.head = nn.Linear(channels, self.anchor.width)
        k = kernel_size - 1
        self.min_length = ((k + 1) * pool + k) * pool + k  # shortest window with one output step
        self.min_length_why = (
            f"three convolutions of {kernel_size} with max-pools of {pool} between them need "
            f"{self.min_length} steps"
        )
        keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _hooked(self.features):
            h = self.features(self.anchor.relative(x).transpose(1, 2)).amax(dim=2)
        else:
            *front, last = self.features
            h = _fused_features(nn.Sequential(*front), self.anchor.relative(x))
            h = conv_relu_global_max(h, last[0].weight, last[0].bias)
        return self.anchor.absolute(self.head(h), x)


class SeriesCNNGRU(nn.Module):
    """Conv1D(32,5) ReLU -> MaxPool(3) -> Conv1D(32,5) ReLU -> GRU(32) -> Dense(1).

    The reference's model 3: the convolutions shorten a long, fine-grained
    window into a sequence of features that the GRU reads in order.
    """

    shard_safe = True  # samples independent, dropout from models/random_source.py

    def __init__(
        self,
        num_features: int,
        channels: int = 32,
        kernel_size: int = 5,
        pool: int = 3,
        hidden: int = 32,
        dropout: float = 0.1,
        recurrent_dropout: float = 0.5,
        residual: bool = False,
        target_index: int = 0,
        absolute_features: Sequence[int] = (),
        horizons: int = 1,
        targets: Sequence[int] = (),
        quantiles: int = 0,
    ):
        super().__init__()
        self.anchor = Anchored(
            residual, target_index, absolute_features, horizons, targets, quantiles
        )
        self.features = nn.Sequential(
            _conv_relu(num_features, channels, kernel_size),
            nn.MaxPool1d(pool),
            _conv_relu(channels, channels, kernel_size),
        )
        self.gru = KerasGRU(channels, hidden, dropout, recurrent_dropout)
        self.head = nn.Linear(hidden, self.anchor.width)
        self.min_length = (kernel_size * pool) + kernel_size - 1
        self.min_length_why = (
            f"a convolution of {kernel_size}, a max-pool of {pool} and a second convolution of "
            f"{kernel_size} need {kernel_size} x {pool} + {kernel_size - 1} steps"
        )
        keras_init(self.features)
        keras_init(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _hooked(self.features):
            h = self.features(self.anchor.relative(x).transpose(1, 2)).transpose(1, 2)
        else:
            h = _fused_features(self.features, self.anchor.relative(x))
        return self.anchor.absolute(self.head(self.gru(h)), x)


class SeriesGRU(nn.Module):
    """GRU(32, dropout 0.2, recurrent dropout 0.2) -> Dense(1), the reference's recurrent model."""

    shard_safe = True  # samples independent, dropout from models/random_source.py

    def __init__(
        self,
        num_features: int,
        hidden: int = 32,
        dropout: float = 0.2,
        recurrent_dropout: float = 0.2,
        residual: bool = False,
        target_index: int = 0,
        absolute_features: Sequence[int] = (),
        horizons: int = 1,
        targets: Sequence[int] = (),
        quantiles: int = 0,
    ):
        super().__init__()
        self.anchor = Anchored(
            residual, target_index, absolute_features, horizons, targets, quantiles
        )
        self.gru = KerasGRU(num_features, hidden, dropout, recurrent_dropout)
        self.head = nn.Linear(hidden, self.anchor.width)
        keras_init(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gru(self.anchor.relative(x))
        return self.anchor.absolute(self.head(h), x)


RESIDUAL_HELP = (
    "read windows relative to their last row and forecast the change from the target's last "
    "value (a learned correction to the common-sense forecast)"
)
CONV_HELP = {
    "channels": "filters of every convolution",
    "kernel_size": "kernel size of the convolutions",
    "pool": "max-pool size after the first convolutions",
    "residual": RESIDUAL_HELP,
}
GRU_HELP = {
    "hidden": "GRU units",
    "dropout": "dropout on the GRU's inputs, one mask per sequence",
    "recurrent_dropout": "dropout on the GRU's recurrent state, one mask per sequence",
    "residual": RESIDUAL_HELP,
}


@register_model("common-sense", "forecast", "the target's last value, no training", trainable=False)
def common_sense(shape: SeriesShape) -> nn.Module:
    return CommonSense(shape.num_features, shape.target_index, shape.horizons, shape.targets)


@register_model("mean", "forecast", "the training mean of the target, no training", trainable=False)
def mean(shape: SeriesShape) -> nn.Module:
    return Mean(shape.num_features, 0.0, shape.horizons, shape.targets)


@register_model(
    "series-cnn",
    "forecast",
    "the reference convnet: (Conv1D -> MaxPool) x2 -> Conv1D -> global max -> Dense",
    help=CONV_HELP,
)
def series_cnn(
    shape: SeriesShape, *, channels: int = 32, kernel_size: int = 5, pool: int = 3, residual=True
) -> nn.Module:
    return SeriesCNN(
        shape.num_features,
        channels,
        kernel_size,
        pool,
        residual,
        *shape.layout,
    )


@register_model(
    "series-cnn-gru",
    "forecast",
    "Conv1D -> MaxPool -> Conv1D -> GRU with recurrent dropout -> Dense",
    help={**CONV_HELP, **GRU_HELP},
)
def series_cnn_gru(
    shape: SeriesShape,
    *,
    channels: int = 32,
    kernel_size: int = 5,
    pool: int = 3,
    hidden: int = 32,
    dropout: float = 0.1,
    recurrent_dropout: float = 0.5,
    residual: bool = True,
) -> nn.Module:
    return SeriesCNNGRU(
        shape.num_features,
        channels,
        kernel_size,
        pool,
        hidden,
        dropout,
        recurrent_dropout,
        residual,
        *shape.layout,
    )


@register_model("series-gru", "forecast", "GRU with recurrent dropout -> Dense", help=GRU_HELP)
def series_gru(
    shape: SeriesShape,
    *,
    hidden: int = 32,
    dropout: float = 0.2,
    recurrent_dropout: float = 0.2,
    residual: bool = True,
) -> nn.Module:
    return SeriesGRU(
        shape.num_features,
        hidden,
        dropout,
        recurrent_dropout,
        residual,
        *shape.layout,
    )
