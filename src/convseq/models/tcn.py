"""Temporal convolutional networks: residual blocks of dilated 1D convolutions.

A TCN (Bai, Kolter & Koltun, 2018) sees long context with few layers because
each block doubles (or otherwise grows) the dilation: the receptive field grows
exponentially with depth while the parameter count grows linearly. The
receptive field is fixed by the configuration, so it is computed here, exposed
as ``receptive_field`` and printed in the model summary.

``TCN`` maps ``(batch, channels, time)`` to ``(batch, channels_out, time)``.
With ``causal=True`` the output at step t depends on the inputs at steps
``t - R + 1 .. t`` only (R = receptive field), which is what a forecaster
needs. With ``causal=False`` ("same" padding) it depends on the steps
``t - (R - 1) / 2 .. t + (R - 1) / 2``, symmetric around t, which is what a
classifier that sees the whole sequence wants; the kernel size must then be
odd so that the window can be centred. Task models are thin wrappers: a text
classifier (embedding -> TCN -> pooling) and a forecaster ((batch, time,
features) -> TCN -> last step -> one value) are registered below.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm

from convseq.errors import UserError
from convseq.models.ensemble import Ensemble
from convseq.models.forecast import RESIDUAL_HELP, Anchored
from convseq.models.random_source import dropout_mask
from convseq.models.registry import SeriesShape, TextShape, register_model
from convseq.models.series_linear import SeriesLinear

NORMS = ("weight", "layer", "none")


CONVS_PER_BLOCK = 2  # two dilated convolutions per residual block, as in Bai et al.


def receptive_field(kernel_size: int, dilations: Sequence[int]) -> int:
    """Input steps that one output step sees: 1 + sum over convolutions of (k - 1) * d."""
    return 1 + CONVS_PER_BLOCK * (kernel_size - 1) * sum(dilations)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (batch, channels, time) tensor, one step at a time.

    Normalizing each step on its own keeps the block causal, unlike batch norm
    or a norm over time.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class DilatedConv(nn.Module):
    """One dilated Conv1d with causal (left) or centred padding, so length is kept."""

    def __init__(self, c_in, c_out, kernel_size, dilation, causal, norm):
        super().__init__()
        conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
        self.conv = weight_norm(conv) if norm == "weight" else conv
        total = (kernel_size - 1) * dilation
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)

    def forward(self, x: torch.Tensor, valid_grid: bool = False) -> torch.Tensor:
        """``valid_grid``: ``x`` is (batch, time, channels) holding only every
        ``dilation``-th step; convolve it undilated and unpadded (``k - 1`` fewer
        steps out), channels last, as ``conv_pool`` explains."""
        if not valid_grid:
            return self.conv(F.pad(x, self.pad))
        image = x.unsqueeze(1).permute(0, 3, 1, 2)  # (batch, in, 1, time), channels-last strides
        out = F.conv2d(image, self.conv.weight.unsqueeze(2), self.conv.bias)
        return out.squeeze(2).transpose(1, 2)


def _after_channels_last(after: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """``after(h.transpose(1, 2)).transpose(1, 2)`` for a channels-last ``h`` (batch, time, channels).

    The layer norm and ReLU work on channels last as they are, and spatial
    dropout multiplies by a (batch, 1, channels) mask drawn exactly as
    ``nn.Dropout1d`` draws its own, so the values are the same; through the
    transposed view each of them was a strided pass.
    """
    for layer in after:
        if isinstance(layer, nn.ReLU):
            h = torch.relu(h)
        elif isinstance(layer, ChannelLayerNorm):
            h = nn.LayerNorm.forward(layer, h)
        elif isinstance(layer, nn.Dropout1d):
            if layer.training and layer.p > 0:
                batch, _, channels = h.shape
                h = h * dropout_mask((batch, channels, 1), layer.p, h).transpose(1, 2)
        else:
            h = layer(h.transpose(1, 2)).transpose(1, 2)
    return h


class ResidualBlock(nn.Module):
    """Two x (dilated conv -> [layer norm] -> ReLU -> dropout), plus a skip.

    ``spatial_dropout`` drops whole channels of a sequence (``nn.Dropout1d``,
    Keras's SpatialDropout1D, as keras-tcn does) instead of single values:
    neighbouring steps of a channel are strongly correlated, so dropping one
    value hides little, and one mask per channel is far cheaper to draw than
    one per value (drawing the masks was a quarter of a forecaster's training
    step on CPU).

    The skip is the identity, or a 1x1 convolution when the channel count
    changes; a ReLU follows the sum, as in Bai et al. A ``mask`` (batch, time)
    zeroes padding steps before every convolution, so padding tokens look
    exactly like the convolution's own zero padding and a sequence gives the
    same output whatever batch (and so whatever amount of padding) it is in.
    """

    def __init__(self, c_in, c_out, kernel_size, dilation, dropout, norm, causal, spatial_dropout):
        super().__init__()
        drop = nn.Dropout1d if spatial_dropout else nn.Dropout
        self.convs = nn.ModuleList()
        self.after = nn.ModuleList()
        for i in range(CONVS_PER_BLOCK):
            self.convs.append(
                DilatedConv(c_in if i == 0 else c_out, c_out, kernel_size, dilation, causal, norm)
            )
            norm_layer = [ChannelLayerNorm(c_out)] if norm == "layer" else []
            self.after.append(nn.Sequential(*norm_layer, nn.ReLU(), drop(dropout)))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for conv, after in zip(self.convs, self.after, strict=True):
            if mask is not None:
                h = h * mask
            h = after(conv(h))
        return torch.relu(h + self.skip(x))

    def valid_grid(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, time, channels), one step per dilation: the block's unpadded outputs.

        Each convolution drops ``k - 1`` leading steps, and the skip is added
        to the matching last steps of ``x``. The norm, ReLU and dropout work on
        a transposed view, so the channels-last layout is kept throughout.
        """
        h = x
        for conv, after in zip(self.convs, self.after, strict=True):
            h = _after_channels_last(after, conv(h, valid_grid=True))
        tail = x[:, x.shape[1] - h.shape[1] :]
        return torch.relu(h + self.skip(tail.transpose(1, 2)).transpose(1, 2))


class TCN(nn.Module):
    """A stack of residual blocks, block i dilated by ``dilations[i]``.

    ``channels`` is one width for every block or a list with one per block;
    ``spatial_dropout`` drops whole channels rather than single values (see
    ``ResidualBlock``).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int | Sequence[int] = 64,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8),
        dropout: float = 0.0,
        norm: str = "weight",
        causal: bool = True,
        spatial_dropout: bool = False,
    ):
        super().__init__()
        dilations = list(dilations)
        widths = [channels] * len(dilations) if isinstance(channels, int) else list(channels)
        check_tcn_settings(kernel_size, dilations, widths, dropout, norm, causal)
        self.kernel_size, self.dilations, self.causal = kernel_size, dilations, causal
        self.receptive_field = receptive_field(kernel_size, dilations)
        self.out_channels = widths[-1]
        c_in = in_channels
        blocks = []
        for width, dilation in zip(widths, dilations, strict=True):
            blocks.append(
                ResidualBlock(
                    c_in, width, kernel_size, dilation, dropout, norm, causal, spatial_dropout
                )
            )
            c_in = width
        self.blocks = nn.ModuleList(blocks)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, last_only: bool = False
    ) -> torch.Tensor:
        """``x`` is (batch, channels, time); ``mask`` (batch, time) is True on real steps.

        ``last_only`` returns only the last step, (batch, channels), computed
        by ``_last_step`` at a fraction of the cost.
        """
        if last_only and mask is None:
            return self._last_step(x)
        weights = mask.unsqueeze(1).to(x.dtype) if mask is not None else None
        for block in self.blocks:
            x = block(x, weights)
        return x[:, :, -1] if last_only else x

    def _last_step(self, x: torch.Tensor) -> torch.Tensor:
        """``forward(x)[:, :, -1]``, computing only the steps that the last one depends on.

        A forecaster reads only the last step, and the full forward spends most
        of its work on the others. The last step sees the last ``R`` inputs; a
        block dilated by ``d`` needs its input only every ``d`` steps back from
        the end; and when each dilation divides the next, the steps a block
        needs are a subset of the steps that the block before it computed.
        So: keep the last R steps, and before each block keep every
        ``d / d_previous``-th step, ending at the last; the block then convolves
        undilated and unpadded on this grid (no step the last one needs ever
        reads padding), channels last. Same weights and the same result (the
        tests check it), with about ``1 + 1/2 + 1/4 + ...`` of R positions per
        convolution instead of the whole window, and no layout copies. Windows
        shorter than R (whose last step does read padding), non-causal stacks
        and dilations that do not divide each other run the full forward.
        """
        chained = all(
            b % a == 0 for a, b in zip(self.dilations[:-1], self.dilations[1:], strict=True)
        )
        if not self.causal or not chained or x.shape[2] < self.receptive_field:
            return self.forward(x)[:, :, -1]
        h = x[:, :, -self.receptive_field :].transpose(1, 2)  # (batch, R, channels)
        spacing = 1
        for block, dilation in zip(self.blocks, self.dilations, strict=True):
            factor = dilation // spacing
            # copied dense: convolving the strided view cost oneDNN a reorder of its own
            h = block.valid_grid(h[:, (h.shape[1] - 1) % factor :: factor].contiguous())
            spacing = dilation
        return h[:, -1]

    def summary_extra(self) -> list[str]:
        side = (
            f"the last {self.receptive_field} steps (causal)"
            if self.causal
            else f"{(self.receptive_field - 1) // 2} steps each side (non-causal)"
        )
        return [
            f"TCN: kernel {self.kernel_size}, dilations {self.dilations}, "
            f"{CONVS_PER_BLOCK} convs per block",
            f"Receptive field: {self.receptive_field} steps: {side}",
        ]


def check_tcn_settings(kernel_size, dilations, widths, dropout, norm, causal):
    if kernel_size < 1:
        raise UserError(f"TCN kernel size must be at least 1, got {kernel_size}")
    if not causal and kernel_size % 2 == 0:
        raise UserError(
            f"a non-causal TCN needs an odd kernel size to centre its window, got {kernel_size}; "
            f"use {kernel_size + 1} or causal padding"
        )
    if any(d < 1 for d in dilations):
        raise UserError(f"TCN dilations must be positive integers, got {list(dilations)}")
    if len(widths) != len(dilations) or any(w < 1 for w in widths):
        raise UserError(
            f"TCN channels must be one positive width or one per block ({len(dilations)}), "
            f"got {widths}"
        )
    if not 0 <= dropout < 1:
        raise UserError(f"TCN dropout must be in [0, 1), got {dropout}")
    if not dilations:
        raise UserError("a TCN needs at least one block: pass e.g. --dilations 1,2,4")
    if norm not in NORMS:
        raise UserError(f"unknown TCN norm {norm!r}; choose one of {', '.join(NORMS)}")


def masked_max_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max and mean over the real (unpadded) steps of (batch, channels, time) features.

    Pooling over padding would let review length leak into the features and
    let padding steps win the max.
    """
    mask = mask.unsqueeze(1)  # (batch, 1, time)
    largest = x.masked_fill(~mask, float("-inf")).amax(dim=2)
    largest = torch.where(torch.isfinite(largest), largest, torch.zeros_like(largest))
    mean = (x * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1)
    return torch.cat([largest, mean], dim=1)


class TextTCN(nn.Module):
    """Embedding -> non-causal TCN -> masked max + mean pooling -> dropout -> Linear."""

    def __init__(
        self,
        vocab_size: int = 10_000,
        embed_dim: int = 128,
        channels: int | Sequence[int] = 128,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8),
        dropout: float = 0.1,
        embed_dropout: float = 0.0,
        head_dropout: float = 0.5,
        norm: str = "weight",
        num_outputs: int = 1,
        padding_id: int = 0,
    ):
        super().__init__()
        self.padding_id = padding_id
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_id)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.tcn = TCN(embed_dim, channels, kernel_size, dilations, dropout, norm, causal=False)
        self.head_dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(2 * self.tcn.out_channels, num_outputs)
        self.receptive_field = self.tcn.receptive_field

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != self.padding_id
        x = self.embed_dropout(self.embedding(ids)).transpose(1, 2)
        features = masked_max_mean(self.tcn(x, mask), mask)
        out = self.head(self.head_dropout(features))
        return out.squeeze(-1) if self.head.out_features == 1 else out

    def summary_extra(self) -> list[str]:
        return self.tcn.summary_extra()


class SeriesTCN(nn.Module):
    """(batch, time, features) -> causal TCN -> last step -> Linear -> (batch,) or (batch, H).

    The last step of a causal TCN summarizes the final ``receptive_field``
    steps of the window, so the forecaster is just a head on top of it. With
    ``residual`` the window is read relative to its last row and the output
    is the change from the target's last value (``models.forecast.Anchored``),
    as the other ETTh1 forecasters do; ``absolute_features`` (calendar
    columns) are left absolute.
    """

    def __init__(
        self,
        num_features: int,
        channels: int | Sequence[int] = 32,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8, 16),
        dropout: float = 0.1,
        norm: str = "weight",
        spatial_dropout: bool = False,
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
        self.tcn = TCN(
            num_features, channels, kernel_size, dilations, dropout, norm, True, spatial_dropout
        )
        self.head = nn.Linear(self.tcn.out_channels, self.anchor.width)
        self.receptive_field = self.tcn.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = self.tcn(self.anchor.relative(x).transpose(1, 2), last_only=True)
        return self.anchor.absolute(self.head(last), x)

    def summary_extra(self) -> list[str]:
        return self.tcn.summary_extra()


TCN_HELP = {
    "channels": "channels of every TCN block",
    "kernel_size": "kernel size of the dilated convolutions",
    "dilations": "dilation of each residual block, e.g. 1,2,4,8,16",
    "dropout": "dropout after every convolution",
    "norm": "normalization in the blocks: weight, layer or none",
}


@register_model(
    "text-tcn",
    "text",
    "Embedding -> dilated residual TCN (non-causal) -> masked max + mean -> Dense",
    help={
        **TCN_HELP,
        "embed_dim": "word embedding size",
        "embed_dropout": "dropout on the word embeddings",
        "head_dropout": "dropout on the pooled features before the output layer",
    },
    example_settings={"channels": 8, "embed_dim": 8},
)
def text_tcn(
    shape: TextShape,
    *,
    embed_dim: int = 64,
    channels: int = 64,
    kernel_size: int = 3,
    dilations: list[int] = [1, 2, 4],  # noqa: B006 (read, never changed)
    dropout: float = 0.1,
    embed_dropout: float = 0.0,
    head_dropout: float = 0.5,
    norm: str = "weight",
) -> nn.Module:
    return TextTCN(
        shape.vocab_size,
        embed_dim,
        channels,
        kernel_size,
        dilations,
        dropout,
        embed_dropout,
        head_dropout,
        norm,
        shape.num_outputs,
        shape.padding_id,
    )


@register_model(
    "series-tcn",
    "forecast",
    "causal dilated residual TCN read at the window's last step -> Dense "
    "(optionally averaged with a linear map of the window)",
    help={
        **TCN_HELP,
        "spatial_dropout": "drop whole channels of a window (SpatialDropout1D), not single values",
        "residual": RESIDUAL_HELP,
        "linear_member": "train a linear map of the whole window beside the TCN, each on its own "
        "loss, and forecast their mean",
    },
)
def series_tcn(
    shape: SeriesShape,
    *,
    channels: int = 32,
    kernel_size: int = 3,
    dilations: list[int] = [1, 2, 4, 8, 16],  # noqa: B006 (read, never changed)
    dropout: float = 0.1,
    spatial_dropout: bool = True,
    norm: str = "weight",
    residual: bool = True,
    linear_member: bool = False,
) -> nn.Module:
    """A ``SeriesTCN``, or with ``linear_member`` an ``Ensemble`` of it and a ``SeriesLinear``
    over the whole window, each trained on its own loss, forecasting their mean."""
    where = shape.layout
    tcn = SeriesTCN(
        shape.num_features, channels, kernel_size, dilations, dropout, norm, spatial_dropout,
        residual, *where,
    )  # fmt: skip
    if not linear_member:
        return tcn
    return Ensemble([tcn, SeriesLinear(shape.num_features, shape.window, residual, *where)])
