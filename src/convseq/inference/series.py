"""A trained forecaster: a CSV series (or a data frame) in, forecasts in the target's units out.

New data goes through the run's own steps: the same columns and time column,
the gaps filled as in training (``--fill``), normalization with the training
statistics, and windows cut as the trainer cut them. A window's last row is
``span - 1`` rows after its first, and its forecast is for ``horizon`` rows
after that last row (``lookback + delay - (span - 1)``: ``delay + step`` when
the step divides the lookback).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from convseq.config import RunConfig
from convseq.data.derived import rederive, source_columns
from convseq.data.series import Series, read_series, series_from_frame, time_layout
from convseq.data.time_index import GapReport, extrapolate, fill_gaps, find_gaps
from convseq.data.windows import Windows
from convseq.errors import UserError
from convseq.export.onnx_series import export_series_forecaster
from convseq.models.forecast import final_horizon
from convseq.models.registry import SeriesShape, build_model
from convseq.runs import RunFolder
from convseq.training.tasks import make_task
from convseq.training.trainer import evaluate, predict
from convseq.wording import every, plural


@dataclass(frozen=True)
class Forecast:
    """One forecast: ``value`` (target units) for ``time``, from the window ending at ``window_end``."""

    window_end: datetime
    time: datetime | None  # None when the time index is too irregular to count rows ahead
    value: float
    rows_ahead: int  # rows after window_end


@dataclass
class SeriesInput:
    """New data made ready for the model: the rows (gaps handled as in training), normalized."""

    series: Series
    gaps: GapReport
    normalized: np.ndarray  # float32 (rows, columns), training statistics
    fill: str

    def note(self) -> str | None:
        """A line about the gaps, or None when there are none."""
        if not self.gaps.count:
            return None
        how = (
            "not filled, as in training (windows count rows)"
            if self.fill == "none"
            else f"filled by {self.fill}, as in training"
        )
        return f"{self.gaps.describe(self.series.source)}; {how}"


class SeriesForecaster:
    """Load one with ``convseq.load(run_dir)``; ``predict(csv_or_frame)`` forecasts the latest window."""

    def __init__(
        self, path: Path, config: RunConfig, model: torch.nn.Module, stats: dict, units: str
    ):
        self.path, self.config, self.model, self.model_name = path, config, model, config.model
        self.stats, self.units = stats, units
        self.columns: list[str] = list(stats["columns"])
        # calendar and wind-vector columns are computed from the file, not read from it
        self.derived: dict = stats["derived"]
        self.raw_columns: list[str] = source_columns(self.columns, self.derived)
        self.mean = np.asarray(stats["mean"], dtype=np.float64)
        self.std = np.asarray(stats["std"], dtype=np.float64)
        shaping = config.shaping
        self.target: str = shaping.target
        self.target_index: int = self.columns.index(self.target)
        self.lookback, self.step, self.delay = shaping.lookback, shaping.step, shaping.delay
        self.length = len(range(0, self.lookback, self.step))  # rows in one window
        self.span = (self.length - 1) * self.step + 1  # rows from a window's first to its last
        self.horizon = self.lookback + self.delay - (self.span - 1)
        self.time_column, self.time_format = time_layout(config.source, config.dataset)
        self.fill: str = getattr(config.source, "fill", "none")
        self.time_order: str = config.source.time_order

    def __repr__(self) -> str:
        return (
            f"SeriesForecaster({str(self.path)!r}, model={self.model_name!r}, "
            f"target={self.target!r}, lookback={self.lookback}, step={self.step}, "
            f"delay={self.delay})"
        )

    @property
    def window(self) -> dict:
        """How windows are cut from a series, and what their forecast is for."""
        return {
            "time_column": self.time_column,
            "time_format": self.time_format or "ISO 8601",
            "columns": self.columns,
            "read_columns": self.raw_columns,
            "derived": self.derived,
            "target": self.target,
            "units": self.units,
            "lookback": self.lookback,
            "step": self.step,
            "delay": self.delay,
            "length": self.length,
            "span": self.span,
            "horizon": self.horizon,
            "fill": self.fill,
            "meaning": f"a window is {plural(self.length, 'row')}, {every(self.step)} "
            f"({plural(self.span, 'row')} in all); its forecast is for the row "
            f"{plural(self.horizon, 'row')} after its last row",
        }

    @property
    def target_scale(self) -> tuple[float, float]:
        return float(self.std[self.target_index]), float(self.mean[self.target_index])

    # ---------------------------------------------------------------- input
    def read(self, data, encoding: str = "utf-8", time_column: str | None = None) -> SeriesInput:
        """A table file, a pandas DataFrame or a ``Series``, ready for the model.

        Its rows are ordered as in training (the run's ``--time-order``) and
        its gaps filled as in training (``--fill``).
        """
        if isinstance(data, SeriesInput):
            return data
        time_column = time_column or self.time_column
        if isinstance(data, Series):
            missing = [c for c in self.raw_columns if c not in data.columns]
            if missing:
                data.index_of(missing[0])
            picked = [data.columns.index(c) for c in self.raw_columns]
            series = Series(data.times, data.values[:, picked], list(self.raw_columns), data.source)
        elif isinstance(data, (str, Path)):
            series = read_series(
                data, time_column, self.raw_columns, self.time_format, encoding, self.time_order
            )
        elif hasattr(data, "columns"):
            series = series_from_frame(
                data, "the data frame", time_column, self.raw_columns, self.time_format,
                self.time_order,
            )  # fmt: skip
        else:
            raise UserError(
                f"cannot forecast from a {type(data).__name__}; pass a CSV path or a data frame "
                f"with the columns {', '.join([time_column, *self.raw_columns])}"
            )
        report = find_gaps(series.times)
        series = rederive(fill_gaps(series, report, self.fill), self.derived, self.columns)
        normalized = ((series.values - self.mean) / self.std).astype(np.float32)
        return SeriesInput(series, report, normalized, self.fill)

    def _check_rows(self, given: SeriesInput, needed: int, why: str) -> None:
        rows = len(given.series)
        if rows < needed:
            raise UserError(
                f"{given.series.source} has {rows} rows, fewer than the {needed} that {why}; "
                "pass a longer series"
            )

    # -------------------------------------------------------------- forecast
    def window_inputs(self, normalized: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """The windows whose first rows are ``starts``: ``(len(starts), length, columns)``."""
        view = np.lib.stride_tricks.sliding_window_view(normalized, self.span, axis=0)
        return np.ascontiguousarray(view[starts, :, :: self.step].transpose(0, 2, 1))

    @torch.inference_mode()
    def forecast_normalized(self, windows: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """The model's (normalized) forecasts for normalized windows: a path's final horizon."""
        batches = (
            torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size]))
            for i in range(0, len(windows), batch_size)
        )
        outputs = predict(self.model, batches)
        return final_horizon(outputs).numpy() if len(outputs) else np.zeros(0, np.float32)

    def _forecasts(self, given: SeriesInput, starts: np.ndarray, batch_size: int):
        scale, offset = self.target_scale
        chunk = max(batch_size, 1) * 16  # bounds the memory of the gathered windows
        raw = [
            self.forecast_normalized(
                self.window_inputs(given.normalized, starts[i : i + chunk]), batch_size
            )
            for i in range(0, len(starts), chunk)
        ]
        values = np.concatenate(raw).astype(np.float64) * scale + offset
        times = given.series.times
        last_rows = starts + self.span - 1
        target_rows = last_rows + self.horizon
        inside = target_rows < len(times)
        when = np.full(len(starts), None, dtype=object)
        when[inside] = times[target_rows[inside]].astype(datetime)
        if (~inside).any():
            ahead = extrapolate(times, target_rows[~inside] - (len(times) - 1))
            if ahead is not None:
                when[~inside] = ahead.astype(datetime)
        ends = times[last_rows].astype(datetime)
        return [
            Forecast(ends[k], when[k], float(values[k]), self.horizon) for k in range(len(starts))
        ]

    def predict(self, data, batch_size: int = 1024) -> Forecast:
        """The forecast from the latest window of ``data`` (its last rows)."""
        given = self.read(data)
        self._check_rows(given, self.span, f"one window of lookback {self.lookback} needs")
        return self._forecasts(given, np.array([len(given.series) - self.span]), batch_size)[0]

    def predict_all(self, data, batch_size: int = 1024) -> list[Forecast]:
        """One forecast per window of ``data``, oldest first; the last is ``predict(data)``."""
        given = self.read(data)
        self._check_rows(given, self.span, f"one window of lookback {self.lookback} needs")
        return self._forecasts(given, np.arange(len(given.series) - self.span + 1), batch_size)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, data, batch_size: int = 1024) -> dict:
        """MAE of the model and of the common-sense baseline on every labelled window of ``data``."""
        given = self.read(data)
        needed = self.lookback + self.delay + 1
        self._check_rows(
            given,
            needed,
            f"one labelled window needs (lookback {self.lookback} + delay {self.delay} + 1)",
        )
        windows = Windows(
            given.normalized,
            given.normalized[:, self.target_index],
            self.lookback,
            self.step,
            self.delay,
            batch_size=batch_size,
        )
        task = make_task("regression")
        baseline = build_model(
            "common-sense", SeriesShape(len(self.columns), self.length, self.target_index)
        )
        mae = evaluate(self.model, task, windows)["mae"]
        base = evaluate(baseline, task, windows)["mae"]
        scale = self.target_scale[0]
        return {
            "data": given.series.source,
            "windows": windows.num_windows,
            "target": self.target,
            "units": self.units,
            "model": self.model_name,
            "mae": mae,
            "mae_units": mae * scale,
            "baseline_mae": base,
            "baseline_mae_units": base * scale,
            "gaps": {**given.gaps.to_dict(), "fill": self.fill},
        }

    def export_onnx(self, out: str | Path | None = None) -> Path:
        """Write model.onnx, normalization.json and signature.json into ``out`` (default RUN/export)."""
        return export_series_forecaster(self, out)


def read_series_stats(folder: RunFolder, config: RunConfig) -> dict:
    """normalization.json, checked: the training rows' statistics of each input column."""
    stats = folder.read_json("normalization.json")
    try:
        columns, mean, std = stats["columns"], stats["mean"], stats["std"]
        ok = (
            all(isinstance(c, str) for c in columns)
            and len(columns) == len(mean) == len(std) > 0
            and all(isinstance(v, (int, float)) and v > 0 for v in std)
            and all(isinstance(v, (int, float)) for v in mean)
            and config.shaping.target in columns
            and isinstance(stats["derived"], dict)
        )
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(
            f"{folder.path}/normalization.json is corrupted (missing or inconsistent fields); "
            "rerun the run"
        )
    return stats
