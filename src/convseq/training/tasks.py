"""Tasks pair a loss on the model's raw output with the metrics to report.

Each task accumulates metrics as sums over batches, so an epoch's figures are
exact means over samples, whatever the batch sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Task:
    name = "task"
    monitor = "val_loss"  # the history column that picks the best epoch
    mode = "min"
    metric_names: tuple[str, ...] = ()

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batch_metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Sums over the batch (not means) of each metric in ``metric_names``."""
        return {}

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best


class BinaryClassification(Task):
    """One logit per sample; loss is binary cross-entropy on logits."""

    name = "binary"
    monitor = "val_acc"
    mode = "max"
    metric_names = ("acc",)

    def loss(self, output, target):
        return F.binary_cross_entropy_with_logits(output, target.float())

    def batch_metrics(self, output, target):
        return {"acc": ((output > 0).long() == target.long()).sum().item()}


class MulticlassClassification(Task):
    """One logit per class; loss is cross-entropy."""

    name = "multiclass"
    monitor = "val_acc"
    mode = "max"
    metric_names = ("acc",)

    def loss(self, output, target):
        return F.cross_entropy(output, target.long())

    def batch_metrics(self, output, target):
        return {"acc": (output.argmax(dim=1) == target.long()).sum().item()}


class Regression(Task):
    """One value per sample; loss is mean absolute error, as in the reference."""

    name = "regression"
    monitor = "val_loss"
    mode = "min"
    metric_names = ("mae",)

    def loss(self, output, target):
        return F.l1_loss(output, target.float())

    def batch_metrics(self, output, target):
        return {"mae": (output - target.float()).abs().sum().item()}


TASKS = {t.name: t for t in (BinaryClassification, MulticlassClassification, Regression)}


def make_task(name: str) -> Task:
    return TASKS[name]()
