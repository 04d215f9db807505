"""Optimizers and learning-rate schedules, chosen by name from the run config."""

from __future__ import annotations

import math

import torch

from convseq.config import OPTIMIZERS, SCHEDULES
from convseq.errors import UserError
from convseq.training.lazy_adam import LazyAdam
from convseq.training.rmsprop import RMSprop


def sparse_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Weights of the embeddings built with ``sparse=True``, whose gradients are sparse."""
    return [
        module.weight
        for module in model.modules()
        if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)) and module.sparse
    ]


def make_optimizer(
    name: str, params, lr: float, weight_decay: float = 0.0, sparse=()
) -> torch.optim.Optimizer:
    """RMSprop uses Keras's defaults (rho 0.9, eps 1e-7) so the reference trains as in Keras.

    RMSprop is torch's arithmetic that also takes sparse embedding gradients
    (see ``convseq.training.rmsprop``). ``sparse`` lists the parameters of
    ``sparse=True`` embeddings; Adam and AdamW train those lazily through
    ``DenseAndSparseAdam``. Optimizers without ``accepts_sparse_grads`` get
    dense gradients from the trainer. Adam and AdamW update all parameters in
    one batched ("foreach") pass: bit for bit the same arithmetic as one
    tensor at a time, in fewer small ops.
    """
    if lr <= 0:
        raise UserError(f"learning rate must be positive, got {lr}; pass e.g. --lr 0.001")
    sparse_ids = {id(p) for p in sparse}
    if sparse_ids and name in ("adam", "adamw"):
        params = list(params)
        dense = [p for p in params if id(p) not in sparse_ids]
        chosen = [p for p in params if id(p) in sparse_ids]
        return DenseAndSparseAdam(dense, chosen, lr, weight_decay, decoupled=name == "adamw")
    if name == "rmsprop":
        return RMSprop(params, lr=lr, rho=0.9, eps=1e-7, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise UserError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def densify_sparse_grads(params) -> None:
    """Turn sparse gradients into dense ones, for optimizers and clipping that need them."""
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.to_dense()


def clip_gradients(params, max_norm: float) -> float:
    """Scale all gradients so their global L2 norm is at most ``max_norm``; return the norm.

    Like ``torch.nn.utils.clip_grad_norm_``, which cannot take the sparse
    gradients of large embedding tables: those are coalesced first, so rows a
    batch touched twice count once, as in the dense gradient.
    """
    dense, sparse = [], []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            sparse.append(p.grad)
        else:
            dense.append(p.grad)
    squares = [g.detach().pow(2).sum() for g in dense]
    squares += [g._values().detach().pow(2).sum() for g in sparse]
    if not squares:
        return 0.0
    norm = float(torch.stack(squares).sum().sqrt())
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in dense + sparse:
            g.mul_(scale)
    return norm


class DenseAndSparseAdam(torch.optim.Optimizer):
    """Adam (or AdamW) for dense gradients plus ``LazyAdam`` for sparse ones, as one.

    A large embedding table trained with dense Adam costs a full pass over the
    table every step; LazyAdam only touches the rows a batch used. Exposing
    the two inner optimizers' parameter groups as this optimizer's lets every
    learning-rate schedule drive both. Weight decay applies to the dense
    parameters only (LazyAdam has none).
    """

    accepts_sparse_grads = True

    def __init__(self, dense, sparse, lr: float, weight_decay: float = 0.0, decoupled=False):
        dense, sparse = list(dense), list(sparse)
        inner = torch.optim.AdamW if decoupled else torch.optim.Adam
        self.dense = inner(dense, lr=lr, weight_decay=weight_decay, foreach=True) if dense else None
        self.sparse = LazyAdam(sparse, lr=lr)
        super().__init__(dense + sparse, {"lr": lr, "betas": (0.9, 0.999)})
        self._share_groups()

    def _inner(self):
        return [opt for opt in (self.dense, self.sparse) if opt is not None]

    def _share_groups(self) -> None:
        """Expose the inner optimizers' group dicts, so a schedule's lr reaches them."""
        self.param_groups = [group for opt in self._inner() for group in opt.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for opt in self._inner():
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self._inner():
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return {"inner": [opt.state_dict() for opt in self._inner()]}

    def load_state_dict(self, state_dict) -> None:
        for opt, state in zip(self._inner(), state_dict["inner"], strict=True):
            opt.load_state_dict(state)
        self._share_groups()  # loading replaced the inner group dicts


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
