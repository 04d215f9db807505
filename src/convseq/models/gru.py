"""A GRU with Keras's dropout and *recurrent* dropout, and the fused kernel whenever it can.

Keras (``reset_after=True``, its default) computes, per step,

    z = sigmoid(x Wz + bz + h Uz + cz),  r = sigmoid(x Wr + br + h Ur + cr)
    n = tanh(x Wn + bn + r * (h Un + cn)),  h' = z * h + (1 - z) * n

which is exactly ``torch.nn.GRU``. Its dropout is variational: a mask is drawn
once per sequence and reused at every step. With ``recurrent_dropout > 0``
Keras draws three input masks and three hidden-state masks, one per gate, and
multiplies them into ``x`` and ``h`` before the gate products (the carried
state ``h`` in ``h'`` is not masked). The fused kernel cannot do that, so this
module runs its own loop then, with a hand-written backward pass
(``_MaskedRecurrence``): autograd through the same loop was 3-4 times slower,
while this costs 1.0-2.0 times ``nn.GRU`` per training step on one CPU thread
(``benchmarks/gru_dropout.py``). In evaluation mode, or with no recurrent
dropout, it calls ``nn.GRU`` itself (with one input mask, as Keras does then),
on the same parameters.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def keras_gru_init(gru: nn.GRU) -> None:
    """Glorot-uniform input kernel, orthogonal recurrent kernel, zero biases, as in Keras."""
    for name, param in gru.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(param)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(param)
        else:
            nn.init.zeros_(param)


def dropout_mask(shape, p: float, like: torch.Tensor) -> torch.Tensor:
    """An inverted-dropout mask: zeros with probability ``p``, else ``1 / (1 - p)``."""
    keep = torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1 - p)
    return keep.div_(1 - p)


class _MaskedRecurrence(torch.autograd.Function):
    """The GRU recurrence over precomputed input projections, with a fixed hidden-state mask.

    Gate-major layout throughout, gates in nn.GRU's order (r, z, n):
    ``gi`` (time, 3, batch, H) holds ``x W + b`` plus, for r and z, the
    recurrent biases too (they only ever add to the input part); ``bias_n``
    (H,) is the candidate's recurrent bias, which the reset gate multiplies;
    ``mask`` (3, batch, H) holds the per-gate recurrent masks. Returns the last
    hidden state. Each step is a handful of in-place ops around one batched
    (3 gates) matrix product. The backward pass first turns the saved gate
    values into per-step factors for all steps at once, so each reverse step
    is one product with those factors, one batched matrix product and a
    masked sum; the weight gradient is one batched product at the end.
    """

    @staticmethod
    def forward(ctx, gi, weight_hh, bias_n, mask):
        steps, _, batch, hidden = gi.shape
        weight_t = weight_hh.view(3, hidden, hidden).transpose(1, 2)  # h @ U^T, per gate
        hs = gi.new_empty(steps + 1, batch, hidden)
        hs[0].zero_()
        masked = gi.new_empty(steps, 3, batch, hidden)
        gh = gi.new_empty(steps, 3, batch, hidden)
        rz = gi.new_empty(steps, 2, batch, hidden)
        new = gi.new_empty(steps, batch, hidden)
        change = gi.new_empty(batch, hidden)
        # the recurrent biases of r and z are folded into gi; only n's is added here
        bias = torch.cat([bias_n.new_zeros(2, hidden), bias_n.view(1, hidden)]).unsqueeze(1)
        for t in range(steps):
            h, g = hs[t], gi[t]
            torch.mul(h, mask, out=masked[t])
            torch.baddbmm(bias, masked[t], weight_t, out=gh[t])
            torch.add(g[:2], gh[t, :2], out=rz[t]).sigmoid_()
            torch.addcmul(g[2], rz[t, 0], gh[t, 2], out=new[t]).tanh_()
            torch.sub(h, new[t], out=change)
            torch.addcmul(new[t], rz[t, 1], change, out=hs[t + 1])
        ctx.save_for_backward(hs, rz, new, gh, masked, weight_hh, mask)
        return hs[steps].clone()

    @staticmethod
    def backward(ctx, grad_h):
        hs, rz, new, gh, masked, weight_hh, mask = ctx.saved_tensors
        steps, batch, hidden = new.shape
        r, z = rz[:, 0], rz[:, 1]
        weight = weight_hh.view(3, hidden, hidden)
        # d h_t / d pre-activation of n, and the per-gate factors of d loss / d h_t
        through_new = (1 - z) * (1 - new * new)
        factors = torch.stack(
            [
                through_new * gh[:, 2] * r * (1 - r),  # reset gate
                (hs[:-1] - new) * z * (1 - z),  # update gate
                through_new * r,  # recurrent part of the candidate
            ],
            dim=1,
        )  # (time, 3, batch, hidden)
        grad_gh = torch.empty_like(factors)
        dhs = hs.new_empty(steps, batch, hidden)  # d loss / d h_{t+1}
        dhs[-1] = grad_h
        for t in range(steps - 1, 0, -1):
            dh = dhs[t]
            torch.mul(dh, factors[t], out=grad_gh[t])
            back = torch.bmm(grad_gh[t], weight)
            torch.addcmul(back.mul_(mask).sum(0), dh, z[t], out=dhs[t - 1])
        torch.mul(dhs[0], factors[0], out=grad_gh[0])
        grad_gi = torch.cat([grad_gh[:, :2], (dhs * through_new).unsqueeze(1)], 1)

        def per_gate(a: torch.Tensor) -> torch.Tensor:
            return a.transpose(0, 1).reshape(3, steps * batch, hidden)

        grad_weight = torch.bmm(per_gate(grad_gh).transpose(1, 2), per_gate(masked))
        return grad_gi, grad_weight.reshape(3 * hidden, hidden), grad_gh[:, 2].sum((0, 1)), None


class KerasGRU(nn.Module):
    """GRU over ``(batch, time, features)`` returning the last hidden state ``(batch, hidden)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
    ):
        super().__init__()
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        keras_gru_init(self.gru)

    @property
    def hidden_size(self) -> int:
        return self.gru.hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.dropout == 0 and self.recurrent_dropout == 0):
            return self.gru(x)[1][-1]
        if self.recurrent_dropout == 0:
            # Keras then uses one input mask for all gates and the fused kernel
            mask = dropout_mask((x.shape[0], 1, x.shape[2]), self.dropout, x)
            return self.gru(x * mask)[1][-1]
        return self._masked_forward(x)

    def _masked_forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, features = x.shape
        hidden = self.hidden_size
        weight_ih = self.gru.weight_ih_l0.view(3, hidden, features)
        if self.dropout > 0:
            # one input mask per gate, shared by every step: (batch, gate, features)
            in_mask = dropout_mask((batch, 3, features), self.dropout, x)
            xg = x.unsqueeze(2) * in_mask.unsqueeze(1)
            gi = torch.einsum("btgf,ghf->tgbh", xg, weight_ih)
        else:
            gi = torch.einsum("btf,ghf->tgbh", x, weight_ih)
        bias_hh = self.gru.bias_hh_l0.view(3, hidden)
        # r and z add their recurrent bias straight to the input part: fold it in here
        folded = self.gru.bias_ih_l0.view(3, hidden) + torch.cat(
            [bias_hh[:2], torch.zeros_like(bias_hh[2:])]
        )
        gi = (gi + folded.view(3, 1, hidden)).contiguous()
        rec_mask = dropout_mask((3, batch, hidden), self.recurrent_dropout, x)
        return _MaskedRecurrence.apply(gi, self.gru.weight_hh_l0, bias_hh[2], rec_mask)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, recurrent_dropout={self.recurrent_dropout}"
