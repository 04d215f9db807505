"""Training for the long-horizon benchmark: the benchmark's recipe, early stopping on validation.

Every model maps x [B, L, C] to [B, H, C] (or [B, H, C, Q] with a quantile
head). The loop draws stride-1 windows by index from a shuffled permutation
(the benchmark's train loader: shuffled, last incomplete batch dropped),
scores every validation window after each epoch and restores the best
epoch's weights. Random state is seeded per run and handed back afterwards,
so calling it leaves the process as it was.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn

from convseq.data.ltsf import Segment
from convseq.errors import UserError
from convseq.training.seed import preserved_random_state
from convseq.training.tasks import pinball_loss


@dataclass
class TrainSettings:
    """One recipe: optimizer, schedule, loss and stopping."""

    lr: float = 0.005
    batch_size: int = 32
    epochs: int = 10
    patience: int = 3
    schedule: str = "type1"  # type1: lr0 * 0.5**(epoch - 1) after each epoch; cosine: per step
    loss: str = "mse"  # mse | mae | pinball (the quantile head)
    steps_per_epoch: int = 0  # 0: every training window once per epoch
    eval_batch_size: int = 512


# LTSF-Linear's recipes (run_longExp.py defaults: 10 epochs, patience 3, lradj type1). NLinear:
# scripts/EXP-LongForecasting/Linear/{etth1,weather}.sh. DLinear: the paper's rows come from
# scripts/EXP-LongForecasting/DLinear/{etth1,weather}.sh (ETTh1 batch 8 at the default lr 1e-4;
# the repository's note of 2022/08/25 says DLinear's figures differ slightly under the later
# shared Linear/ scripts, batch 32 and lr 0.005: 0.381 / 0.407 / 0.441 / 0.53 here on ETTh1).
LINEAR_RECIPES = {
    ("nlinear", "etth1"): TrainSettings(lr=0.005, batch_size=32),
    ("dlinear", "etth1"): TrainSettings(lr=0.0001, batch_size=8),
    ("nlinear", "weather"): TrainSettings(lr=0.0001, batch_size=16),
    ("dlinear", "weather"): TrainSettings(lr=0.0001, batch_size=16),
}
# the convnet's recipe, chosen on ETTh1 validation by the research prototype: MAE loss (the
# early stopping still watches the validation MSE), cosine decay, batches of 64 windows
CONV_RECIPE = TrainSettings(lr=0.001, batch_size=64, schedule="cosine", loss="mae")
CONV_STEPS = {"weather": 120}  # Weather: 120 random batches per epoch (7,680 of 36,456 windows)


def recipe(model: str, dataset: str, loss: str | None = None) -> TrainSettings:
    """The recipe of ``model`` on ``dataset`` (another file gets ETTh1's)."""
    if model == "conv":
        settings = replace(CONV_RECIPE, steps_per_epoch=CONV_STEPS.get(dataset, 0))
    elif (model, "etth1") in LINEAR_RECIPES:
        settings = LINEAR_RECIPES.get((model, dataset), LINEAR_RECIPES[(model, "etth1")])
    else:
        raise UserError(f"no training recipe for {model!r}; conv, nlinear and dlinear have one")
    return replace(settings, loss=loss) if loss else settings


def training_loss(kind: str, pred, target, quantiles) -> torch.Tensor:
    if kind == "mse":
        return torch.mean((pred - target) ** 2)
    if kind == "mae":
        return torch.mean(torch.abs(pred - target))
    return pinball_loss(pred, target, quantiles)


@torch.no_grad()
def predict(model: nn.Module, segment: Segment, batch_size: int = 512) -> np.ndarray:
    """The forecast of every window of ``segment`` in order: [N, H, C] or [N, H, C, Q], float32."""
    model.eval()
    out = []
    for start in range(0, segment.n_windows, batch_size):
        x, _ = segment.windows(torch.arange(start, min(start + batch_size, segment.n_windows)))
        out.append(model(x).float().numpy())
    return np.concatenate(out)


@torch.no_grad()
def validation_loss(model, segment: Segment, batch_size: int, quantiles) -> float:
    """Validation criterion over every window: the MSE, or the pinball loss for a quantile head."""
    model.eval()
    total = 0.0
    for start in range(0, segment.n_windows, batch_size):
        idx = torch.arange(start, min(start + batch_size, segment.n_windows))
        x, y = segment.windows(idx)
        pred = model(x)
        kind = "pinball" if quantiles is not None else "mse"
        total += float(training_loss(kind, pred, y, quantiles)) * len(idx)
    return total / segment.n_windows


@dataclass
class FitResult:
    best_epoch: int
    best_val: float
    epochs_run: int
    seconds: float


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def fit(
    build,
    train: Segment,
    val: Segment,
    settings: TrainSettings,
    seed: int,
    quantiles: tuple[float, ...] = (),
) -> tuple[nn.Module, FitResult]:
    """``build()``'s model trained with Adam, stopped on validation, best epoch restored.

    The model is built inside the seeded state, so its initial weights follow the seed too.
    """
    started = time.perf_counter()
    levels = torch.tensor(quantiles, dtype=torch.float32) if quantiles else None
    with preserved_random_state():
        torch.manual_seed(seed)
        model = build()
        order = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad], settings.lr
        )
        windows = train.n_windows
        steps = max(1, windows // settings.batch_size)  # the last incomplete batch is dropped
        if settings.steps_per_epoch:
            steps = min(steps, settings.steps_per_epoch)
        total_steps, step = steps * settings.epochs, 0
        best, best_state, best_epoch, stale, epoch = math.inf, None, 0, 0, 0
        for epoch in range(1, settings.epochs + 1):
            model.train()
            permutation = torch.randperm(windows, generator=order)
            for i in range(steps):
                if settings.schedule == "cosine":
                    set_lr(
                        optimizer, settings.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
                    )
                x, y = train.windows(
                    permutation[i * settings.batch_size : (i + 1) * settings.batch_size]
                )
                loss = training_loss(settings.loss, model(x), y, levels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
            score = validation_loss(model, val, settings.eval_batch_size, levels)
            if score < best:
                best, best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            if stale >= settings.patience:
                break
            if settings.schedule == "type1":  # the benchmark's adjust_learning_rate(epoch + 1)
                set_lr(optimizer, settings.lr * 0.5 ** (epoch - 1))
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, FitResult(best_epoch, best, epoch, time.perf_counter() - started)
