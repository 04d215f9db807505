"""Channel-independent forecasters: each maps x [B, L, C] to a forecast [B, H, C].

One map is shared by all C variables, which the long-horizon benchmark's
linear models showed to beat mixing them. Registered for the forecast
pipeline (``series-patch-conv``, ``series-patch-tcn``, ``series-dlinear``,
``series-nlinear``) through ``ChannelIndependent``, which feeds them the
target columns only; ``convseq benchmark ltsf`` builds the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from convseq.errors import ModelDoesNotFit, UserError
from convseq.models.registry import SeriesShape, get_model, register_model
from convseq.models.tcn import TCN


class NLinear(nn.Module):
    """Window minus its last value -> Linear(L, H) shared by the variables -> plus that value.

    Receptive field: the whole lookback L. PyTorch's default init, as the benchmark.
    """

    def __init__(self, lookback: int, horizon: int):
        super().__init__()
        self.linear = nn.Linear(lookback, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1:, :]
        return self.linear((x - last).transpose(1, 2)).transpose(1, 2) + last


def moving_average(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Centred moving average over time of x [B, L, C], ends padded by repeating the first and
    last rows (kernel - 1) // 2 times, as DLinear does (an even kernel: one row more at the
    end), so the length stays L."""
    front, back = (kernel - 1) // 2, kernel // 2
    padded = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
    return F.avg_pool1d(padded.transpose(1, 2), kernel, stride=1).transpose(1, 2)


class DLinear(nn.Module):
    """Trend = moving average (25), seasonal = x - trend; a shared Linear(L, H) each, summed.

    Receptive field: the whole lookback L. Weights start at 1/L (the bias keeps
    PyTorch's init), as in the LTSF-Linear code that produced the published table.
    """

    def __init__(self, lookback: int, horizon: int, kernel: int = 25):
        super().__init__()
        self.kernel = kernel
        self.seasonal = nn.Linear(lookback, horizon)
        self.trend = nn.Linear(lookback, horizon)
        with torch.no_grad():
            self.seasonal.weight.fill_(1.0 / lookback)
            self.trend.weight.fill_(1.0 / lookback)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trend = moving_average(x, self.kernel)
        out = self.seasonal((x - trend).transpose(1, 2)) + self.trend(trend.transpose(1, 2))
        return out.transpose(1, 2)


# ------------------------------------------------------------------ the convnet
def depthwise_conv_tokens(z: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """'Same' depthwise convolution over the token axis of z [B, N, D], kernels weight [D, k] (odd
    k, zero padding): Conv1d(D, D, k, padding=k // 2, groups=D) channels-last, written as a
    per-channel Toeplitz matmul, about 5x faster on a CPU than the grouped conv at these sizes."""
    tokens, k = z.shape[1], weight.shape[1]
    tap = torch.arange(tokens)[None, :] - torch.arange(tokens)[:, None] + k // 2  # [out, in]
    toeplitz = weight[:, tap.clamp(0, k - 1)] * ((tap >= 0) & (tap < k))  # [D, out, in]
    return torch.einsum("bnd,dmn->bmd", z, toeplitz)


class ChannelDropout(nn.Module):
    """Drops whole feature channels of z [B, N, D] (one mask [B, 1, D]): a stronger regularizer
    than element dropout here, and 3x cheaper on a CPU, where drawing the mask dominated."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return z
        keep = (torch.rand(z.shape[0], 1, z.shape[2], device=z.device) > self.p).to(z.dtype)
        return z * keep / (1 - self.p)


class ConvBlock(nn.Module):
    """z + Drop(BN(DWConv_k(z))), then z + Drop(W2 GELU(W1 z)): a ModernTCN-style block on tokens."""

    def __init__(self, width: int, kernel: int, ffn_ratio: float, dropout: float):
        super().__init__()
        self.dw_weight = nn.Parameter(torch.randn(width, kernel) / kernel**0.5)
        self.dw_bias = nn.Parameter(torch.zeros(width))
        self.norm = nn.BatchNorm1d(width)
        hidden = max(1, int(width * ffn_ratio))
        self.ffn1, self.ffn2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.drop1, self.drop2 = ChannelDropout(dropout), ChannelDropout(dropout)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = z.shape
        u = depthwise_conv_tokens(z, self.dw_weight) + self.dw_bias
        u = self.norm(u.reshape(batch * tokens, width)).view(batch, tokens, width)
        z = z + self.drop1(u)
        return z + self.drop2(self.ffn2(F.gelu(self.ffn1(z))))


@dataclass
class PatchConvSettings:
    """The convnet's shape, chosen on ETTh1 validation by the research prototype."""

    width: int = 32  # features per patch token
    patch: int = 16  # rows per patch
    stride: int = 8  # rows between patch starts
    blocks: int = 1
    kernel: int = 13  # depthwise kernel, in tokens (odd)
    ffn_ratio: float = 1.0
    dropout: float = 0.3  # channel dropout inside the blocks


class PatchConvNet(nn.Module):
    """Channel-independent patch convnet (ModernTCN / PatchTST spirit).

    Per variable: the window is normalized on its own (RevIN without affine
    parameters), padded at the end with ``stride`` copies of its last value,
    cut into patches (16 rows every 8: 42 tokens at L=336) embedded by
    Linear(patch, width), passed through large-kernel depthwise-conv blocks,
    flattened into Linear(tokens * width, H) and de-normalized. With
    ``quantiles`` > 0 each quantile gets its own head: [B, H, C, quantiles].

    Receptive field: the whole lookback (the head sees every token, and the
    normalization every row); one depthwise conv reaches (kernel - 1) *
    stride + patch rows: 112 at the defaults.
    """

    def __init__(self, lookback: int, horizon: int, quantiles: int = 0, **settings: float) -> None:
        super().__init__()
        s = PatchConvSettings(**settings)
        if s.kernel % 2 == 0 or s.patch > lookback + s.stride:
            raise UserError(
                f"conv settings kernel {s.kernel}, patch {s.patch} do not fit lookback {lookback}; "
                "use an odd kernel and a patch no longer than the lookback"
            )
        self.horizon, self.quantiles = horizon, quantiles
        self.patch, self.stride = s.patch, s.stride
        self.tokens = (lookback + s.stride - s.patch) // s.stride + 1
        self.embed = nn.Linear(s.patch, s.width)
        self.blocks = nn.Sequential(
            *[ConvBlock(s.width, s.kernel, s.ffn_ratio, s.dropout) for _ in range(s.blocks)]
        )
        self.head = nn.Linear(s.width * self.tokens, horizon * max(1, quantiles))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, lookback, variables = x.shape
        series = x.transpose(1, 2).reshape(batch * variables, lookback)
        mean = series.mean(1, keepdim=True)
        scale = torch.sqrt(series.var(1, keepdim=True, unbiased=False) + 1e-5)
        series = (series - mean) / scale
        padded = torch.cat([series, series[:, -1:].expand(-1, self.stride)], dim=1)
        z = self.blocks(self.embed(padded.unfold(1, self.patch, self.stride)))
        out = self.head(z.flatten(1))
        if self.quantiles:
            out = out.view(-1, self.horizon, self.quantiles) * scale[..., None] + mean[..., None]
            return out.view(batch, variables, self.horizon, self.quantiles).permute(0, 2, 1, 3)
        out = out * scale + mean
        return out.view(batch, variables, self.horizon).transpose(1, 2)


class TokenTCN(nn.Module):
    """convseq's TCN (non-causal dilated residual blocks) on patch tokens z [B, N, D]."""

    def __init__(self, width: int, kernel: int, dilations: tuple[int, ...], dropout: float):
        super().__init__()
        self.tcn = TCN(width, width, kernel, dilations, dropout, causal=False, spatial_dropout=True)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.tcn(z.transpose(1, 2)).transpose(1, 2)


class PatchTCN(PatchConvNet):
    """The patch convnet with convseq's TCN as its token mixer (the existing-TCN option).

    Receptive field: the whole lookback through the head; the TCN alone spans
    1 + 2 (kernel - 1) sum(dilations) = 29 tokens, (29 - 1) * 8 + 16 = 240 rows
    at the defaults (kernel 3, dilations 1, 2, 4).
    """

    def __init__(
        self,
        lookback: int,
        horizon: int,
        quantiles: int = 0,
        kernel: int = 3,
        dilations: tuple[int, ...] = (1, 2, 4),
        **settings,
    ) -> None:
        super().__init__(lookback, horizon, quantiles, **settings)
        s = PatchConvSettings(**settings)
        self.blocks = TokenTCN(s.width, kernel, tuple(dilations), s.dropout)


# ------------------------------------------------------------------ registry
class ChannelIndependent(nn.Module):
    """A per-variable model on the target columns of x [B, L, F].

    With ``--horizon`` (``multi``) the output is [B, H, targets(, Q)]; for one
    target without it, ``(batch,)`` or the path ``(batch, H)``, as the other
    forecasters give. Other input columns are not read.
    """

    def __init__(self, net: nn.Module, columns: list[int], multi: bool, min_length: int = 1):
        super().__init__()
        self.net, self.columns, self.multi = net, list(columns), multi
        self.min_length = min_length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x[:, :, self.columns])
        if self.multi:
            return out
        out = out[:, :, 0]
        return out.squeeze(-1) if out.shape[1] == 1 else out


def independent(
    shape: SeriesShape, build, quantile_head: bool = False, min_length: int = 1, why: str = ""
):
    """``build(lookback, horizon, quantiles)`` wrapped to read the shape's target columns.

    A window shorter than ``min_length`` is refused as a ``ModelDoesNotFit``
    (``--model auto`` skips such a candidate), ``why`` saying what needs it.
    """
    if shape.quantiles and not quantile_head:
        raise ValueError("it has no quantile head; pick another model or drop --quantiles")
    if shape.window < min_length:
        raise ModelDoesNotFit(
            f"windows of {shape.window} steps are too short for {why} (at least {min_length}); "
            "raise --lookback, or lower --patch or --step"
        )
    columns = shape.targets or (shape.target_index,)
    args = (shape.window, shape.horizons) + ((len(shape.quantiles),) if quantile_head else ())
    return ChannelIndependent(build(*args), columns, bool(shape.targets), min_length)


PATCH_HELP = {
    "width": "features per patch token",
    "patch": "rows per patch",
    "stride": "rows between patch starts",
    "blocks": "depthwise-convolution blocks",
    "kernel": "depthwise kernel, in tokens (odd)",
    "ffn_ratio": "hidden size of each block's feed-forward layer, per token feature",
    "dropout": "channel dropout inside the blocks",
}
SMALL_PATCH = {"width": 8, "patch": 8, "stride": 4}


@register_model(
    "series-patch-conv",
    "forecast",
    "channel-independent patch convnet (ModernTCN/PatchTST spirit): per-window normalization, "
    "patches, large-kernel depthwise convolutions, one linear head per horizon",
    help=PATCH_HELP,
    example_settings=SMALL_PATCH,
)
def series_patch_conv(
    shape: SeriesShape,
    *,
    width: int = 32,
    patch: int = 16,
    stride: int = 8,
    blocks: int = 1,
    kernel: int = 13,
    ffn_ratio: float = 1.0,
    dropout: float = 0.3,
) -> nn.Module:
    settings = dict(width=width, patch=patch, stride=stride, blocks=blocks, kernel=kernel)
    settings.update(ffn_ratio=ffn_ratio, dropout=dropout)
    why = f"patches of {patch} rows every {stride}"
    return independent(
        shape, lambda *a: PatchConvNet(*a, **settings), True, max(1, patch - stride), why
    )


@register_model(
    "series-patch-tcn",
    "forecast",
    "the patch convnet with convseq's dilated TCN as its token mixer",
    help={
        **{k: PATCH_HELP[k] for k in ("width", "patch", "stride", "dropout")},
        "tcn_kernel": "TCN kernel, in tokens",
        "dilations": "TCN dilations",
    },
    example_settings=SMALL_PATCH,
)
def series_patch_tcn(
    shape: SeriesShape,
    *,
    width: int = 32,
    patch: int = 16,
    stride: int = 8,
    dropout: float = 0.3,
    tcn_kernel: int = 3,
    dilations: list[int] = [1, 2, 4],  # noqa: B006 (read, never changed)
) -> nn.Module:
    settings = dict(width=width, patch=patch, stride=stride, dropout=dropout)
    return independent(
        shape,
        lambda *a: PatchTCN(*a, kernel=tcn_kernel, dilations=tuple(dilations), **settings),
        True,
        max(1, patch - stride),
        f"patches of {patch} rows every {stride}",
    )


@register_model(
    "series-dlinear",
    "forecast",
    "DLinear (Zeng et al. 2023): moving-average trend and the rest, a linear map each, per variable",
    help={"kernel": "moving-average length of the trend (odd)"},
)
def series_dlinear(shape: SeriesShape, *, kernel: int = 25) -> nn.Module:
    return independent(shape, lambda lookback, horizon: DLinear(lookback, horizon, kernel))


@register_model(
    "series-nlinear",
    "forecast",
    "NLinear (Zeng et al. 2023): a linear map of the window minus its last value, per variable",
)
def series_nlinear(shape: SeriesShape) -> nn.Module:
    return independent(shape, NLinear)


# the benchmark's short names
BENCHMARK_MODELS = {
    "repeat": "common-sense",
    "nlinear": "series-nlinear",
    "dlinear": "series-dlinear",
    "conv": "series-patch-conv",
    "tcn": "series-patch-tcn",
}


def build_model(
    name: str,
    lookback: int,
    horizon: int,
    levels: tuple[float, ...] = (),
    variables: int = 1,
    **settings,
) -> nn.Module:
    """Benchmark model ``name`` for windows of ``variables`` columns, forecasting all of them
    (one output per quantile level with ``levels``)."""
    if name not in BENCHMARK_MODELS:
        raise UserError(
            f"unknown benchmark model {name!r}; choose from {', '.join(BENCHMARK_MODELS)}"
        )
    shape = SeriesShape(
        num_features=variables,
        window=lookback,
        horizons=horizon,
        targets=tuple(range(variables)),
        quantiles=tuple(levels),
    )
    return get_model(BENCHMARK_MODELS[name]).make(shape, settings)
