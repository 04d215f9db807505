"""Layers for batches of cases of unequal lengths, padded at the end and masked.

A batch comes in as ``(cases, time, channels)`` with NaN after each case's
end (``data/cases.py``); ``unpad`` turns it into ``(cases, channels, time)``
with zeros there and a mask ``(cases, 1, time)``, 1 on the case's steps.

Every layer keeps the padded steps of its output at exactly 0. A "same"
convolution at a case's last steps then sees zeros past its end, as it would
if the case were alone in the batch, so in evaluation a case's output does
not depend on the batch's padding. Batch norm's training statistics count
the cases' steps only, max pooling never picks padding, and global average
pooling divides by each case's own length.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def unpad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NaN-padded ``(B, T, C)`` -> zero-padded ``(B, C, T)`` and its float mask ``(B, 1, T)``."""
    present = ~torch.isnan(x).any(dim=2, keepdim=True)  # (B, T, 1)
    x = torch.where(present, x, torch.zeros_like(x))
    return x.transpose(1, 2), present.transpose(1, 2).to(x.dtype)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics leave the padding out; padding comes out as 0."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.training:
            count = mask.sum()
            mean = (x * mask).sum(dim=(0, 2)) / count
            var = (((x - mean[None, :, None]) * mask) ** 2).sum(dim=(0, 2)) / count
            with torch.no_grad():
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + self.eps)
        return (y * self.weight[None, :, None] + self.bias[None, :, None]) * mask


def masked_max_pool(x: torch.Tensor, mask: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Stride-1 "same" max pooling in which padding never wins; padding comes out as 0."""
    hidden = torch.where(mask > 0, x, torch.full_like(x, float("-inf")))
    pooled = F.max_pool1d(hidden, size, stride=1, padding=size // 2)
    return torch.where(mask > 0, pooled, torch.zeros_like(pooled))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Global average over each case's own steps: ``(B, C, T)`` -> ``(B, C)``."""
    return (x * mask).sum(dim=2) / mask.sum(dim=2).clamp(min=1)


class SameConv1d(nn.Conv1d):
    """A stride-1 convolution whose output is as long as its input (an even kernel gets its
    extra zero on the right, as Keras's padding="same")."""

    def __init__(self, channels_in: int, channels_out: int, size: int, bias: bool = True):
        super().__init__(channels_in, channels_out, size, bias=bias)
        self.sides = ((size - 1) // 2, size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.sides))


class ConvNorm(nn.Module):
    """ "same" Conv1d -> masked batch norm -> ReLU (optional); padding stays 0."""

    def __init__(self, channels_in: int, channels_out: int, size: int, relu: bool = True):
        super().__init__()
        self.conv = SameConv1d(channels_in, channels_out, size)
        self.norm = MaskedBatchNorm1d(channels_out)
        self.relu = relu

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x) * mask, mask)
        return F.relu(y) if self.relu else y
