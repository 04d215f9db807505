"""In-memory batch sources for the trainer.

An ``ArrayBatches`` shuffles with a generator derived from (seed, epoch) so
every epoch's order is reproducible on its own, which makes resuming exact.
"""

from __future__ import annotations

import torch

from convseq.errors import UserError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for one epoch's data order that depends only on (seed, epoch).

    Deriving it this way, rather than from a running stream, lets a resumed
    run replay exactly the epochs it missed.
    """
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class ArrayBatches:
    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
    ):
        if batch_size < 1:
            raise UserError(
                f"batch size must be at least 1, got {batch_size}; pass e.g. --batch-size 32"
            )
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return -(-len(self.targets) // self.batch_size)

    def epoch(self, epoch: int):
        n = len(self.targets)
        order = (
            torch.randperm(n, generator=epoch_generator(self.seed, epoch)) if self.shuffle else None
        )
        for start in range(0, n, self.batch_size):
            if order is None:
                yield (
                    self.inputs[start : start + self.batch_size],
                    self.targets[start : start + self.batch_size],
                )
            else:
                idx = order[start : start + self.batch_size]
                yield self.inputs[idx], self.targets[idx]
