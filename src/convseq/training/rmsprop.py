"""RMSprop that also takes sparse row gradients and still computes dense RMSprop.

Keras applies RMSprop densely to an embedding table: every step, every row's
square-average decays by ``rho`` (its gradient is zero unless the row's token
was in the batch), and only rows with a gradient move. Doing that over a
10,000 x 128 table each step costs more than the whole fused convolution, so
for a sparse gradient (torch.sparse COO rows, as ``nn.Embedding(sparse=True)``
or the fused embedding-conv layer produce) this optimizer records the step at
which each row was last brought up to date and applies the decays it missed
(``rho ** steps_missed``) when the row is next touched. The numbers are those
of the dense update up to float rounding.

The update is torch's, ``w -= lr * g / (sqrt(v) + eps)``; ``eps_inside_sqrt``
switches to Keras's (and TensorFlow's ApplyRMSProp) ``w -= lr * g / sqrt(v + eps)``,
which with eps = 1e-7 takes much smaller steps for small gradients, such as
those of rare words' embedding rows.
"""

from __future__ import annotations

import torch


class RMSprop(torch.optim.Optimizer):
    """RMSprop without momentum or centering; ``weight_decay`` is L2 added to the gradient."""

    accepts_sparse_grads = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        rho: float = 0.9,
        eps: float = 1e-7,
        weight_decay: float = 0.0,
        eps_inside_sqrt: bool = False,
    ):
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "eps_inside_sqrt": eps_inside_sqrt,
        }
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        for state in self.state.values():  # torch casts every state tensor to the param's dtype
            if "row_step" in state:
                state["row_step"] = state["row_step"].long()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            dense: list[tuple[torch.Tensor, torch.Tensor]] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                grad = p.grad
                if grad.is_sparse and not group["weight_decay"]:
                    _sparse_update(p, grad, state, group)
                else:
                    if grad.is_sparse:  # weight decay moves every row: go dense
                        grad = grad.to_dense()
                    _catch_up(p, state, group["rho"])
                    state["step"] += 1
                    if group["weight_decay"]:
                        grad = grad.add(p, alpha=group["weight_decay"])
                    dense.append((p, grad))
            if dense:
                _dense_update(dense, [self.state[p]["square_avg"] for p, _ in dense], group)
        return loss


def _catch_up(p: torch.Tensor, state: dict, rho: float) -> None:
    """Apply the decays that rows skipped by earlier sparse steps still owe."""
    if "row_step" in state:
        missed = (state["step"] - state.pop("row_step")).to(p.dtype)
        state["square_avg"].mul_(_rows_view(torch.pow(rho, missed), p))


def _dense_update(pairs, square_avgs, group: dict) -> None:
    """One RMSprop step for many dense tensors, a few multi-tensor kernels in all."""
    params = [p for p, _ in pairs]
    grads = [g for _, g in pairs]
    rho, eps = group["rho"], group["eps"]
    torch._foreach_mul_(square_avgs, rho)
    torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - rho)
    if group["eps_inside_sqrt"]:
        denominators = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(denominators)
    else:
        denominators = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(denominators, eps)
    torch._foreach_addcdiv_(params, grads, denominators, value=-group["lr"])


def _sparse_update(p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
    rho = group["rho"]
    if "row_step" not in state:  # every row is up to date now
        state["row_step"] = torch.full(
            (p.shape[0],), state["step"], dtype=torch.long, device=p.device
        )
    state["step"] += 1
    step, row_step = state["step"], state["row_step"]
    rows, values = _unique_rows(grad)
    missed = (step - row_step.index_select(0, rows)).to(p.dtype)
    decay = _rows_view(torch.pow(rho, missed), p)
    square_avg = state["square_avg"].index_select(0, rows).mul_(decay)
    square_avg.addcmul_(values, values, value=1 - rho)
    state["square_avg"].index_copy_(0, rows, square_avg)
    row_step.index_fill_(0, rows, step)
    moved = p.index_select(0, rows)
    moved.addcdiv_(values, _denominator(square_avg, group), value=-group["lr"])
    p.index_copy_(0, rows, moved)


def _denominator(square_avg: torch.Tensor, group: dict) -> torch.Tensor:
    """``sqrt(v) + eps`` (torch) or ``sqrt(v + eps)`` (Keras), computed in place."""
    if group["eps_inside_sqrt"]:
        return square_avg.add_(group["eps"]).sqrt_()
    return square_avg.sqrt_().add_(group["eps"])


def _rows_view(per_row: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """A per-row factor shaped to broadcast over the other dimensions of ``p``."""
    return per_row.view(-1, *([1] * (p.dim() - 1)))


def _unique_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices and values of a sparse gradient, each row once.

    Autograd drops the "coalesced" flag when it stores a gradient, so rows
    already in increasing order (as the fused layer emits them) are taken as
    they are rather than paying for a sort.
    """
    if not grad.is_coalesced():
        rows = grad._indices()[0]
        if rows.numel() < 2 or bool((rows[1:] > rows[:-1]).all()):
            return rows, grad._values()
        grad = grad.coalesce()
    return grad.indices()[0], grad.values()
