"""Tasks pair a loss on the model's raw output with the metrics to report.

Each task accumulates metrics as sums over batches, so an epoch's figures are
exact means over samples, whatever the batch sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Task:
    name = "task"
    monitor = "val_loss"  # the history column that picks the best epoch (``--monitor auto``)
    metric_names: tuple[str, ...] = ()

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batch_metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Sums over the batch (not means) of each metric in ``metric_names``."""
        return {}


class BinaryClassification(Task):
    """One logit per sample; loss is binary cross-entropy on logits.

    An ensemble in training (``models.ensemble``) gives one logit per member,
    ``(batch, members)``: the loss is the mean of the members' own losses and
    the accuracy is the mean logit's.
    """

    name = "binary"
    monitor = "val_acc"
    metric_names = ("acc",)

    def loss(self, output, target):
        target = target.float()
        if _per_member(output, target):
            target = target.unsqueeze(-1).expand_as(output)
        return F.binary_cross_entropy_with_logits(output, target)

    def batch_metrics(self, output, target):
        if _per_member(output, target):
            output = output.mean(dim=-1)
        return {"acc": ((output > 0).long() == target.long()).sum().item()}


def _per_member(output: torch.Tensor, target: torch.Tensor) -> bool:
    """An ensemble's training output: one logit per sample and member, (batch, members >= 2)."""
    return output.ndim == 2 and target.ndim == 1 and output.shape[1] >= 2


class MulticlassClassification(Task):
    """One logit per class; loss is cross-entropy.

    An ensemble in training gives (batch, classes, members): the loss is the
    mean of the members' own losses and the accuracy is the mean logits'.
    """

    name = "multiclass"
    monitor = "val_acc"
    metric_names = ("acc",)

    def loss(self, output, target):
        if output.ndim == 3:
            return torch.stack([self.loss(o, target) for o in output.unbind(-1)]).mean()
        return F.cross_entropy(output, target.long())

    def batch_metrics(self, output, target):
        if output.ndim == 3:
            output = output.mean(dim=-1)
        return {"acc": (output.argmax(dim=1) == target.long()).sum().item()}


REGRESSION_LOSSES = ("mae", "huber", "mse")


class Regression(Task):
    """One value per sample, or a path of them; loss is mean absolute error, as in the reference.

    With ``loss="huber"`` the loss is smooth L1 (Huber divided by ``huber_delta``,
    so it keeps MAE's scale): squared below ``huber_delta``, absolute above.
    Paths (targets of shape ``(batch, H)``, see ``data.windows``) are trained on
    ``final_weight`` x the final horizon's loss + (1 - ``final_weight``) x the
    mean over all H horizons; a path output scored against single targets is
    read at its last column, the forecast. The metric, and the best-epoch
    choice (``val_mae``), is always the final horizon's MAE. With
    ``members`` above 1 the model is an ensemble whose training output holds
    one forecast (or, with ``horizons`` above 1, one path) per member: the
    loss is the mean of their own losses and the metric is their mean
    forecast's.
    """

    name = "regression"
    monitor = "val_mae"
    metric_names = ("mae",)

    def __init__(
        self,
        loss: str = "mae",
        huber_delta: float = 1.0,
        final_weight: float = 0.0,
        members: int = 1,
        horizons: int = 1,
    ):
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"unknown regression loss {loss!r}")
        self.huber_delta = huber_delta if loss == "huber" else 0.0
        self.squared = loss == "mse"
        self.final_weight = final_weight
        self.members, self.horizons = members, horizons

    def _each_member(self, output, target) -> bool:
        """An ensemble's training output: one forecast (or path) per member, members last:
        (batch, members), or (batch, H, members) for a model of ``horizons`` H > 1.

        Only a task told the ensemble's shape can tell (batch, members) from a
        path, and a training output from the mean path the model gives when
        evaluated (batch, H).
        """
        return self.members > 1 and output.ndim == (3 if self.horizons > 1 else 2)

    def loss(self, output, target):
        if self._each_member(output, target):  # the mean of the members' own losses
            return torch.stack([self.loss(out, target) for out in output.unbind(-1)]).mean()
        output, target = _paired(output, target)
        if target.ndim == 1 or not self.final_weight:
            return self._loss(output, target, "mean")
        each = self._loss(output, target, "none")
        w = self.final_weight
        return w * each[:, -1].mean() + (1 - w) * each.mean()

    def _loss(self, output, target, reduction: str):
        if self.huber_delta:
            return F.smooth_l1_loss(output, target, reduction=reduction, beta=self.huber_delta)
        if self.squared:
            return F.mse_loss(output, target, reduction=reduction)
        return F.l1_loss(output, target, reduction=reduction)

    def batch_metrics(self, output, target):
        if self._each_member(output, target):
            output = output.mean(dim=-1)  # the ensemble's forecast
        output, target = _paired(output, target)
        if target.ndim == 2:
            output, target = output[:, -1], target[:, -1]
        return {"mae": (output - target).abs().sum().item()}


def _paired(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Output and float target over the same horizons: a path's last column for single targets."""
    if output.ndim == 2 and target.ndim == 1:
        output = output[:, -1]
    return output, target.float()


def pinball_loss(pred: torch.Tensor, target: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss of ``pred`` [..., Q] against ``target`` [...] at the ``levels`` [Q]."""
    diff = target.unsqueeze(-1) - pred
    return torch.maximum(levels * diff, (levels - 1) * diff).mean()


class PathRegression(Regression):
    """Every step of a path for every target (``--horizon``): outputs and targets ``(batch, H, T)``.

    The loss is the mean over all of them (mae, mse or huber); metrics are
    the MAE and MSE over every step and target, and the best epoch is the
    lowest validation MSE, as the long-horizon benchmark chooses. With
    ``quantiles`` the output has a last axis of levels, the loss is the
    pinball loss (the best epoch its lowest value) and the metrics are those
    of the 0.5 level, the point forecast. An ensemble's training output has
    its members on one more, last, axis: the loss is the mean of theirs.
    """

    name = "paths"
    metric_names = ("mae", "mse")

    def __init__(self, loss="mae", huber_delta=1.0, members=1, quantiles=()):
        super().__init__(loss, huber_delta, members=members)
        self.levels = torch.tensor(quantiles, dtype=torch.float32)
        self.median = list(quantiles).index(0.5) if quantiles else None
        self.monitor = "val_loss" if quantiles else "val_mse"
        if quantiles:
            self.metric_names = ("mae", "mse", "coverage", "width")

    def _each_member(self, output, target) -> bool:
        return self.members > 1 and output.ndim == target.ndim + 1 + (self.median is not None)

    def loss(self, output, target):
        if self._each_member(output, target):
            return torch.stack([self.loss(out, target) for out in output.unbind(-1)]).mean()
        if self.median is not None:
            return pinball_loss(output, target.float(), self.levels.to(output.device))
        return self._loss(output, target.float(), "mean")

    def batch_metrics(self, output, target):
        if self._each_member(output, target):
            output = output.mean(dim=-1)
        target = target.float()
        error = (self.point(output) - target).flatten(1)
        sums = {"mae": error.abs().mean(1).sum().item(), "mse": error.pow(2).mean(1).sum().item()}
        if self.median is not None:
            low, high = output[..., 0], output[..., -1]
            inside = ((target >= low) & (target <= high)).float().flatten(1)
            sums["coverage"] = inside.mean(1).sum().item()
            sums["width"] = (high - low).flatten(1).mean(1).sum().item()
        return sums

    def target_error_sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each target's absolute error of the point forecast, summed over the batch and steps."""
        return (self.point(output) - target.float()).abs().sum(dim=(0, 1)).double()

    def point(self, output: torch.Tensor) -> torch.Tensor:
        """The point forecast in an output: the 0.5 level with quantiles."""
        return output if self.median is None else output[..., self.median]


TASKS = {
    t.name: t for t in (BinaryClassification, MulticlassClassification, Regression, PathRegression)
}


def make_task(name: str, **settings) -> Task:
    return TASKS[name](**settings)
