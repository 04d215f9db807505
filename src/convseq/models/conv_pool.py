"""Conv1d -> ReLU -> MaxPool1d on channels-last windows, as one matrix product.

The forecasting convnets have few channels (14 -> 32, kernel 5) and many
steps. PyTorch's CPU convolution then spends most of its time outside the
arithmetic: layout reorders, oneDNN set-up, and a slow max-pool with indices.
Here the input stays ``(batch, time, channels)`` throughout: the windows are
gathered with ``unfold`` into one ``(batch * steps, in * kernel)`` matrix, the
convolution is one ``addmm``, and the pool is a ``max`` over a reshape.
The ReLU runs after the pool (both are monotonic, so the values are the same)
on a third of the steps. The backward pass scatters the gradient to the pool
winners and uses two matrix products, one for the kernel and one (over the
zero-padded gradient's windows) for the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _windows(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``(batch, time, in)`` -> ``(batch * steps, in * kernel)``, ordered like Conv1d's weight."""
    batch, length, channels = x.shape
    steps = length - kernel_size + 1
    return x.unfold(1, kernel_size, 1).reshape(batch * steps, channels * kernel_size)


class ConvReluPoolFunction(torch.autograd.Function):
    """``maxpool(relu(conv1d(x) + bias), pool)`` for ``x`` of (batch, time, in), channels last."""

    @staticmethod
    def forward(ctx, x, weight, bias, pool):
        batch, length, _ = x.shape
        out_channels, _, kernel_size = weight.shape
        steps = length - kernel_size + 1
        cols = _windows(x, kernel_size)
        conv = torch.addmm(bias, cols, weight.reshape(out_channels, -1).t())
        conv = conv.view(batch, steps, out_channels)
        # amax is far faster than max-with-indices here; backward finds the winners again
        out = _grouped(conv, pool).amax(dim=2) if pool > 1 else conv
        out = out.relu_()
        ctx.pool, ctx.length = pool, length
        ctx.save_for_backward(cols, weight, conv if pool > 1 else None, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        cols, weight, conv, out = ctx.saved_tensors
        pool, length = ctx.pool, ctx.length
        out_channels, in_channels, kernel_size = weight.shape
        batch = out.shape[0]
        steps = length - kernel_size + 1
        grad_pooled = grad_out * (out > 0)
        if pool > 1:
            grad_conv = _unpool(grad_pooled, _grouped(conv, pool), out, steps)
        else:
            grad_conv = grad_pooled
        flat = grad_conv.reshape(batch * steps, out_channels)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # each window's gradient, tap-major, added back at its rows
            taps = weight.permute(0, 2, 1).reshape(out_channels, kernel_size * in_channels)
            per_window = (flat @ taps).view(batch, steps, kernel_size, in_channels)
            grad_x = grad_out.new_zeros(batch, length, in_channels)
            for k in range(kernel_size):
                grad_x[:, k : k + steps] += per_window[:, :, k]
        if ctx.needs_input_grad[1]:
            grad_weight = (flat.t() @ cols).view_as(weight)
        if ctx.needs_input_grad[2]:
            grad_bias = flat.sum(0)
        return grad_x, grad_weight, grad_bias, None


def _grouped(conv: torch.Tensor, pool: int) -> torch.Tensor:
    """(batch, steps, out) -> (batch, steps // pool, pool, out); a trailing partial group is dropped."""
    batch, steps, channels = conv.shape
    pooled = steps // pool
    return conv[:, : pooled * pool].view(batch, pooled, pool, channels)


def _unpool(grad: torch.Tensor, grouped: torch.Tensor, out: torch.Tensor, steps: int):
    """Send each pooled gradient to its window's first maximum, as MaxPool1d does.

    Where ``out`` is 0 the gradient is already 0, so comparing with the
    rectified maximum finds the winners wherever it matters.
    """
    winners = grouped == out.unsqueeze(2)
    seen = winners[:, :, 0].clone()
    for p in range(1, grouped.shape[2]):  # keep only the first of tied maxima
        winners[:, :, p] &= ~seen
        seen |= winners[:, :, p]
    spread = (winners * grad.unsqueeze(2)).flatten(1, 2)
    return F.pad(spread, (0, 0, 0, steps - spread.shape[1]))


def conv_relu_pool(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pool: int = 1
) -> torch.Tensor:
    """``MaxPool1d(pool)(relu(conv1d(x.transpose(1, 2), weight, bias))).transpose(1, 2)``.

    ``x`` is (batch, time, in); the result is (batch, time', out), channels last.
    ``pool=1`` is a plain Conv1d + ReLU.
    """
    return ConvReluPoolFunction.apply(x, weight, bias, pool)
