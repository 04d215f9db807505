"""A small, generic training loop for classification and regression.

The trainer knows nothing about text or series: it takes a model, a task
(loss + metrics) and two data sources, each an object with ``epoch(n)``
returning an iterator of ``(inputs, targets)`` batches and ``len()`` giving
batches per epoch. It tracks the best epoch, supports early stopping, LR
schedules, gradient clipping and a moving average of the weights
(``training/ema.py``), and checkpoints every epoch atomically so a
killed run resumes to the same result.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn as nn
from tqdm import tqdm

from convseq.atomic import write_with
from convseq.config import Training
from convseq.errors import UserError
from convseq.training import distributed
from convseq.training.devices import autocast, resolve_device, resolve_precision, to_device
from convseq.training.ema import WeightAverage
from convseq.training.optim import (
    Schedule,
    clip_gradients,
    densify_sparse_grads,
    make_optimizer,
    sparse_parameters,
)
from convseq.training.shards import ShardedStep, check_shardable
from convseq.training.tasks import Task


def monitored(train: Training, task: Task) -> tuple[str, str]:
    """The validation column that picks the best epoch, and whether lower or higher is better."""
    name = task.monitor if train.monitor == "auto" else train.monitor
    if name not in ("val_loss", *(f"val_{m}" for m in task.metric_names)):
        reported = ", ".join(["val_loss", *(f"val_{m}" for m in task.metric_names)])
        raise UserError(f"--monitor {name} is not reported by this task; choose one of {reported}")
    return name, "max" if name == "val_acc" else "min"


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        task: Task,
        config: Training,
        checkpoint: str | Path | None = None,
        on_epoch_end: Callable[[dict], None] | None = None,
        progress: bool = True,
        deadline: float | None = None,
        final_passes: float = 1.0,
    ):
        self.ranks = distributed.current()
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        check_shardable(model, config.shards)
        if config.shards > 1 and (self.device.type != "cpu" or self.ranks.distributed):
            raise UserError(
                "--shards splits a batch over CPU threads in one process; on a GPU or under "
                "torchrun use --shards 1"
            )
        self.model, self.task, self.config = model.to(self.device), task, config
        self.network = distributed.wrap(self.model, self.device, self.ranks)  # DDP under torchrun
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None
        self.monitor, self.mode = monitored(config, task)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.on_epoch_end = on_epoch_end
        self.deadline = deadline  # time.monotonic(): no epoch starts that would end after it
        self.final_passes = final_passes  # the scoring after fit, in validation passes
        self.progress = progress and self.ranks.main
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(
            config.optimizer, self.params, config.lr, config.weight_decay, sparse_parameters(model)
        )
        # sparse gradients (embedding rows) go straight to an optimizer that takes them;
        # clipping handles both kinds
        self.dense_grads = not getattr(self.optimizer, "accepts_sparse_grads", False)
        self.history: list[dict] = []
        self.best_value: tuple[float, float] | None = None  # (monitored, val_loss) of the best
        self.best_epoch = 0
        self.best_state: dict | None = None
        self.average = WeightAverage(model, config.ema) if config.ema else None

    # ----------------------------------------------------------------- fit
    def fit(self, train_data, val_data) -> list[dict]:
        cfg = self.config
        schedule = Schedule(cfg.schedule, self.optimizer, cfg.epochs * len(train_data), self.mode)
        start = self._resume(schedule) if self.checkpoint and self.checkpoint.exists() else 1
        self._sharded = None
        if cfg.shards > 1:
            self._sharded = ShardedStep(
                self.model,
                self.task,
                self.params,
                cfg.shards,
                lambda: autocast(self.device, self.precision),
                self.scaler.scale if self.scaler else None,
            )
        try:
            self._fit_epochs(start, train_data, val_data, schedule)
        finally:
            if self._sharded:
                self._sharded.close()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return self.history

    def _forward_backward(self, inputs, targets):
        """Gradients of a batch in each parameter's ``.grad``; (output, its targets, loss)."""
        if self._sharded:
            output, loss = self._sharded(inputs, targets)
            return output, targets, loss
        return self._whole_batch(inputs, targets)

    def _whole_batch(self, inputs, targets):
        """The forward and backward of this rank's share of a batch (``shards`` 1).

        The loss is weighted by the share's size in the global batch (times
        the ranks, as DDP averages), so the gradient is the global batch's
        mean. A rank whose share is empty runs one sample at weight 0, so that
        it still takes part in the all-reduce.
        """
        x, y = distributed.share(inputs, self.ranks), distributed.share(targets, self.ranks)
        weight = len(y) * self.ranks.world / len(targets)
        if len(y) == 0:
            x, y = inputs[:1], targets[:1]
        x, y = to_device(x, self.device), to_device(y, self.device)
        with autocast(self.device, self.precision):
            output = self.network(x)
            loss = self.task.loss(output, y)
        self.optimizer.zero_grad(set_to_none=True)
        scaled = loss * weight
        (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return (output, y, loss) if weight else (output[:0], y[:0], loss)

    def _fit_epochs(self, start: int, train_data, val_data, schedule: Schedule) -> None:
        cfg = self.config
        for epoch in range(start, cfg.epochs + 1):
            row = {"epoch": epoch}
            began = time.perf_counter()
            train_metrics, seen = self._train_epoch(train_data, epoch, schedule)
            seconds = time.perf_counter() - began
            row.update(train_metrics)
            with self._scored_weights():
                scoring = time.perf_counter()
                row.update({f"val_{k}": v for k, v in self.evaluate(val_data).items()})
                scoring = time.perf_counter() - scoring
                improved = self.better(row)
                if improved:
                    self.best_state = copy.deepcopy(self.model.state_dict())
            row.update(
                lr=self.optimizer.param_groups[0]["lr"],
                seconds=round(seconds, 3),
                samples_per_s=round(seen / max(seconds, 1e-9), 1),
            )
            schedule.after_epoch(row[self.monitor])
            if improved:
                self.best_value, self.best_epoch = (row[self.monitor], row["val_loss"]), epoch
            self.history.append(row)
            self._print_row(row)
            if self.on_epoch_end:
                self.on_epoch_end(row)
            if self.checkpoint:
                self._save_checkpoint(epoch, schedule)
            if cfg.patience and epoch - self.best_epoch >= cfg.patience:
                print(f"early stop: no better {self.monitor} for {cfg.patience} epochs")
                break
            if self.out_of_time(seconds, scoring) and epoch < cfg.epochs:
                print(f"time budget: stopping after epoch {epoch} of {cfg.epochs}")
                break

    def out_of_time(self, epoch_seconds: float, val_seconds: float) -> bool:
        """Whether another epoch as long as the last, its validation and the scoring after
        training (``final_passes`` validation passes) would end after the deadline.

        The deadline is read on rank 0 and shared, so that every rank stops at
        the same epoch.
        """
        if self.deadline is None:
            return False
        needed = epoch_seconds + val_seconds * (1 + self.final_passes)
        late = time.monotonic() + needed > self.deadline
        return bool(distributed.gather(late, self.ranks)[0])

    def better(self, row: dict) -> bool:
        """Whether ``row`` beats the best epoch so far; equal scores go to the lower val_loss.

        On easy data val_acc reaches 1.0 early and stays there while the loss
        still falls; without the tie-break the run would keep its first, least
        sure epoch.
        """
        if self.best_value is None:
            return True
        value, best = row[self.monitor], self.best_value[0]
        if value != best:
            return value > best if self.mode == "max" else value < best
        return row["val_loss"] < self.best_value[1]

    def _train_epoch(self, data, epoch: int, schedule: Schedule) -> tuple[dict, int]:
        self.model.train()
        totals = dict.fromkeys(("loss", *self.task.metric_names), 0.0)
        seen = 0
        bar = tqdm(
            data.epoch(epoch),
            total=len(data),
            desc=f"epoch {epoch}/{self.config.epochs}",
            disable=None if self.progress else True,
            leave=False,
            unit="batch",
            dynamic_ncols=True,
        )
        for step, (inputs, targets) in enumerate(bar):
            output, used, loss = self._forward_backward(inputs, targets)
            if self.scaler:
                self.scaler.unscale_(self.optimizer)  # clipping sees the true gradients
            if self.dense_grads:
                densify_sparse_grads(self.params)
            if self.config.grad_clip:
                clip_gradients(self.model.parameters(), self.config.grad_clip)
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            if self.average:
                self.average.update()
            schedule.after_batch()
            n = len(used)
            seen += n
            with torch.no_grad():
                totals["loss"] += loss.item() * n
                for k, v in self.task.batch_metrics(output.detach().float(), used).items():
                    totals[k] += v
            if self.progress and step % 10 == 0 and seen:
                bar.set_postfix({k: f"{v / seen:.4f}" for k, v in totals.items()}, refresh=False)
        bar.close()
        *sums, seen = distributed.all_sum([*totals.values(), seen], self.device, self.ranks)
        if seen == 0:
            raise UserError(
                "the training data produced no batches; use more data or a smaller batch size"
            )
        return {k: v / seen for k, v in zip(totals, sums, strict=True)}, int(seen)

    # ------------------------------------------------------------ evaluate
    def _scored_weights(self):
        """The weights that are evaluated and kept: the moving average when ``ema`` is on."""
        return self.average.swapped_in() if self.average else contextlib.nullcontext()

    def evaluate(self, data) -> dict[str, float]:
        return evaluate(self.model, self.task, data, self.precision)

    def _print_row(self, row: dict) -> None:
        if not self.progress:
            return
        keys = [k for k in row if k not in ("epoch", "lr", "seconds", "samples_per_s")]
        parts = " - ".join(f"{k}: {row[k]:.4f}" for k in keys)
        print(
            f"Epoch {row['epoch']}/{self.config.epochs} - {row['seconds']:.1f}s "
            f"({row['samples_per_s']:.0f} samples/s) - {parts}",
            flush=True,
        )

    # ---------------------------------------------------------- checkpoint
    def _save_checkpoint(self, epoch: int, schedule: Schedule) -> None:
        """Everything the next epoch needs, written atomically by rank 0.

        Every rank's random state is kept (each rank draws dropout for its own
        share), so a resumed run continues as the first would have.
        """
        rng = distributed.gather(random_state(self.device), self.ranks)
        if not self.ranks.main:
            return
        state = {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "history": self.history,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "average": self.average.state_dict() if self.average else None,
            "rng": rng,
        }
        write_with(self.checkpoint, lambda tmp: torch.save(state, tmp))

    def _resume(self, schedule: Schedule) -> int:
        try:
            state = torch.load(self.checkpoint, weights_only=True, map_location="cpu")
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"checkpoint {self.checkpoint} is unreadable or unsafe to load ({reason}); "
                "delete it to start over"
            ) from None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.history = list(state["history"])
        self.best_value = tuple(state["best_value"]) if state["best_value"] else None
        self.best_epoch = state["best_epoch"]
        self.best_state = state["best_state"]
        if self.average:
            self.average.load_state_dict(state["average"])
        rng = state["rng"]  # one per rank of the run that saved it
        set_random_state(rng[self.ranks.rank] if len(rng) == self.ranks.world else rng[0])
        print(f"resumed from {self.checkpoint} after epoch {state['epoch']}")
        return state["epoch"] + 1


def random_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_random_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def model_device(model: nn.Module) -> torch.device:
    """Where ``model`` lives (the CPU for a model with no tensors, such as a baseline)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.inference_mode()
def evaluate(model: nn.Module, task: Task, data, precision: str = "fp32") -> dict[str, float]:
    """Loss and metrics over every batch of ``data``, as exact per-sample means.

    Under torchrun each rank scores its share of every batch and the sums are
    all-reduced, so every rank gets the whole data's figures.
    """
    ranks, device = distributed.current(), model_device(model)
    was_training = model.training
    model.eval()
    totals = dict.fromkeys(("loss", *task.metric_names), 0.0)
    seen = 0
    for inputs, targets in data.epoch(0):
        x, y = distributed.share(inputs, ranks), distributed.share(targets, ranks)
        if not len(y):
            continue
        x, y = to_device(x, device), to_device(y, device)
        with autocast(device, precision):
            output = model(x)
        output = output.float()
        n = len(y)
        seen += n
        totals["loss"] += task.loss(output, y).item() * n
        for k, v in task.batch_metrics(output, y).items():
            totals[k] += v
    model.train(was_training)
    *sums, seen = distributed.all_sum([*totals.values(), seen], device, ranks)
    if seen == 0:
        raise UserError("the evaluation data produced no batches; check the split sizes")
    return {k: v / seen for k, v in zip(totals, sums, strict=True)}


def target_maes(model: nn.Module, task: Task, data) -> torch.Tensor:
    """Each target's MAE (normalized) of a ``paths`` task's point forecast over every step of
    every window of ``data``."""
    sums, count = 0.0, 0
    for inputs, truth in data.epoch(0):
        sums = sums + task.target_error_sums(predict(model, [inputs]), truth)
        count += truth.shape[0] * truth.shape[1]
    return sums / count


@torch.inference_mode()
def predict(model: nn.Module, batches: Iterable) -> torch.Tensor:
    """Concatenated raw outputs, on the CPU, for an iterable of input batches."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs = [model(to_device(inputs, device)).float().cpu() for inputs in batches]
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)
