"""Models of the long-horizon benchmark: every one maps x [B, L, C] to a forecast [B, H, C].

Channel-independent: one map is shared by all C variables, which the
benchmark's linear models showed to beat mixing them. They live in a small
registry of their own (``LTSF_MODELS``), apart from ``models/registry.py``,
because the main forecast pipeline trains single-output models only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from convseq.errors import UserError, closest
from convseq.models.tcn import TCN


class RepeatLast(nn.Module):
    """The window's last value, H times. Receptive field: 1 row."""

    def __init__(self, lookback: int, horizon: int):
        super().__init__()
        self.horizon = horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1:, :].expand(-1, self.horizon, -1)


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
    last rows (kernel - 1) // 2 times, as DLinear does; the length stays L for an odd kernel."""
    pad = (kernel - 1) // 2
    padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)
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
@dataclass(frozen=True)
class LtsfModel:
    """A benchmark model: how to build it, its own defaults and whether it is trained."""

    name: str
    build: Callable[..., nn.Module]
    description: str
    trained: bool
    defaults: dict


LTSF_MODELS = {
    m.name: m
    for m in (
        LtsfModel("repeat", RepeatLast, "the last value, repeated", False, {}),
        LtsfModel("nlinear", NLinear, "NLinear (Zeng et al. 2023)", True, {}),
        LtsfModel("dlinear", DLinear, "DLinear, moving average 25", True, {"kernel": 25}),
        LtsfModel(
            "conv",
            PatchConvNet,
            "channel-independent patch convnet",
            True,
            asdict(PatchConvSettings()),
        ),
        LtsfModel(
            "tcn",
            PatchTCN,
            "the patch convnet with convseq's TCN as token mixer",
            True,
            {**asdict(PatchConvSettings()), "kernel": 3, "dilations": (1, 2, 4)},
        ),
    )
}


def build_model(
    name: str, lookback: int, horizon: int, quantiles: int = 0, **settings
) -> nn.Module:
    """A fresh model ``name`` for one lookback and horizon, its defaults overridden by ``settings``."""
    if name not in LTSF_MODELS:
        raise UserError(
            f"unknown benchmark model {name!r}{closest(name, LTSF_MODELS)}; choose from "
            f"{', '.join(LTSF_MODELS)}"
        )
    entry = LTSF_MODELS[name]
    unknown = set(settings) - set(entry.defaults)
    if unknown:
        raise UserError(
            f"model {name} has no setting {', '.join(sorted(unknown))}; its settings are "
            f"{', '.join(entry.defaults) or 'none'}"
        )
    options = {**entry.defaults, **settings}
    if quantiles:
        if name not in ("conv", "tcn"):
            raise UserError(f"only conv and tcn have a quantile head, not {name}; drop --quantiles")
        return entry.build(lookback, horizon, quantiles=quantiles, **options)
    return entry.build(lookback, horizon, **options)
