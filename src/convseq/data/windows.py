"""Sliding windows over a multivariate series, assembled a whole batch at a time.

The semantics are those of the reference chapter's ``generator``: the window
for row ``i`` holds rows ``i-lookback, i-lookback+step, ...`` up to (not
including) row ``i``, ``ceil(lookback / step)`` rows in all, and its target
is the target column at row ``i + delay``. Rows ``i`` run over
``[min_index + lookback, max_index)``, and only as far as the target exists.
With ``horizons`` H above 1 the target is the path of the last H of those
rows, ``i + delay - H + 1 .. i + delay`` (H = delay + 1: every row from ``i``),
for forecasters trained on every horizon at once; no path reaches past the
row of the final target, so a window sees no more of later rows than before.

Why it is fast: the rows a window takes, ``step`` apart, are consecutive
within one *phase* of the series (rows ``p, p+step, p+2*step, ...``). Storing
the ``step`` phases back to back makes every window one contiguous block of
memory, so a batch is a single numpy fancy-index copy of ``batch_size`` blocks,
with no per-sample Python loop.
"""

from __future__ import annotations

import numpy as np
import torch

from convseq.data.batches import epoch_generator
from convseq.errors import UserError


def check_window_settings(lookback: int, step: int, delay: int) -> None:
    """Refuse settings that make no window, before any data is read."""
    if lookback < 1:
        raise UserError(
            f"--lookback must be at least 1 row, got {lookback}; pass e.g. --lookback 240"
        )
    if step < 1:
        raise UserError(f"--step must be at least 1 row, got {step}; pass e.g. --step 1")
    if step > lookback:
        raise UserError(
            f"--step {step} is larger than --lookback {lookback}, so a window would hold one "
            "row; pass a step no larger than the lookback"
        )
    if delay < 0:
        raise UserError(
            f"--delay must be 0 or more rows after the window, got {delay}; pass e.g. --delay 24"
        )


def target_paths(targets: np.ndarray, begin: int, end: int, horizons: int) -> np.ndarray:
    """``targets[begin:end]``, or for each of those rows the ``horizons`` rows ending there.

    Targets of several columns ``(rows, T)`` always give paths ``(rows, horizons, T)``.
    """
    if horizons == 1 and targets.ndim == 1:
        return np.ascontiguousarray(targets[begin:end], dtype=np.float32)
    path = np.asarray(targets[begin - horizons + 1 : end], dtype=np.float32)
    paths = np.lib.stride_tricks.sliding_window_view(path, horizons, axis=0)
    return np.ascontiguousarray(paths if targets.ndim == 1 else paths.transpose(0, 2, 1))


class Windows:
    """Windows of ``data`` ending in ``[min_index + lookback, max_index)`` with their targets.

    A batch source for the trainer: ``epoch(n)`` yields ``(inputs, targets)``
    with inputs of shape ``(batch, ceil(lookback / step), features)`` and
    targets of shape ``(batch,)``, or ``(batch, horizons)`` for paths, or
    ``(batch, horizons, T)`` for targets of T columns ``(rows, T)``.
    Shuffled sources draw rows with a generator that depends only on
    ``(seed, n)``, so a resumed run replays the same batches. With
    ``steps_per_epoch`` set, an epoch is that many batches of rows drawn with
    replacement, as in the reference; otherwise it is one pass over every
    window (in a seeded random order when shuffled).
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        lookback: int,
        step: int,
        delay: int,
        min_index: int = 0,
        max_index: int | None = None,
        batch_size: int = 128,
        shuffle: bool = False,
        steps_per_epoch: int = 0,
        seed: int = 0,
        horizons: int = 1,
    ):
        check_window_settings(lookback, step, delay)
        if not 1 <= horizons <= delay + 1:
            raise UserError(
                f"a target path of {horizons} rows does not fit --delay {delay}: it ends at the "
                f"target row and may start no earlier than the row after the window "
                f"(1 to {delay + 1} rows)"
            )
        if batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {batch_size}")
        if steps_per_epoch < 0:
            raise UserError(
                f"--steps-per-epoch must be 0 (one pass) or more, got {steps_per_epoch}"
            )
        data = np.ascontiguousarray(data, dtype=np.float32)
        if data.ndim != 2 or len(targets) != len(data):
            raise ValueError("data must be (rows, features) and targets (rows,)")
        rows = len(data)
        self.lookback, self.step, self.delay = lookback, step, delay
        self.batch_size, self.shuffle = batch_size, shuffle
        self.steps_per_epoch, self.seed = steps_per_epoch, seed
        self.first = min_index + lookback  # the first row i with a full window
        self.stop = rows - delay if max_index is None else min(max_index, rows - delay)
        if self.stop <= self.first:
            raise UserError(
                f"rows {min_index}:{max_index if max_index is not None else rows} hold no window: "
                f"each needs {lookback} rows of lookback and a target {delay} rows later, "
                f"and the series has {rows} rows; use a smaller --lookback or --delay, "
                "or a longer split"
            )
        self.length = len(range(0, lookback, step))
        self.features = data.shape[1]
        self.horizons = horizons
        self.targets = target_paths(targets, self.first + delay, self.stop + delay, horizons)
        self._build_phases(data[self.first - lookback : self.stop - 1])

    def _build_phases(self, part: np.ndarray) -> None:
        """Lay out rows ``p, p+step, ...`` of ``part`` for each phase ``p``, back to back."""
        step, features = self.step, self.features
        self._phase_rows = -(-len(part) // step)
        phases = np.zeros((step, self._phase_rows, features), dtype=np.float32)
        for p in range(step):
            rows = part[p::step]
            phases[p, : len(rows)] = rows
        flat = phases.reshape(-1)
        self._phases = flat  # keeps the buffer alive under the strided view
        block = self.length * features
        self._blocks = np.lib.stride_tricks.as_strided(
            flat,
            shape=(step * self._phase_rows - self.length + 1, block),
            strides=(features * flat.itemsize, flat.itemsize),
            writeable=False,
        )

    # ------------------------------------------------------------ windows
    @property
    def num_windows(self) -> int:
        return self.stop - self.first

    def rows(self) -> np.ndarray:
        """Row ``i`` (the row just after the window) of every window, in order."""
        return np.arange(self.first, self.stop)

    def gather(self, positions) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows number ``positions`` (0 = the first window) and their targets."""
        pos = np.asarray(positions, dtype=np.int64)
        starts = (pos % self.step) * self._phase_rows + pos // self.step
        inputs = self._blocks[starts].reshape(len(pos), self.length, self.features)
        return torch.from_numpy(inputs), torch.from_numpy(self.targets[pos])

    # --------------------------------------------------------- batch source
    def __len__(self) -> int:
        if self.shuffle and self.steps_per_epoch:
            return self.steps_per_epoch
        return -(-self.num_windows // self.batch_size)

    def epoch(self, epoch: int):
        n, size = self.num_windows, self.batch_size
        if not self.shuffle:
            order = np.arange(n)
        else:
            generator = epoch_generator(self.seed, epoch)
            if self.steps_per_epoch:
                drawn = torch.randint(n, (self.steps_per_epoch * size,), generator=generator)
            else:
                drawn = torch.randperm(n, generator=generator)
            order = drawn.numpy()
        for begin in range(0, len(order), size):
            yield self.gather(order[begin : begin + size])
