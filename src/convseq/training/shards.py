"""Data-parallel training steps on CPU threads: one batch split into shards, one core each.

The forecasting models and the reference text convnet are built from small
ops (14 -> 32 channels, a GRU of 32 units). PyTorch's own threads split each
op across the cores, and forking and joining them costs about what the second
core gives back. A shard instead gets a whole forward and backward pass of
its own part of the batch, on a thread of its own, and the shards run at the
same time. ``python benchmarks/shards_speed.py`` on the 2-core machine, one
forward and backward: series-cnn (batch 128, 240 x 14) 10.9 ms in one piece,
6.7 ms as two shards; series-cnn-gru (480 x 14) 47.8 and 27.7 ms.

The function is the same. Every task's loss is a mean over samples, so the
batch loss is the size-weighted sum of the shards' losses, and its gradient
is the sum of theirs, added in shard order so every run rounds alike. Dropout
masks come from a generator per shard (``models/random_source.py``), seeded
from torch's global generator at every step, so a run does not depend on
which thread draws first, and a resumed run continues as the first would have.

Only models that declare ``shard_safe`` are sharded: their samples must not
see each other (no batch norm) and their randomness must come from
``random_source``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn

from convseq.errors import UserError
from convseq.models.random_source import drawing_from
from convseq.training.tasks import Task

SEED_BOUND = 2**62


def shard_safe(model: nn.Module) -> bool:
    """Whether ``model`` may be trained in shards: it says so itself."""
    return bool(getattr(model, "shard_safe", False))


def check_shardable(model: nn.Module, shards: int) -> None:
    if shards > 1 and not shard_safe(model):
        raise UserError(
            f"--shards {shards} needs a model whose samples are independent and whose "
            f"dropout draws per shard; {type(model).__name__} is not one; use --shards 1"
        )


@dataclass
class _ShardResult:
    output: torch.Tensor
    loss: torch.Tensor
    grads: tuple[torch.Tensor | None, ...]


def _one_thread() -> None:
    torch.set_num_threads(1)


class ShardedStep:
    """Forward and backward of a batch as ``shards`` parts on as many threads.

    The calling thread trains the first shard itself and a pool of
    ``shards - 1`` workers the rest, every one of them on one torch thread.
    Call ``close`` (or use it as a context manager) to stop the workers and
    give the calling thread back its torch thread count. Autocast is
    per thread, so each shard enters ``precision()`` itself; ``scale`` is a
    gradient scaler's (fp16).
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        params: list,
        shards: int,
        precision: Callable[[], AbstractContextManager] = nullcontext,
        scale: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        check_shardable(model, shards)
        self.model, self.task, self.params, self.shards = model, task, params, shards
        self.precision, self.scale = precision, scale
        self._threads = torch.get_num_threads()  # the workers' setting changes torch's default
        self._pool = (
            ThreadPoolExecutor(
                shards - 1, thread_name_prefix="convseq-shard", initializer=_one_thread
            )
            if shards > 1
            else None
        )

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor):
        """Leave the batch's gradient in each parameter's ``.grad``; return (output, loss)."""
        total = len(targets)
        parts = min(self.shards, total)
        seeds = torch.randint(SEED_BOUND, (parts,)).tolist()  # from the global generator
        xs, ys = inputs.tensor_split(parts), targets.tensor_split(parts)
        pending = [
            self._pool.submit(self._shard, xs[i], ys[i], seeds[i], total) for i in range(1, parts)
        ]
        torch.set_num_threads(1)  # this thread is one of the shards' cores now
        try:
            results = [self._shard(xs[0], ys[0], seeds[0], total)]
            results += [job.result() for job in pending]
        finally:
            torch.set_num_threads(self._threads)
        for i, param in enumerate(self.params):
            grads = [r.grads[i] for r in results if r.grads[i] is not None]
            param.grad = _sum_in_order(grads) if grads else None
        output = torch.cat([r.output for r in results])
        return output, _sum_in_order([r.loss for r in results])

    def _shard(self, x, y, seed: int, total: int) -> _ShardResult:
        with drawing_from(torch.Generator().manual_seed(seed)), self.precision():
            output = self.model(x)
            loss = self.task.loss(output, y) * (len(y) / total)
        scaled = self.scale(loss) if self.scale else loss
        grads = torch.autograd.grad(scaled, self.params, allow_unused=True)
        return _ShardResult(output.detach(), loss.detach(), grads)

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()
        torch.set_num_threads(self._threads)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _sum_in_order(tensors: list[torch.Tensor]) -> torch.Tensor:
    total = tensors[0].clone()
    for t in tensors[1:]:
        total += t
    return total
