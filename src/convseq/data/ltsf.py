"""The long-horizon forecasting benchmark's data protocol (LTSF: ETTh1, Weather, any CSV).

Published figures are only comparable when the data is cut exactly as the
benchmark code (LTSF-Linear ``data_provider/data_loader.py``) cuts it:

- ETTh1: target rows train [0, 8640), val [8640, 11520), test [11520, 14400)
  (12/4/4 months of 30 days); rows from 14400 on are never used.
- Weather and any other file: n_train = int(0.7 n), n_test = int(0.2 n),
  n_val = n - n_train - n_test, in file order.
- The val and test segments start ``lookback`` rows before their first target
  row, so every target row of val and test is forecast by some window.
- Every numeric column is an input and an output, standardized with the mean
  and population std of the training rows (sklearn's StandardScaler; a
  constant column keeps scale 1).
- Windows have stride 1 and are cut on the fly by index: a segment of T rows
  gives T - lookback - horizon + 1 of them, and none is ever copied in bulk.

Nothing is cleaned: Weather's -9999 marks, its repeated row and its gap stay,
since the published figures were computed on the file as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convseq.data.locate import RemoteFile, candidate_dirs, locate_any
from convseq.data.series import DATASETS
from convseq.data.tables import read_table
from convseq.errors import UserError

ETT_MONTH = 30 * 24  # the benchmark's month of hourly rows
ETT_ENDS = (12 * ETT_MONTH, 16 * ETT_MONTH, 20 * ETT_MONTH)  # 8640, 11520, 14400
RATIOS = (0.7, 0.1, 0.2)  # train, val, test share of the rows for every other file

# Weather has no official direct download (the benchmark ships it on a shared drive).
WEATHER_FILES = (RemoteFile("weather.csv", ""), RemoteFile("weather.csv.gz", ""))
NAMED = ("etth1", "weather")


@dataclass
class Table:
    """A benchmark file as numbers: ``values[i, j]`` is ``columns[j]`` at row i (float64)."""

    name: str
    values: np.ndarray
    columns: list[str]
    protocol: str  # "ett" (fixed month borders) or "ratio" (70/10/20 %)
    source: str


def target_ranges(protocol: str, rows: int) -> dict[str, tuple[int, int]]:
    """The [start, end) target rows of each split, before the lookback is prepended."""
    if protocol == "ett":
        train_end, val_end, test_end = ETT_ENDS
        return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, test_end)}
    n_train, n_test = int(rows * RATIOS[0]), int(rows * RATIOS[2])
    n_val = rows - n_train - n_test
    return {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (rows - n_test, rows),
    }


def segment_ranges(protocol: str, rows: int, lookback: int) -> dict[str, tuple[int, int]]:
    """Each split's rows as windows see them: val and test start ``lookback`` rows earlier."""
    ranges = target_ranges(protocol, rows)
    return {
        split: (start if split == "train" else start - lookback, end)
        for split, (start, end) in ranges.items()
    }


@dataclass
class Segment:
    """Standardized rows [T, C] of one split, from which stride-1 windows are cut by index."""

    values: torch.Tensor  # float32 [T, C]
    lookback: int
    horizon: int

    @property
    def n_windows(self) -> int:
        return self.values.shape[0] - self.lookback - self.horizon + 1

    @property
    def n_variables(self) -> int:
        return self.values.shape[1]

    def windows(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs [B, lookback, C] and targets [B, horizon, C] of the windows starting at ``starts``."""
        steps = torch.arange(self.lookback + self.horizon)
        both = self.values[starts[:, None] + steps[None, :]]
        return both[:, : self.lookback], both[:, self.lookback :]

    def numpy_views(self) -> tuple[np.ndarray, np.ndarray]:
        """Every window as zero-copy numpy views: inputs [N, C, lookback], targets [N, C, horizon]."""
        both = np.lib.stride_tricks.sliding_window_view(
            self.values.numpy(), self.lookback + self.horizon, axis=0
        )
        return both[..., : self.lookback], both[..., self.lookback :]

    def arrays(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows [start, stop): inputs [n, C, lookback], targets [n, C, horizon] (views)."""
        inputs, targets = self.numpy_views()
        return inputs[start:stop], targets[start:stop]

    def targets(self) -> np.ndarray:
        """Every window's target [N, horizon, C] (float32), in window order."""
        return self.numpy_views()[1].transpose(0, 2, 1)


@dataclass
class Splits:
    """One (lookback, horizon) cut of a table: the three segments and the scaling used."""

    name: str
    columns: list[str]
    mean: np.ndarray
    std: np.ndarray
    train: Segment
    val: Segment
    test: Segment


def standardize(values: np.ndarray, train_rows: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """``values`` scaled by the training rows' mean and population std (a constant column: 1)."""
    train = values[train_rows[0] : train_rows[1]]
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ((values - mean) / std).astype(np.float32), mean, std


def cut(table: Table, lookback: int, horizon: int) -> Splits:
    """The benchmark's three segments of ``table`` for one lookback and horizon."""
    if lookback < 1 or horizon < 1:
        raise UserError(
            f"lookback {lookback} and horizon {horizon} must be positive; pass --lookback and "
            "--horizons of at least 1"
        )
    ranges = segment_ranges(table.protocol, len(table.values), lookback)
    for split, (start, end) in ranges.items():
        if start < 0 or end - start < lookback + horizon:
            raise UserError(
                f"{table.source}: the {split} split ({max(end - start, 0)} rows) is too short for "
                f"a lookback of {lookback} plus a horizon of {horizon}; pass a smaller --lookback "
                "or --horizons, or a longer file"
            )
    scaled, mean, std = standardize(table.values, ranges["train"])
    segments = {
        split: Segment(torch.from_numpy(np.ascontiguousarray(scaled[s:e])), lookback, horizon)
        for split, (s, e) in ranges.items()
    }
    return Splits(table.name, table.columns, mean, std, **segments)


# ------------------------------------------------------------------- reading
def numeric_table(frame, name: str, protocol: str, source: str) -> Table:
    """Every numeric column of ``frame`` (the date and any text column left out), all finite."""
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] == 0:
        raise UserError(f"{source} has no numeric column; pass a table of numbers with a header")
    values = numeric.to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise UserError(
            f"{source}: column {numeric.columns[col]!r} has an empty or non-finite value in data "
            f"row {row + 1} ({int(bad.sum())} in all); fill or remove those rows"
        )
    if protocol == "ett" and len(values) < ETT_ENDS[-1]:
        raise UserError(
            f"{source} has {len(values)} rows, the ETTh1 protocol needs {ETT_ENDS[-1]}; pass the "
            "complete ETTh1.csv"
        )
    return Table(name, values, [str(c) for c in numeric.columns], protocol, source)


def find_named(name: str, data_dir: str | None) -> Path:
    """The file of a named benchmark set: ``--data-dir``, $CONVSEQ_DATA, the cache, a download."""
    if name == "etth1":
        return locate_any(DATASETS["etth1"].files, data_dir)
    if data_dir and not Path(data_dir).is_dir():
        raise UserError(f"data folder {data_dir} does not exist; pass an existing --data-dir")
    for folder in candidate_dirs(data_dir):
        for remote in WEATHER_FILES:
            if (folder / remote.name).is_file():
                return folder / remote.name
    places = ", ".join(map(str, candidate_dirs(data_dir)))
    raise UserError(
        f"weather.csv(.gz) not found in {places} and it has no official direct download; put the "
        "benchmark's weather.csv in one of them or set CONVSEQ_DATA"
    )


def load_table(dataset: str, data_dir: str | None = None) -> Table:
    """``etth1``, ``weather`` or the path of a table file, read with pandas as the benchmark reads it."""
    if dataset in NAMED:
        path = find_named(dataset, data_dir)
        protocol = "ett" if dataset == "etth1" else "ratio"
        name = dataset
    else:
        path = Path(dataset)
        if not path.is_file():
            raise UserError(
                f"no dataset or file {dataset!r}; pass --dataset etth1, weather or the path of a "
                "CSV file"
            )
        protocol, name = "ratio", path.name.split(".")[0]
    return numeric_table(read_table(path), name, protocol, str(path))
