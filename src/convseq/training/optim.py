"""Optimizers and learning-rate schedules, chosen by name from the run config."""

from __future__ import annotations

import math

import torch

from convseq.errors import UserError
from convseq.training.rmsprop import RMSprop

OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd")
SCHEDULES = ("none", "cosine", "onecycle", "plateau")


def make_optimizer(
    name: str, params, lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """RMSprop uses Keras's defaults (rho 0.9, eps 1e-7) so the reference trains as in Keras.

    It is torch's RMSprop arithmetic that also takes sparse embedding gradients
    (see ``convseq.training.rmsprop``); the other optimizers get dense gradients
    from the trainer.
    """
    if lr <= 0:
        raise UserError(f"learning rate must be positive, got {lr}; pass e.g. --lr 0.001")
    if name == "rmsprop":
        return RMSprop(params, lr=lr, rho=0.9, eps=1e-7, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def densify_sparse_grads(params) -> None:
    """Turn sparse gradients into dense ones, for optimizers and clipping that need them."""
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.to_dense()


class Schedule:
    """Wraps a torch scheduler with the step granularity it needs (per batch or per epoch)."""

    def __init__(self, name: str, optimizer, total_steps: int, monitor_mode: str = "min"):
        if name not in SCHEDULES:
            raise UserError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
        self.name = name
        self.scheduler = None
        if name == "cosine":
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer,
                lambda step: (
                    0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
                ),
            )
        elif name == "onecycle":
            max_lr = [g["lr"] for g in optimizer.param_groups]
            # cycle momentum only where the optimizer has one (not RMSprop)
            momentum = optimizer.defaults.get("momentum") or "betas" in optimizer.defaults
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=max_lr,
                total_steps=max(total_steps, 2),
                cycle_momentum=bool(momentum),
            )
        elif name == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode=monitor_mode, factor=0.5, patience=1
            )

    def after_batch(self) -> None:
        if self.name in ("cosine", "onecycle"):
            self.scheduler.step()

    def after_epoch(self, monitored: float) -> None:
        if self.name == "plateau":
            self.scheduler.step(monitored)

    def state_dict(self):
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)
