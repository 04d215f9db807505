"""Adam for sparse row gradients that only touches the rows a batch used.

The same arithmetic as ``torch.optim.SparseAdam`` (moments and parameters of
the rows present move; bias correction follows the parameter's step count),
written as row gathers and scatters: SparseAdam builds several sparse
tensors and adds them into the dense state, which on a 90,000 x 400 region
table cost more than the model's forward and backward together.
"""

from __future__ import annotations

import math

import torch

from convseq.training.rmsprop import unique_rows


class LazyAdam(torch.optim.Optimizer):
    """Adam over sparse gradients (rows absent from a batch keep their moments)."""

    accepts_sparse_grads = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise RuntimeError("LazyAdam takes sparse gradients; use Adam for dense ones")
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                step = float(state["step"])
                rows, values = unique_rows(p.grad)
                exp_avg = state["exp_avg"].index_select(0, rows)
                exp_avg.mul_(beta1).add_(values, alpha=1 - beta1)
                exp_avg_sq = state["exp_avg_sq"].index_select(0, rows)
                exp_avg_sq.mul_(beta2).addcmul_(values, values, value=1 - beta2)
                state["exp_avg"].index_copy_(0, rows, exp_avg)
                state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
                step_size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                update = exp_avg.div_(exp_avg_sq.sqrt_().add_(group["eps"]))
                p.index_add_(0, rows, update, alpha=-step_size)
        return loss
