"""The convnets of time-series classification, as published, for cases of any lengths.

- ``series-fcn``: Wang, Yan & Oates (2017): three convolutions (128, 256, 128
  filters; kernels 8, 5, 3), each with batch norm and ReLU, global average
  pooling, a linear layer.
- ``series-resnet``: the same paper's ResNet: three residual blocks of three
  such convolutions (64, 128, 128 filters), a 1x1 convolution on the shortcut
  where the width changes.
- ``inceptiontime``: Ismail Fawaz et al. (2020): an ensemble of five Inception
  networks, each six modules (a 1x1 bottleneck, then kernels 39, 19, 9 beside
  a max pool and 1x1 convolution, 32 filters each), a residual connection
  every three modules.

Each takes ``(cases, time, channels)`` with NaN after each case's end and
masks the padding (``models/masked.py``); it returns logits, ``(cases,)``
for two classes, ``(cases, classes)`` otherwise.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from convseq.models.ensemble import Ensemble
from convseq.models.masked import (
    ConvNorm,
    MaskedBatchNorm1d,
    SameConv1d,
    masked_max_pool,
    masked_mean,
    unpad,
)
from convseq.models.registry import CaseShape, register_model


class Pooled(nn.Module):
    """The shared end: the mask from the NaN padding, the body, global average pooling, logits."""

    def __init__(self, body: nn.Module, width: int, outputs: int):
        super().__init__()
        self.body, self.head = body, nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, mask = unpad(x)
        logits = self.head(masked_mean(self.body(x, mask), mask))
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits


class Stack(nn.Module):
    """Blocks applied in turn, each given the mask."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x, mask):
        for block in self.blocks:
            x = block(x, mask)
        return x


class Residual(nn.Module):
    """Three ConvNorms (the last without ReLU) plus the shortcut, then ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernels: list[int]):
        super().__init__()
        sizes = [channels_in, channels_out, channels_out, channels_out]
        self.convs = Stack([ConvNorm(sizes[i], sizes[i + 1], k, relu=i < len(kernels) - 1)
                            for i, k in enumerate(kernels)])  # fmt: skip
        self.shortcut = (
            nn.Conv1d(channels_in, channels_out, 1) if channels_in != channels_out else None
        )
        self.norm = MaskedBatchNorm1d(channels_out)

    def forward(self, x, mask):
        short = x if self.shortcut is None else self.shortcut(x) * mask
        return F.relu(self.convs(x, mask) + self.norm(short, mask))


class InceptionModule(nn.Module):
    """Bottleneck 1x1 (when more than one channel comes in), three convolutions beside a max
    pool and 1x1 convolution, concatenated, batch norm, ReLU; no biases (the norm follows)."""

    def __init__(self, channels_in: int, filters: int, kernels: list[int], bottleneck: int):
        super().__init__()
        use = bottleneck and channels_in > 1
        self.bottleneck = nn.Conv1d(channels_in, bottleneck, 1, bias=False) if use else None
        narrow = bottleneck if use else channels_in
        self.convs = nn.ModuleList(SameConv1d(narrow, filters, k, bias=False) for k in kernels)
        self.pool_conv = nn.Conv1d(channels_in, filters, 1, bias=False)
        self.norm = MaskedBatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x, mask):
        narrow = x if self.bottleneck is None else self.bottleneck(x) * mask
        branches = [conv(narrow) for conv in self.convs]
        branches.append(self.pool_conv(masked_max_pool(x, mask)))
        return F.relu(self.norm(torch.cat(branches, dim=1) * mask, mask))


class Inception(nn.Module):
    """``depth`` modules with a 1x1-convolution shortcut around every three."""

    def __init__(
        self, channels: int, depth: int, filters: int, kernels: list[int], bottleneck: int
    ):
        super().__init__()
        self.width = filters * (len(kernels) + 1)
        self.modules_ = nn.ModuleList(
            InceptionModule(channels if d == 0 else self.width, filters, kernels, bottleneck)
            for d in range(depth)
        )
        self.shortcuts = nn.ModuleList(
            nn.Conv1d(channels if r == 0 else self.width, self.width, 1, bias=False)
            for r in range(depth // 3)
        )
        self.norms = nn.ModuleList(MaskedBatchNorm1d(self.width) for _ in range(depth // 3))

    def forward(self, x, mask):
        kept = x
        for d, module in enumerate(self.modules_):
            x = module(x, mask)
            if d % 3 == 2:
                r = d // 3
                x = F.relu(x + self.norms[r](self.shortcuts[r](kept) * mask, mask))
                kept = x
        return x


@register_model(
    "series-fcn",
    "classify",
    "fully convolutional network (Wang et al. 2017): 3 x [Conv1D, batch norm, ReLU], global "
    "average pooling, Dense",
    help={"filters": "filters of each convolution", "kernels": "kernel size of each convolution"},
    example_settings={"filters": [8, 8, 8]},
)
def series_fcn(shape: CaseShape, *, filters: list[int] = [128, 256, 128],  # noqa: B006
               kernels: list[int] = [8, 5, 3]) -> nn.Module:  # noqa: B006  # fmt: skip
    if len(filters) != len(kernels):
        raise ValueError(f"{len(filters)} filter counts for {len(kernels)} kernel sizes")
    sizes = [shape.num_channels, *filters]
    body = Stack([ConvNorm(sizes[i], sizes[i + 1], k) for i, k in enumerate(kernels)])
    return Pooled(body, sizes[-1], shape.num_outputs)


@register_model(
    "series-resnet",
    "classify",
    "residual network (Wang et al. 2017): 3 blocks of 3 x [Conv1D 8/5/3, batch norm], "
    "shortcuts, global average pooling, Dense",
    help={"widths": "filters of each residual block"},
    example_settings={"widths": [8, 8, 8]},
)
def series_resnet(shape: CaseShape, *, widths: list[int] = [64, 128, 128]) -> nn.Module:  # noqa: B006
    sizes = [shape.num_channels, *widths]
    body = Stack([Residual(sizes[i], sizes[i + 1], [8, 5, 3]) for i in range(len(widths))])
    return Pooled(body, sizes[-1], shape.num_outputs)


@register_model(
    "inceptiontime",
    "classify",
    "InceptionTime (Ismail Fawaz et al. 2020): the mean of 5 Inception networks of 6 modules "
    "(kernels 39/19/9 beside a max pool), shortcuts every 3",
    help={
        "members": "Inception networks averaged (each trained on its own loss)",
        "depth": "Inception modules per network (a shortcut around every 3)",
        "filters": "filters per branch of a module",
        "kernels": "kernel sizes of a module's convolutions",
        "bottleneck": "channels of the 1x1 bottleneck before the convolutions",
    },
    example_settings={"members": 2, "depth": 3, "filters": 4, "bottleneck": 4},
)
def inceptiontime(shape: CaseShape, *, members: int = 5, depth: int = 6, filters: int = 32,
                  kernels: list[int] = [39, 19, 9], bottleneck: int = 32) -> nn.Module:  # noqa: B006  # fmt: skip
    def one():
        body = Inception(shape.num_channels, depth, filters, kernels, bottleneck)
        return Pooled(body, body.width, shape.num_outputs)

    return one() if members == 1 else Ensemble([one() for _ in range(members)])
