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
while this costs 0.8-1.04 times ``nn.GRU`` per training step on one CPU thread
(``benchmarks/gru_dropout.py``). In evaluation mode, or with no recurrent
dropout, it calls ``nn.GRU`` itself (with one input mask, as Keras does then),
on the same parameters.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from convseq.models.precision import in_fp32
from convseq.models.random_source import dropout_mask


def keras_gru_init(gru: nn.GRU) -> None:
    """Glorot-uniform input kernel, orthogonal recurrent kernel, zero biases, as in Keras."""
    for name, param in gru.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(param)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(param)
        else:
            nn.init.zeros_(param)


def _forward_steps(gi, weight_t, bias, mask, hs, gh, rz, new) -> None:
    """Run the recurrence, filling ``hs`` (states), ``gh``, ``rz`` and ``new`` step by step.

    Every per-step view is cut once, before the loop (``unbind``): slicing
    inside it cost a fifth of the loop's time.
    """
    masked = torch.empty_like(mask)
    h_at, gh_at, rz_at, new_at = hs.unbind(0), gh.unbind(0), rz.unbind(0), new.unbind(0)
    gi_rz, gi_n = gi[:2].unbind(1), gi[2].unbind(0)
    gh_rz, gh_n = gh[:, :2].unbind(0), gh[:, 2].unbind(0)
    r_at, z_at = rz[:, 0].unbind(0), rz[:, 1].unbind(0)
    for t in range(len(gi_n)):
        h, n = h_at[t], new_at[t]
        torch.mul(h, mask, out=masked)
        torch.baddbmm(bias, masked, weight_t, out=gh_at[t])
        torch.add(gi_rz[t], gh_rz[t], out=rz_at[t]).sigmoid_()
        torch.addcmul(gi_n[t], r_at[t], gh_n[t], out=n).tanh_()
        torch.lerp(n, h, z_at[t], out=h_at[t + 1])  # z * h + (1 - z) * n


def _backward_steps(dhs, factors, grad_gh, weight, mask, z) -> None:
    """Walk the steps backwards from ``dhs[-1]``, filling ``dhs`` and ``grad_gh``."""
    dh_at, factor_at, grad_at, z_at = (
        dhs.unbind(0),
        factors.unbind(0),
        grad_gh.unbind(1),
        z.unbind(0),
    )
    for t in range(len(dh_at) - 1, 0, -1):
        dh, grad = dh_at[t], grad_at[t]
        torch.mul(dh, factor_at[t], out=grad)
        back = torch.bmm(grad, weight)
        torch.addcmul(back.mul_(mask).sum(0), dh, z_at[t], out=dh_at[t - 1])
    torch.mul(dh_at[0], factor_at[0], out=grad_at[0])


class _MaskedRecurrence(torch.autograd.Function):
    """The GRU recurrence over precomputed input projections, with a fixed hidden-state mask.

    Gates in nn.GRU's order (r, z, n). ``gi`` (batch, time, 3, H) holds
    ``x W + b`` plus, for r and z, the recurrent biases too (they only ever add
    to the input part); ``bias_n`` (H,) is the candidate's recurrent bias,
    which the reset gate multiplies; ``mask`` (3, batch, H) holds the per-gate
    recurrent masks. Returns the last hidden state.

    Each step is a handful of ops around one batched (3 gates) matrix
    product. The backward pass first turns the saved gate values into
    per-step factors for all steps at once, so each reverse step is one
    product with those factors, one batched matrix product and a masked sum.
    The gate gradients are kept gate-major, so the weight gradient is one
    batched product, and copied once into ``gi``'s layout at the end.
    """

    @staticmethod
    def forward(ctx, gi, weight_hh, bias_n, mask):
        batch, steps, _, hidden = gi.shape
        weight_t = weight_hh.view(3, hidden, hidden).transpose(1, 2)  # h @ U^T, per gate
        hs = gi.new_empty(steps + 1, batch, hidden)
        hs[0].zero_()
        gh = gi.new_empty(steps, 3, batch, hidden)
        rz = gi.new_empty(steps, 2, batch, hidden)
        new = gi.new_empty(steps, batch, hidden)
        # the recurrent biases of r and z are folded into gi; only n's is added here
        bias = torch.cat([bias_n.new_zeros(2, hidden), bias_n.view(1, hidden)]).unsqueeze(1)
        _forward_steps(gi.permute(2, 1, 0, 3), weight_t, bias, mask, hs, gh, rz, new)
        ctx.save_for_backward(hs, rz, new, gh, weight_hh, mask)
        return hs[steps].clone()

    @staticmethod
    def backward(ctx, grad_h):
        hs, rz, new, gh, weight_hh, mask = ctx.saved_tensors
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
        grad_gh = factors.new_empty(3, steps, batch, hidden)  # gate-major
        dhs = hs.new_empty(steps, batch, hidden)  # d loss / d h_{t+1}
        dhs[-1] = grad_h
        _backward_steps(dhs, factors, grad_gh, weight, mask, z)
        flat = grad_gh.view(3, steps * batch, hidden)
        masked = (hs[:-1].unsqueeze(0) * mask.unsqueeze(1)).view(3, steps * batch, hidden)
        grad_weight = torch.bmm(flat.transpose(1, 2), masked).reshape(3 * hidden, hidden)
        grad_bias_n = grad_gh[2].sum((0, 1))
        # the input part of n is not multiplied by r: its gradient replaces gate 2's
        torch.mul(dhs, through_new, out=grad_gh[2])
        grad_gi = grad_gh.permute(2, 1, 0, 3).contiguous()
        return grad_gi, grad_weight, grad_bias_n, None


@in_fp32
def masked_recurrence(gi, weight_hh, bias_n, mask):
    return _MaskedRecurrence.apply(gi, weight_hh, bias_n, mask)


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
        batch, steps, features = x.shape
        hidden = self.hidden_size
        bias_hh = self.gru.bias_hh_l0.view(3, hidden)
        # r and z add their recurrent bias straight to the input part: fold it in here
        folded = self.gru.bias_ih_l0.view(3, hidden) + torch.cat(
            [bias_hh[:2], torch.zeros_like(bias_hh[2:])]
        )
        kernel = self.gru.weight_ih_l0.t()  # (features, 3 * hidden)
        if self.dropout > 0:
            # one input mask per gate, shared by every step: (x * m_g) W_g = x (m_g W_g),
            # so each sample gets its own masked kernel and x is never copied per gate
            in_mask = dropout_mask((batch, 3, features), self.dropout, x)
            per_gate = kernel.view(features, 3, hidden).unsqueeze(0)
            kernel = (in_mask.transpose(1, 2).unsqueeze(3) * per_gate).view(batch, features, -1)
            gi = torch.baddbmm(folded.view(1, 1, -1), x, kernel)
        else:
            gi = torch.addmm(folded.view(-1), x.reshape(-1, features), kernel)
        rec_mask = dropout_mask((3, batch, hidden), self.recurrent_dropout, x)
        return masked_recurrence(
            gi.view(batch, steps, 3, hidden), self.gru.weight_hh_l0, bias_hh[2], rec_mask
        )

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, recurrent_dropout={self.recurrent_dropout}"
