"""Batches of token ids grouped by length, with the shared padding cut off.

IMDB reviews range from 10 to over 2,000 tokens, so random batches padded to
``max_len`` spend most of their compute on padding. Sorting each pool of
``pool`` batches by length and cutting every batch to its longest review
keeps the work proportional to the real tokens. The order is drawn from
(seed, epoch) like ``ArrayBatches``, so a resumed run replays its epochs.
"""

from __future__ import annotations

import torch

from convseq.data.batches import epoch_generator
from convseq.errors import UserError


class LengthBuckets:
    """Shuffled batches of similar length from padded ids (padding id 0).

    ``padding`` says where the padding sits ("pre": in front, as Keras pads,
    or "post"), so each batch keeps the right end of its columns.
    """

    def __init__(
        self,
        ids: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        padding: str = "pre",
        shuffle: bool = True,
        seed: int = 0,
        pool: int = 50,
        padding_id: int = 0,
    ):
        if batch_size < 1:
            raise UserError(
                f"batch size must be at least 1, got {batch_size}; pass e.g. --batch-size 32"
            )
        if padding not in ("pre", "post"):
            raise UserError(f"padding must be 'pre' or 'post', got {padding!r}")
        self.ids, self.targets = ids, targets
        self.batch_size, self.padding, self.shuffle = batch_size, padding, shuffle
        self.seed, self.pool = seed, max(pool, 1)
        self.lengths = (ids != padding_id).sum(dim=1).clamp(min=1)

    def __len__(self) -> int:
        return -(-len(self.targets) // self.batch_size)

    def order(self) -> torch.Tensor:
        """The rows in the order an unshuffled pass yields them (shortest first)."""
        return torch.argsort(self.lengths, stable=True)

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        n, size = len(self.targets), self.batch_size
        if not self.shuffle:
            order = self.order()
            return [order[i : i + size] for i in range(0, n, size)]
        generator = epoch_generator(self.seed, epoch)
        order = torch.randperm(n, generator=generator)
        batches = []
        span = size * self.pool
        for start in range(0, n, span):
            chunk = order[start : start + span]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        shuffled = torch.randperm(len(batches), generator=generator)
        return [batches[i] for i in shuffled]

    def epoch(self, epoch: int):
        for idx in self._batches(epoch):
            longest = int(self.lengths[idx].max())
            rows = self.ids[idx]
            cols = rows[:, -longest:] if self.padding == "pre" else rows[:, :longest]
            yield cols, self.targets[idx]
