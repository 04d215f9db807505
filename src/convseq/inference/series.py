"""A trained forecaster: a CSV series (or a data frame) in, forecasts in the target's units out.

New data goes through the run's own steps: the same columns and time column,
the gaps filled as in training (``--fill``), normalization with the training
statistics, and windows cut as the trainer cut them. A window's last row is
``span - 1`` rows after its first, and its forecast is for ``horizon`` rows
after that last row (``lookback + delay - (span - 1)``: ``delay + step`` when
the step divides the lookback). A run trained with ``--horizon H`` forecasts
a path instead: each target at each step 1..H, step ``s`` being the row
``lookback - (span - 1) + s - 1`` rows after the window's last row (the row
``i + s - 1`` for the window of row ``i``), with ``--quantiles`` at each level.
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
from convseq.training.trainer import evaluate, predict, target_maes
from convseq.wording import every, plural


@dataclass(frozen=True)
class Forecast:
    """One forecast: ``value`` (target units) for ``time``, from the window ending at ``window_end``."""

    window_end: datetime
    time: datetime | None  # None when the time index is too irregular to count rows ahead
    value: float
    rows_ahead: int  # rows after window_end


@dataclass(frozen=True)
class StepForecast:
    """One step of one target's path: ``value`` (its units) for ``time``, step ``step`` of 1..H."""

    window_end: datetime
    step: int
    target: str
    time: datetime | None  # None when the time index is too irregular to count rows ahead
    value: float  # the point forecast: the 0.5 level with quantiles
    quantiles: dict[float, float]  # level -> value; empty for a run without --quantiles
    rows_ahead: int  # rows after window_end


@dataclass(frozen=True, eq=False)
class PathForecast:
    """One window's forecasts from a ``--horizon`` run: every step 1..H of every target.

    Arrays, not one object per value, so that every window of a long series
    stays cheap: ``values[s - 1, t]`` is step ``s`` of ``targets[t]`` in that
    target's units, ``quantiles[level]`` the same for each level, and
    ``times[s - 1]`` when step ``s`` is. ``steps`` lists them one by one.
    """

    window_end: datetime
    times: list[datetime | None]  # of each step; None past the end of an irregular index
    targets: list[str]
    values: np.ndarray  # (H, T) float64, the point forecast (the 0.5 level with quantiles)
    quantiles: dict[float, np.ndarray]  # level -> (H, T); empty for a run without --quantiles
    rows_ahead: list[int]  # of each step, after window_end

    @property
    def steps(self) -> list[StepForecast]:
        """One forecast per step and target, step by step, each step's targets in order."""
        return [
            StepForecast(
                self.window_end,
                s + 1,
                name,
                self.times[s],
                float(self.values[s, t]),
                {level: float(v[s, t]) for level, v in self.quantiles.items()},
                self.rows_ahead[s],
            )
            for s in range(len(self.times))
            for t, name in enumerate(self.targets)
        ]

    def value(self, target: str, step: int) -> float:
        """The forecast of ``target`` at ``step`` (1..H), in its units."""
        if target not in self.targets or not 1 <= step <= len(self.times):
            raise UserError(
                f"no forecast of {target!r} at step {step}; this run forecasts "
                f"{', '.join(self.targets)} at steps 1..{len(self.times)}"
            )
        return float(self.values[step - 1, self.targets.index(target)])


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
    """Load one with ``convseq.load(run_dir)``; ``predict(csv_or_frame)`` forecasts the latest window.

    A run with ``--horizon`` gives a ``PathForecast`` per window (``steps`` > 0),
    the others a ``Forecast``.
    """

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
        # with --horizon: the forecast columns, each at steps 1..H (0: one value of target)
        self.steps: int = shaping.horizon
        self.targets: list[str] = list(stats.get("targets") or []) if self.steps else []
        self.target_indices: list[int] = [self.columns.index(c) for c in self.targets]
        self.quantiles: list[float] = list(config.train.quantiles) if self.steps else []
        # as training chose the shape's target column: --target, else the first of --targets
        self.target: str = shaping.target or (self.targets or [""])[0]
        self.target_index: int = self.columns.index(self.target)
        self.lookback, self.step, self.delay = shaping.lookback, shaping.step, shaping.last_delay
        self.length = len(range(0, self.lookback, self.step))  # rows in one window
        self.span = (self.length - 1) * self.step + 1  # rows from a window's first to its last
        self.horizon = self.lookback + self.delay - (self.span - 1)  # the last forecast's rows
        self.first_ahead = self.horizon - self.delay  # rows from the last row to step 1
        self.time_column, self.time_format = time_layout(config.source, config.dataset)
        self.fill: str = getattr(config.source, "fill", "none")
        self.time_order: str = config.source.time_order

    def __repr__(self) -> str:
        forecast = (
            f"targets={self.targets!r}, horizon={self.steps}"
            + (f", quantiles={self.quantiles!r}" if self.quantiles else "")
            if self.steps
            else f"target={self.target!r}"
        )
        return (
            f"SeriesForecaster({str(self.path)!r}, model={self.model_name!r}, {forecast}, "
            f"lookback={self.lookback}, step={self.step}, delay={self.delay})"
        )

    @property
    def window(self) -> dict:
        """How windows are cut from a series, and what their forecast is for."""
        cut = (
            f"a window is {plural(self.length, 'row')}, {every(self.step)} "
            f"({plural(self.span, 'row')} in all)"
        )
        if not self.steps:
            return self._layout(
                {"target": self.target},
                f"{cut}; its forecast is for the row {plural(self.horizon, 'row')} after its "
                "last row",
            )
        levels = ", ".join(f"{q:g}" for q in self.quantiles)
        forecast = {
            "targets": self.targets,
            "target_columns": self.target_indices,
            "steps": self.steps,
            "quantiles": self.quantiles,
            "rows_ahead": self.rows_ahead,
        }
        return self._layout(
            forecast,
            f"{cut}; its forecast is a path of {plural(self.steps, 'step')} for each of "
            f"{', '.join(self.targets)}: step s is the row {self.first_ahead} + s - 1 rows after "
            "its last row"
            + (f", at the quantile levels {levels} (0.5: the forecast)" if levels else ""),
        )

    @property
    def rows_ahead(self) -> list[int]:
        """Rows after a window's last row of each step 1..H (``--horizon``), or of its forecast."""
        return list(range(self.first_ahead, self.horizon + 1)) if self.steps else [self.horizon]

    def _layout(self, forecast: dict, meaning: str) -> dict:
        return {
            "time_column": self.time_column,
            "time_format": self.time_format or "ISO 8601",
            "columns": self.columns,
            "read_columns": self.raw_columns,
            "derived": self.derived,
            **forecast,
            "units": self.units,
            "lookback": self.lookback,
            "step": self.step,
            "delay": self.delay,
            "length": self.length,
            "span": self.span,
            "horizon": self.horizon,
            "fill": self.fill,
            "meaning": meaning,
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
        """The model's (normalized) forecasts for normalized windows: a path's final horizon,
        or with ``--horizon`` the whole output, ``(windows, H, T)`` or ``(windows, H, T, Q)``."""
        batches = (
            torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size]))
            for i in range(0, len(windows), batch_size)
        )
        outputs = predict(self.model, batches)
        if not len(outputs):
            return np.zeros((0, *self.output_shape), np.float32)
        return (outputs if self.steps else final_horizon(outputs)).numpy()

    @property
    def output_shape(self) -> tuple[int, ...]:
        """One window's forecast: ``()``, or ``(H, T)``, or ``(H, T, Q)`` with quantiles."""
        if not self.steps:
            return ()
        return (self.steps, len(self.targets), *([len(self.quantiles)] if self.quantiles else []))

    def units_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Multipliers and offsets that take the normalized output to units, shaped to broadcast
        over it: each target's std and mean (on the last axis but the quantiles')."""
        if not self.steps:
            return self.std[self.target_index], self.mean[self.target_index]
        shape = (len(self.targets), 1) if self.quantiles else (len(self.targets),)
        return (
            self.std[self.target_indices].reshape(shape),
            self.mean[self.target_indices].reshape(shape),
        )

    def _times_at(self, times: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The times of ``rows`` (any shape), counted past the data's end when beyond it;
        None there when the time index is too irregular to count."""
        inside = rows < len(times)
        when = np.full(rows.shape, None, dtype=object)
        when[inside] = times[rows[inside]].astype(datetime)
        if (~inside).any():
            ahead = extrapolate(times, rows[~inside] - (len(times) - 1))
            if ahead is not None:
                when[~inside] = ahead.astype(datetime)
        return when

    def _forecasts(self, given: SeriesInput, starts: np.ndarray, batch_size: int):
        scale, offset = self.units_scale()
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
        ends = times[last_rows].astype(datetime)
        if self.steps:
            when = self._times_at(times, last_rows[:, None] + np.array(self.rows_ahead))
            return self._paths(values, ends, when)
        when = self._times_at(times, last_rows + self.horizon)
        return [
            Forecast(ends[k], when[k], float(values[k]), self.horizon) for k in range(len(starts))
        ]

    def _paths(self, values: np.ndarray, ends: np.ndarray, when: np.ndarray) -> list:
        """``PathForecast``s from the outputs in units ``(windows, H, T[, Q])``."""
        if self.quantiles:
            median = self.quantiles.index(0.5)
            levels = [
                {q: values[k, :, :, j] for j, q in enumerate(self.quantiles)}
                for k in range(len(values))
            ]
            values = values[..., median]
        else:
            levels = [{} for _ in range(len(values))]
        ahead = self.rows_ahead
        return [
            PathForecast(ends[k], list(when[k]), list(self.targets), values[k], levels[k], ahead)
            for k in range(len(values))
        ]

    def predict(self, data, batch_size: int = 1024) -> Forecast | PathForecast:
        """The forecast from the latest window of ``data`` (its last rows)."""
        given = self.read(data)
        self._check_rows(given, self.span, f"one window of lookback {self.lookback} needs")
        return self._forecasts(given, np.array([len(given.series) - self.span]), batch_size)[0]

    def predict_all(self, data, batch_size: int = 1024) -> list[Forecast] | list[PathForecast]:
        """One forecast per window of ``data``, oldest first; the last is ``predict(data)``."""
        given = self.read(data)
        self._check_rows(given, self.span, f"one window of lookback {self.lookback} needs")
        return self._forecasts(given, np.arange(len(given.series) - self.span + 1), batch_size)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, data, batch_size: int = 1024) -> dict:
        """MAE of the model and of the common-sense baseline on every labelled window of ``data``;
        with ``--horizon`` MSE and MAE over every step and target (``evaluate_paths``)."""
        if self.steps:
            return self.evaluate_paths(data, batch_size)
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

    def evaluate_paths(self, data, batch_size: int = 1024) -> dict:
        """A ``--horizon`` run scored as training scored it: MSE and MAE (normalized) over every
        step and target of every labelled window, each target's MAE in its units, the
        common-sense baseline's, and with quantiles the lowest..highest level's interval."""
        given = self.read(data)
        self._check_rows(
            given,
            self.lookback + self.steps,
            f"one labelled window needs (lookback {self.lookback} + horizon {self.steps})",
        )
        windows = Windows(
            given.normalized,
            given.normalized[:, self.target_indices],
            self.lookback,
            self.step,
            self.delay,
            batch_size=batch_size,
            horizons=self.steps,
        )
        task, point = make_task("paths", quantiles=self.quantiles), make_task("paths")
        shape = SeriesShape(
            len(self.columns), self.length, self.target_index, horizons=self.steps,
            targets=tuple(self.target_indices),
        )  # fmt: skip
        baseline = build_model("common-sense", shape)
        found, base = evaluate(self.model, task, windows), evaluate(baseline, point, windows)
        std = self.std[self.target_indices]
        scores = {
            "data": given.series.source,
            "windows": windows.num_windows,
            "targets": self.targets,
            "horizon": self.steps,
            "quantiles": self.quantiles,
            "units": self.units,
            "model": self.model_name,
            "mse": found["mse"],
            "mae": found["mae"],
            "baseline_mse": base["mse"],
            "baseline_mae": base["mae"],
            "mae_by_target": _by_target(target_maes(self.model, task, windows).numpy() * std, self),
            "baseline_mae_by_target": _by_target(
                target_maes(baseline, point, windows).numpy() * std, self
            ),
        }
        if self.quantiles:
            scores.update(
                pinball_loss=found["loss"],
                interval=[self.quantiles[0], self.quantiles[-1]],
                coverage=found["coverage"],
                width=found["width"],
            )
        scores["gaps"] = {**given.gaps.to_dict(), "fill": self.fill}
        return scores

    def export_onnx(self, out: str | Path | None = None) -> Path:
        """Write model.onnx, normalization.json and signature.json into ``out`` (default RUN/export)."""
        return export_series_forecaster(self, out)


@torch.no_grad()
def _by_target(values: np.ndarray, forecaster: SeriesForecaster) -> dict[str, float]:
    return {name: float(v) for name, v in zip(forecaster.targets, values, strict=True)}


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
            and isinstance(stats["derived"], dict)
        )
        if config.shaping.horizon:  # the resolved --targets
            targets = stats["targets"]
            ok = ok and isinstance(targets, list) and bool(targets)
            ok = ok and all(c in columns for c in targets)
            ok = ok and (not config.shaping.target or config.shaping.target in columns)
        else:
            ok = ok and config.shaping.target in columns
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(
            f"{folder.path}/normalization.json is corrupted (missing or inconsistent fields); "
            "rerun the run"
        )
    return stats
