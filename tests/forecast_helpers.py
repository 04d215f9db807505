"""Small CSV series with a known time index (and optional gaps), and quick forecasting runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from convseq.cli import main

START = datetime(2020, 1, 1)
# 48 h of hourly rows, every 2nd (24 steps: series-cnn-gru needs 19), 6 h ahead of the last row
WINDOW = ["--lookback", "48", "--step", "2", "--delay", "4"]
QUICK = [*WINDOW, "--epochs", "2", "--batch-size", "32", "--eval-batch-size", "64"]


def hourly_values(rows: int, seed: int = 0) -> np.ndarray:
    """A daily cycle in ``load`` and ``temp``, with noise: columns load, temp."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    load = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, rows)
    temp = 15 + 5 * np.sin(2 * np.pi * (t - 3) / 24) + rng.normal(0, 0.5, rows)
    return np.round(np.stack([load, temp], axis=1), 3)


def series_lines(rows: int = 500, drop: tuple[int, ...] = (), seed: int = 0) -> list[str]:
    """``time,load,temp`` lines, hourly from 2020-01-01, without the rows numbered in ``drop``."""
    values = hourly_values(rows, seed)
    lines = ["time,load,temp"]
    for k in range(rows):
        if k in drop:
            continue
        stamp = (START + timedelta(hours=k)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{stamp},{values[k, 0]},{values[k, 1]}")
    return lines


def write_series(path: Path, rows: int = 500, drop: tuple[int, ...] = (), lines=None) -> Path:
    lines = series_lines(rows, drop) if lines is None else lines
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def one_model(data: Path) -> list[str]:
    """``convseq train forecast DATA`` of series-cnn-gru on the load column: the start of the
    command lines that test one model (tests of --model auto, the default, are in
    test_auto.py)."""
    return ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column",
            "time", "--target", "load"]  # fmt: skip


def train_forecast(data: Path, out: Path, *extra: str) -> int:
    """A quick run of one model: series-cnn-gru unless ``extra`` names another."""
    model = [] if "--model" in extra else ["--model", "series-cnn-gru"]
    return main(
        ["train", "forecast", str(data), "--time-column", "time", "--target", "load",
         *QUICK, *model, "--out", str(out), *extra]
    )  # fmt: skip


def refused(argv: list[str], capsys, message: str) -> str:
    """The command fails with exit 2 and one line naming ``message``, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("convseq: error: "), err
    return err
