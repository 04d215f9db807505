"""Forecasting, one pipeline for every series run: the Jena and ETTh1 presets, ``convseq train
forecast``, ``series-csv`` and ``convseq.train_forecast``.

load (rows counted: steps back, repeats, gaps, -9999 marks) -> derived
columns -> split by rows -> normalize with the training rows' statistics ->
windows -> model (from its registry defaults) -> fit, or just score a
baseline -> test -> MAE normalized and in the target's units, beside the
common-sense and mean baselines scored on the same windows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from convseq.atomic import write_json
from convseq.config import NamedSeries, RunConfig, SeriesFile
from convseq.data.derived import derive
from convseq.data.series import (
    DATASETS,
    Series,
    describe,
    load_dataset,
    read_series,
    series_from_frame,
)
from convseq.data.splits import SPLIT_NAMES, parse_splits
from convseq.data.time_index import fill_gaps, find_gaps
from convseq.data.windows import Windows
from convseq.errors import ModelDoesNotFit, UserError
from convseq.evaluation.plots import plot_curves, plot_forecasts
from convseq.evaluation.ridge import ridge_baseline
from convseq.evaluation.ridge_nlinear import fit_ridge, predict_ridge, score_ridge
from convseq.models.calibrated import Calibrated, conformal_margins
from convseq.models.ensemble import members_of
from convseq.models.forecast import final_horizon
from convseq.models.registry import SeriesShape, build_model, get_model
from convseq.models.summary import summarize
from convseq.runs import RunFolder
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, evaluate, model_device, predict, target_maes
from convseq.wording import plural

NOT_FILLED = (
    "not filled: a window that spans a gap covers more time than the others; pass --fill "
    "ffill or --fill interpolate to fill the gaps"
)


def load(config: RunConfig) -> tuple[Series, str]:
    """The run's series, its rows ordered and counted as ``--time-order`` says, and its units."""
    source, shaping = config.source, config.shaping
    columns = shaping.columns_to_read()
    if isinstance(source, NamedSeries):
        series = load_dataset(config.dataset, source.data_dir or None, columns, source.time_order)
        units = DATASETS[config.dataset].units
    elif config.frame is not None:
        series = series_from_frame(
            config.frame, "the data frame", source.time_column, columns, source.time_format,
            source.time_order,
        )  # fmt: skip
        units = source.units
    else:
        if not source.data:
            raise UserError("this run trained on a DataFrame; pass it again (data=frame) to resume")
        series = read_series(
            source.data, source.time_column, columns, source.time_format, source.encoding,
            source.time_order,
        )  # fmt: skip
        units = source.units
    print(describe(series))
    gaps = find_gaps(series.times)
    series.report.gaps = gaps.to_dict()
    for note in series.report.lines(series.source):
        print(note)
    fill = source.fill if isinstance(source, SeriesFile) else "none"
    if gaps.count:
        how = NOT_FILLED if fill == "none" else f"filled by {fill}"
        if isinstance(source, NamedSeries):
            how = "kept: the reference presets read rows, as the chapter does"
        print(f"{gaps.describe(series.source)}; {how}")
        report = series.report
        series = fill_gaps(series, gaps, fill)
        series.report = report
    return series, units


@dataclass
class Prepared:
    """Normalized data and its windows, ready for any model."""

    train: Windows
    val: Windows
    test: Windows
    columns: list[str]
    target_index: int
    mean: np.ndarray
    std: np.ndarray
    splits: list[tuple[int, int]]
    targets: list[int]  # with --horizon: the forecast columns; else empty

    @property
    def target_std(self) -> float:
        return float(self.std[self.target_index])


def horizon_count(config: RunConfig) -> int:
    """Targets per training window: the path up to the target row, or its last value."""
    if config.shaping.horizon:
        return config.shaping.horizon
    return config.shaping.delay + 1 if config.train.horizons == "all" else 1


def target_names(config: RunConfig, series: Series, derived: dict) -> list[str]:
    """With ``--horizon``: the columns to forecast (``all``: every column but the calendar's)."""
    shaping = config.shaping
    if shaping.targets == ["all"]:
        return [c for c in series.columns if c not in derived["calendar"]]
    names = shaping.targets or [shaping.target]
    for name in names:
        series.index_of(name, "target (--targets)")
    return names


def prepare(series: Series, config: RunConfig, targets: list[str] | None = None) -> Prepared:
    """Split rows, normalize with the training rows' statistics and cut windows.

    With ``targets`` (``--horizon``) the windows are the long-horizon
    benchmark's: a window's path of H rows lies inside its split, the
    validation and test windows taking their history from the rows before
    the split; so every target row of a split is forecast, its first and
    last H - 1 rows at fewer steps.
    """
    shaping, train = config.shaping, config.train
    target = shaping.target or (targets or [""])[0]
    target_index = series.index_of(target, "target (--target)")
    lookback, step, delay = shaping.lookback, shaping.step, shaping.last_delay
    if len(series) < lookback + delay + 1:
        what = f"lookback + horizon = {lookback + delay + 1}" if targets else (
            f"lookback + delay + 1 = {lookback + delay + 1}"
        )  # fmt: skip
        raise UserError(
            f"{series.source} has {len(series)} rows, fewer than {what}; use a longer series or "
            f"a smaller --lookback or {'--horizon' if targets else '--delay'}"
        )
    splits = parse_splits(shaping.splits, len(series), series.source)
    for k, (name, (start, end)) in enumerate(zip(SPLIT_NAMES, splits, strict=True)):
        needed = shaping.horizon + (lookback if k == 0 else 0)
        if targets and end - start < needed:
            raise UserError(
                f"--horizon {shaping.horizon} does not fit the {name} split ({end - start} rows"
                f"{f', of which {lookback} are the first window' if k == 0 else ''}); use a "
                "smaller --horizon or a longer split"
            )
    lo, hi = splits[0]
    mean, std = series.values[lo:hi].mean(axis=0), series.values[lo:hi].std(axis=0)
    flat = np.flatnonzero(std == 0)
    if flat.size:
        raise UserError(
            f"column {series.columns[flat[0]]!r} is constant over the training rows {lo}:{hi}, "
            "so it cannot be normalized; leave it out with --features"
        )
    data = ((series.values - mean) / std).astype(np.float32)
    columns = [series.columns.index(name) for name in targets or []]
    windows = []
    for k, (name, (start, end)) in enumerate(zip(SPLIT_NAMES, splits, strict=True)):
        if columns:  # every target row of the split, its history from before the split
            start, end = max(0, start - lookback) if k else start, end - delay
        try:
            windows.append(
                Windows(
                    data,
                    data[:, columns] if columns else data[:, target_index],
                    lookback,
                    step,
                    delay,
                    start,
                    end,
                    batch_size=train.batch_size if k == 0 else train.eval_batch_size,
                    shuffle=k == 0,
                    steps_per_epoch=train.steps_per_epoch if k == 0 else 0,
                    seed=train.seed,
                    horizons=horizon_count(config) if k == 0 or columns else 1,
                )
            )
        except UserError as exc:
            raise UserError(f"the {name} split: {exc}") from None
    return Prepared(*windows, list(series.columns), target_index, mean, std, splits, columns)


def save_normalization(folder: RunFolder, prepared: Prepared, rows: int, derived: dict) -> None:
    """The training rows' statistics of each input column, and which columns are derived:
    with the run's config, what prediction needs to read new data and its outputs in units."""
    write_json(
        folder.file("normalization.json"),
        {
            "columns": prepared.columns,
            "targets": [prepared.columns[j] for j in prepared.targets],
            "derived": derived,
            "mean": prepared.mean.tolist(),
            "std": prepared.std.tolist(),
            "rows": rows,
            "splits": prepared.splits,
        },
    )


def baseline_scores(prepared: Prepared, task, shape: SeriesShape) -> dict[str, float]:
    """The baselines' MAE on the validation and test windows, normalized and in units:
    common sense, the training mean, and a ridge map of the target's window."""
    if prepared.targets:
        return path_baselines(prepared, shape)
    scores = {}
    for key, name in (("baseline", "common-sense"), ("mean_baseline", "mean")):
        model = build_model(name, shape)
        for split, windows in (("val", prepared.val), ("test", prepared.test)):
            scores[f"{key}_{split}_mae"] = evaluate(model, task, windows)["mae"]
    ridge = ridge_baseline(prepared.train, prepared.val, prepared.test, prepared.target_index)
    scores.update(
        ridge_baseline_val_mae=ridge["val_mae"], ridge_baseline_test_mae=ridge["test_mae"]
    )
    for key in list(scores):
        scores[f"{key}_units"] = scores[key] * prepared.target_std
    scores["ridge_baseline_penalty"] = ridge["penalty"]
    scores["ridge_weights"] = ridge["weights"]  # taken out before metrics.json
    return scores


@dataclass
class PerTarget:
    """Windows as the ridge NLinear reads them: each target column's history and path."""

    windows: Windows
    columns: list[int]

    @property
    def lookback(self) -> int:
        return self.windows.length

    @property
    def horizon(self) -> int:
        return self.windows.horizons

    @property
    def n_windows(self) -> int:
        return self.windows.num_windows

    def arrays(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.windows.gather(np.arange(start, stop))
        return x[:, :, self.columns].numpy().transpose(0, 2, 1), y.numpy().transpose(0, 2, 1)


def path_baselines(prepared: Prepared, shape: SeriesShape) -> dict:
    """With ``--horizon``: MAE and MSE over every step and target of the last value repeated
    (common sense), the training mean and the ridge NLinear (its penalty chosen on validation)."""
    point = replace(shape, quantiles=())
    task = make_task("paths", loss="mse")
    scores: dict = {}
    for key, name in (("baseline", "common-sense"), ("mean_baseline", "mean")):
        model = build_model(name, point)
        for split, windows in (("val", prepared.val), ("test", prepared.test)):
            found = evaluate(model, task, windows)
            scores.update({f"{key}_{split}_{m}": found[m] for m in ("mae", "mse")})
    train, val, test = (
        PerTarget(w, prepared.targets) for w in (prepared.train, prepared.val, prepared.test)
    )
    fit = fit_ridge(train, val)
    for split, view in (("val", val), ("test", test)):
        mse, mae = score_ridge(fit, view)
        scores.update({f"ridge_baseline_{split}_mse": mse, f"ridge_baseline_{split}_mae": mae})
    scores["ridge_baseline_penalty"] = fit.penalty
    # taken out before metrics.json: the map [L, H], and (for --model auto) its forecasts
    scores["ridge_weights"] = fit.weights
    scores["ridge_forecasts"] = lambda split: torch.from_numpy(
        predict_ridge(fit, {"val": val, "test": test}[split])
    )
    return scores


def versus_baseline(label: str, mae: float, base: float, scale: float, units: str) -> str:
    """``label: MAE m (m units) | common-sense baseline: MAE b (b units), model +x%``."""
    units = f" {units}" if units else ""
    change = f", model {100 * (mae / base - 1):+.1f}%" if base else ""
    return (
        f"{label}: MAE {mae:.4f} ({mae * scale:.4g}{units}) | common-sense baseline: "
        f"MAE {base:.4f} ({base * scale:.4g}{units}){change}"
    )


def run(config: RunConfig, folder: RunFolder, outputs: dict | None = None) -> dict:
    """Train (or just score a baseline) and test a forecaster into ``folder``; the metrics.

    ``outputs``, when given, receives the validation and test forecasts with their
    targets (normalized), and the ridge map's weights (what ``--model auto`` compares,
    averages or falls back to).
    """
    seed, shaping = config.train.seed, config.shaping
    if not shaping.target and not shaping.targets:
        more = " (or with --horizon, --targets A,B or all)" if shaping.horizon else ""
        raise UserError(f"{config.preset} needs the column to forecast: pass --target COLUMN{more}")
    if shaping.horizon and config.train.horizons == "all":
        raise UserError(
            "--horizons all trains one target's path; --horizon already trains every step of "
            "every target: drop --horizons"
        )
    entry = get_model(config.model, "forecast")
    if config.train.horizons == "all" and not entry.trainable:
        raise UserError(
            "--horizons all trains a path of forecasts, which a baseline does not learn; "
            f"model {config.model!r} needs --horizons last"
        )
    if config.train.quantiles and not (shaping.horizon and entry.trainable):
        raise UserError(
            "--quantiles trains a quantile head on every step of --horizon; pass --horizon H "
            "and a trained model"
        )
    seed_everything(seed)
    series, units = load(config)
    wind = shaping.wind_columns if shaping.wind_vector else None
    quality = series.report.to_dict()
    series, derived = derive(series, shaping.calendar, wind, shaping.target)
    targets = target_names(config, series, derived) if shaping.horizon else []
    if targets and targets != [shaping.target]:
        units = ""  # the units name --target's column, not the others'
    prepared = prepare(series, config, targets)
    forecast = (
        f"{plural(len(targets), 'target')} x {shaping.horizon} steps" if targets
        else f"target {shaping.target!r}"
    )  # fmt: skip
    print(
        f"windows: {prepared.train.num_windows} train / {prepared.val.num_windows} validation / "
        f"{prepared.test.num_windows} test, {plural(prepared.train.length, 'step')} x "
        f"{plural(len(prepared.columns), 'feature')}, {forecast}"
    )

    seed_everything(seed)
    residual = config.model_settings.get("residual", False)
    shape = SeriesShape(
        num_features=len(prepared.columns),
        window=prepared.train.length,
        target_index=prepared.target_index,
        absolute_features=tuple(prepared.columns.index(c) for c in derived["calendar"])
        if residual
        else (),
        horizons=horizon_count(config),
        targets=tuple(prepared.targets),
        quantiles=tuple(config.train.quantiles),
    )
    model = entry.make(shape, config.model_settings)
    min_length = getattr(model, "min_length", 1)
    if prepared.train.length < min_length:
        why = getattr(model, "min_length_why", "")
        raise ModelDoesNotFit(
            f"windows of {prepared.train.length} steps (lookback {shaping.lookback} / "
            f"step {shaping.step}) are too short for {config.model}, which needs "
            f"{min_length}{f' ({why})' if why else ''}; raise --lookback or lower --step"
        )
    save_normalization(folder, prepared, len(series), derived)
    example = prepared.train.gather(np.arange(min(2, prepared.train.num_windows)))[0]
    summary, params = summarize(model, example)
    print(summary)

    task = make_task(
        "paths" if targets else "regression",
        loss=config.train.loss,
        huber_delta=config.train.huber_delta,
        members=len(members_of(model)),
        **(
            {"quantiles": shape.quantiles} if targets
            else {"final_weight": config.train.final_weight, "horizons": shape.horizons}
        ),
    )  # fmt: skip
    baselines = baseline_scores(prepared, task, shape)
    ridge_weights = baselines.pop("ridge_weights")
    ridge_forecasts = baselines.pop("ridge_forecasts", None)
    scale = prepared.target_std
    report_baselines(baselines, units, bool(targets))
    if entry.trainable:
        trainer = _train(model, task, prepared, config, folder, baselines, units)
        history, best_epoch = trainer.history, trainer.best_epoch
        best_val = {m: history[best_epoch - 1][f"val_{m}"] for m in task.metric_names}
        seconds = float(np.mean([row["seconds"] for row in history]))
    else:
        best_val = evaluate(model, task, prepared.val)
        loss = best_val["loss"] if targets else best_val["mae"]
        history = [{"epoch": 0, "val_loss": loss, "val_mae": best_val["mae"]}]
        folder.write_history(history)
        best_epoch, seconds = 0, 0.0
    record = {"model": config.model, "shape": asdict(shape), "settings": config.model_settings}
    calibration = {}
    if shape.quantiles and config.train.calibrate:
        model, calibration = calibrated(model, task, prepared)
        record["calibrated"] = True
    folder.save_weights(model, record)
    test = evaluate(model, task, prepared.test)
    draw_forecasts(model, task, prepared, folder.file("forecast.png"), config, units)
    if outputs is not None:
        for name, windows in (("val", prepared.val), ("test", prepared.test)):
            forecasts = predict(model, (inputs for inputs, _ in windows.epoch(0)))
            truth = torch.cat([truth for _, truth in windows.epoch(0)])
            outputs[name] = (forecasts, truth)
        outputs.update(ridge_weights=ridge_weights, scale=prepared.target_std)
        outputs.update(quantiles=shape.quantiles, shape=asdict(shape), ridge=ridge_forecasts)
        outputs["draw"] = lambda chosen, path, name: draw_forecasts(
            chosen, task, prepared, path, config, units, name
        )  # forecast.png of the model --model auto chooses
        outputs.update(
            target_names=[prepared.columns[j] for j in prepared.targets],
            target_std=[float(prepared.std[j]) for j in prepared.targets],
        )
    metrics = {
        "experiment": config.preset,
        "dataset": config.dataset,
        "model": config.model,
        "params": params,
        "target": shaping.target,
        "units": units,
        "best_epoch": best_epoch,
        **{f"best_val_{m}": best_val[m] for m in task.metric_names},
        **{f"test_{m}": test[m] for m in task.metric_names},
        "seconds_per_epoch": seconds,
        "epochs_run": len(history) if entry.trainable else 0,
        "rows": quality,
        **calibration,
        **baselines,
        "torch_threads": torch.get_num_threads(),
    }
    if targets:
        metrics.update(targets=targets, horizon=shaping.horizon, quantiles=list(shape.quantiles))
        maes = target_maes(model, task, prepared.test).numpy() * prepared.std[prepared.targets]
        metrics["test_mae_by_target"] = dict(zip(targets, maes.tolist(), strict=True))
        for label, split in (("validation", "val"), ("test", "test")):
            print(paths_line(label, metrics, split))
    else:
        for key in ("best_val_mae", "test_mae"):
            metrics[f"{key}_units"] = metrics[key] * scale
        for label, mae, base in (
            ("validation", metrics["best_val_mae"], baselines["baseline_val_mae"]),
            ("test", metrics["test_mae"], baselines["baseline_test_mae"]),
        ):
            print(versus_baseline(label, mae, base, scale, units))
    return metrics


def calibrated(model, task, prepared: Prepared) -> tuple[torch.nn.Module, dict]:
    """The quantile model with its outer levels moved to cover their nominal share of the
    validation targets (``Calibrated``), and the validation coverage before and after."""
    forecasts = predict(model, (inputs for inputs, _ in prepared.val.epoch(0)))
    truth = torch.cat([truth for _, truth in prepared.val.epoch(0)])
    levels = task.levels.tolist()
    nominal = levels[-1] - levels[0]
    wrapped = Calibrated(model, prepared.val.horizons, len(prepared.targets))
    wrapped.to(model_device(model))  # the margins beside the weights (a GPU after training)
    low, high = forecasts[..., 0], forecasts[..., -1]
    wrapped.margins.copy_(conformal_margins(low, high, truth, nominal))
    after = evaluate(wrapped, task, prepared.val)["coverage"]
    before = float(((truth >= low) & (truth <= high)).float().mean())
    print(
        f"interval calibrated on validation: coverage {before:.3f} -> {after:.3f} (nominal "
        f"{nominal:g}), mean margin {float(wrapped.margins.mean()):+.3f}"
    )
    return wrapped, {"val_coverage_uncalibrated": before, "val_coverage_calibrated": after}


def report_baselines(baselines: dict, units: str, paths: bool) -> None:
    """One line per baseline: validation and test MAE (and MSE over paths, or units)."""
    shown = f" {units}" if units else ""
    ridge = "ridge NLinear" if paths else "ridge (the target's window)"
    for label, prefix in (("common-sense", "baseline"), (ridge, "ridge_baseline")):
        parts = []
        for name, key in (("validation", "val"), ("test", "test")):
            mae = baselines[f"{prefix}_{key}_mae"]
            extra = (
                f"MSE {baselines[f'{prefix}_{key}_mse']:.4f}" if paths
                else f"{baselines[f'{prefix}_{key}_mae_units']:.3f}{shown}"
            )  # fmt: skip
            parts.append(f"{name} MAE {mae:.4f} ({extra})")
        print(f"{label} baseline: " + ", ".join(parts))


def paths_line(label: str, metrics: dict, split: str) -> str:
    """``label: MSE m, MAE a | ridge: MSE r | common sense: MSE c`` over every step and target."""
    key = "best_val" if split == "val" else "test"
    line = f"{label}: MSE {metrics[f'{key}_mse']:.4f}, MAE {metrics[f'{key}_mae']:.4f}"
    for name, prefix in (("ridge", "ridge_baseline"), ("common sense", "baseline")):
        line += f" | {name}: MSE {metrics[f'{prefix}_{split}_mse']:.4f}"
    if f"{key}_coverage" in metrics:
        line += f" | interval coverage {metrics[f'{key}_coverage']:.3f}"
        if split == "val" and "val_coverage_calibrated" in metrics:
            line += f" ({metrics['val_coverage_calibrated']:.3f} calibrated)"
    return line


def draw_forecasts(
    model, task, prepared: Prepared, path, config: RunConfig, units: str, name: str = ""
) -> None:
    """``forecast.png``: three test windows of the first target with history, truth, forecast
    and the interval (``--horizon``), or the first test forecasts beside the truth."""
    test, step, lookback = prepared.test, prepared.test.step, prepared.test.lookback
    column = (prepared.targets or [prepared.target_index])[0]
    std, mean = float(prepared.std[column]), float(prepared.mean[column])
    name = prepared.columns[column]
    title = f"{config.preset} on {config.dataset}: {name or config.model}, test windows"
    if not prepared.targets:
        count = min(test.num_windows, 500)
        inputs, truth = test.gather(np.arange(count))
        forecast = final_horizon(predict(model, [inputs]))
        x = test.rows()[:count] + test.delay
        panel = {"x": x, "truth": truth.numpy() * std + mean, "forecast_x": x}
        panel.update(forecast=forecast.numpy() * std + mean, label=f"{name}, {test.delay} rows after the "
                     "row that follows each window", x_label="target row")  # fmt: skip
        plot_forecasts([panel], path, title, units)
        return
    picks = np.unique(np.linspace(0, test.num_windows - 1, 3).astype(int))
    inputs, truth = test.gather(picks)
    output = predict(model, [inputs])[:, :, 0]
    point = task.point(output)
    panels = []
    for k, window in enumerate(picks):
        start = int(test.rows()[window])
        shown = min(test.length, max(1, 2 * test.horizons // step))  # the recent history
        panel = {
            "history_x": start - lookback + step * np.arange(test.length)[-shown:],
            "history": inputs[k, -shown:, column].numpy() * std + mean,
            "x": start + np.arange(test.horizons),
            "truth": truth[k, :, 0].numpy() * std + mean,
            "forecast_x": start + np.arange(test.horizons),
            "forecast": point[k].numpy() * std + mean,
            "label": f"{name}: the {test.horizons} rows from row {start}",
        }
        if task.median is not None:
            low, high = output[k, :, 0].numpy() * std + mean, output[k, :, -1].numpy() * std + mean
            levels = task.levels.tolist()
            panel["band"] = (low, high, f"{levels[0]:g}-{levels[-1]:g} quantiles")
        panels.append(panel)
    plot_forecasts(panels, path, title, units if len(prepared.targets) == 1 else "")


def _train(model, task, prepared: Prepared, config: RunConfig, folder: RunFolder, baselines, units):
    scale = prepared.target_std

    shown = ["mae", "mse"] if prepared.targets else ["mae"]  # normalized over every target

    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history,
            shown,
            folder.file("curves.png"),
            baselines={
                m: {"common-sense (validation)": baselines[f"baseline_val_{m}"]} for m in shown
            },
            title=f"{config.preset} on {config.dataset}: {config.model}",
            scale={} if prepared.targets else {"mae": scale},
            units={} if prepared.targets else {"mae": units},
        )

    trainer = Trainer(
        model,
        task,
        config.train,
        folder.shared("checkpoint.pt"),
        on_epoch_end=after_epoch,
        deadline=config.deadline,
        final_passes=2 + prepared.test.num_windows / prepared.val.num_windows,
    )
    trainer.fit(prepared.train, prepared.val)
    return trainer
