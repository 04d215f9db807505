"""Forecasting, one pipeline for every series run: the Jena and ETTh1 presets, ``convseq train
forecast``, ``series-csv`` and ``convseq.train_forecast``.

load (rows counted: steps back, repeats, gaps, -9999 marks) -> derived
columns -> split by rows -> normalize with the training rows' statistics ->
windows -> model (from its registry defaults) -> fit, or just score a
baseline -> test -> MAE normalized and in the target's units, beside the
common-sense and mean baselines scored on the same windows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
from convseq.evaluation.plots import plot_curves
from convseq.evaluation.ridge import ridge_baseline
from convseq.models.ensemble import members_of
from convseq.models.registry import SeriesShape, build_model, get_model
from convseq.models.summary import summarize
from convseq.runs import RunFolder
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, evaluate, predict
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

    @property
    def target_std(self) -> float:
        return float(self.std[self.target_index])


def horizon_count(config: RunConfig) -> int:
    """Targets per training window: the path up to the target row, or its last value."""
    return config.shaping.delay + 1 if config.train.horizons == "all" else 1


def prepare(series: Series, config: RunConfig) -> Prepared:
    """Split rows, normalize with the training rows' statistics and cut windows."""
    shaping, train = config.shaping, config.train
    target_index = series.index_of(shaping.target, "target (--target)")
    lookback, step, delay = shaping.lookback, shaping.step, shaping.delay
    if len(series) < lookback + delay + 1:
        raise UserError(
            f"{series.source} has {len(series)} rows, fewer than lookback + delay + 1 = "
            f"{lookback + delay + 1}; use a longer series or a smaller --lookback or --delay"
        )
    splits = parse_splits(shaping.splits, len(series), series.source)
    lo, hi = splits[0]
    mean, std = series.values[lo:hi].mean(axis=0), series.values[lo:hi].std(axis=0)
    flat = np.flatnonzero(std == 0)
    if flat.size:
        raise UserError(
            f"column {series.columns[flat[0]]!r} is constant over the training rows {lo}:{hi}, "
            "so it cannot be normalized; leave it out with --features"
        )
    data = ((series.values - mean) / std).astype(np.float32)
    windows = []
    for k, (name, (start, end)) in enumerate(zip(SPLIT_NAMES, splits, strict=True)):
        try:
            windows.append(
                Windows(
                    data,
                    data[:, target_index],
                    lookback,
                    step,
                    delay,
                    start,
                    end,
                    batch_size=train.batch_size if k == 0 else train.eval_batch_size,
                    shuffle=k == 0,
                    steps_per_epoch=train.steps_per_epoch if k == 0 else 0,
                    seed=train.seed,
                    horizons=horizon_count(config) if k == 0 else 1,
                )
            )
        except UserError as exc:
            raise UserError(f"the {name} split: {exc}") from None
    return Prepared(*windows, list(series.columns), target_index, mean, std, splits)


def save_normalization(folder: RunFolder, prepared: Prepared, rows: int, derived: dict) -> None:
    """The training rows' statistics of each input column, and which columns are derived:
    with the run's config, what prediction needs to read new data and its outputs in units."""
    write_json(
        folder.file("normalization.json"),
        {
            "columns": prepared.columns,
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
    seed = config.train.seed
    if not config.shaping.target:
        raise UserError(f"{config.preset} needs the column to forecast: pass --target COLUMN")
    entry = get_model(config.model, "forecast")
    if config.train.horizons == "all" and not entry.trainable:
        raise UserError(
            "--horizons all trains a path of forecasts, which a baseline does not learn; "
            f"model {config.model!r} needs --horizons last"
        )
    seed_everything(seed)
    series, units = load(config)
    wind = config.shaping.wind_columns if config.shaping.wind_vector else None
    quality = series.report.to_dict()
    series, derived = derive(series, config.shaping.calendar, wind, config.shaping.target)
    prepared = prepare(series, config)
    print(
        f"windows: {prepared.train.num_windows} train / {prepared.val.num_windows} validation / "
        f"{prepared.test.num_windows} test, {plural(prepared.train.length, 'step')} x "
        f"{plural(len(prepared.columns), 'feature')}, target {config.shaping.target!r}"
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
    )
    entry = get_model(config.model, "forecast")
    model = entry.make(shape, config.model_settings)
    min_length = getattr(model, "min_length", 1)
    if prepared.train.length < min_length:
        why = getattr(model, "min_length_why", "")
        raise ModelDoesNotFit(
            f"windows of {prepared.train.length} steps (lookback {config.shaping.lookback} / "
            f"step {config.shaping.step}) are too short for {config.model}, which needs "
            f"{min_length}{f' ({why})' if why else ''}; raise --lookback or lower --step"
        )
    save_normalization(folder, prepared, len(series), derived)
    example = prepared.train.gather(np.arange(min(2, prepared.train.num_windows)))[0]
    summary, params = summarize(model, example)
    print(summary)

    task = make_task(
        "regression",
        loss=config.train.loss,
        huber_delta=config.train.huber_delta,
        final_weight=config.train.final_weight,
        members=len(members_of(model)),
        horizons=shape.horizons,
    )
    baselines = baseline_scores(prepared, task, shape)
    ridge_weights = baselines.pop("ridge_weights")
    scale = prepared.target_std
    shown = f" {units}" if units else ""
    for label, prefix in (
        ("common-sense", "baseline"),
        ("ridge (the target's window)", "ridge_baseline"),
    ):
        print(
            f"{label} baseline: "
            + ", ".join(
                f"{name} MAE {baselines[f'{prefix}_{key}_mae']:.4f} "
                f"({baselines[f'{prefix}_{key}_mae_units']:.3f}{shown})"
                for name, key in (("validation", "val"), ("test", "test"))
            )
        )
    if entry.trainable:
        trainer = _train(model, task, prepared, config, folder, baselines, units)
        history, best_epoch = trainer.history, trainer.best_epoch
        best_val = history[best_epoch - 1]["val_mae"]
        seconds = float(np.mean([row["seconds"] for row in history]))
    else:
        best_val = evaluate(model, task, prepared.val)["mae"]
        history = [{"epoch": 0, "val_loss": best_val, "val_mae": best_val}]
        folder.write_history(history)
        best_epoch, seconds = 0, 0.0
    folder.save_weights(
        model, {"model": config.model, "shape": asdict(shape), "settings": config.model_settings}
    )
    test_mae = evaluate(model, task, prepared.test)["mae"]
    if outputs is not None:
        for name, windows in (("val", prepared.val), ("test", prepared.test)):
            forecasts = predict(model, (inputs for inputs, _ in windows.epoch(0)))
            targets = torch.cat([targets for _, targets in windows.epoch(0)])
            outputs[name] = (forecasts, targets)
        outputs.update(ridge_weights=ridge_weights, scale=prepared.target_std)
    for label, mae, base in (
        ("validation", best_val, baselines["baseline_val_mae"]),
        ("test", test_mae, baselines["baseline_test_mae"]),
    ):
        print(versus_baseline(label, mae, base, scale, units))
    return {
        "experiment": config.preset,
        "dataset": config.dataset,
        "model": config.model,
        "params": params,
        "target": config.shaping.target,
        "units": units,
        "best_epoch": best_epoch,
        "best_val_mae": best_val,
        "best_val_mae_units": best_val * scale,
        "test_mae": test_mae,
        "test_mae_units": test_mae * scale,
        "seconds_per_epoch": seconds,
        "epochs_run": len(history) if entry.trainable else 0,
        "rows": quality,
        **baselines,
        "torch_threads": torch.get_num_threads(),
    }


def _train(model, task, prepared: Prepared, config: RunConfig, folder: RunFolder, baselines, units):
    scale = prepared.target_std

    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history,
            ["mae"],
            folder.file("curves.png"),
            baselines={"mae": {"common-sense (validation)": baselines["baseline_val_mae"]}},
            title=f"{config.preset} on {config.dataset}: {config.model}",
            scale={"mae": scale},
            units={"mae": units},
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
