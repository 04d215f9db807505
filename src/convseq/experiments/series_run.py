"""The forecasting pipeline: CSV series -> normalized windows -> model -> MAE in both units.

One pipeline serves every dataset and model (the presets are in ``forecast.py``).
Normalization uses the training rows' statistics only, saved as
``normalization.json``. Every run also scores both baselines on the same
windows, so each metrics.json says whether its model beats them. Baselines
are models too: their presets evaluate without training and write the same
run folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from convseq.atomic import write_json
from convseq.data.derived import derive, parse_wind_columns
from convseq.data.series import DUPLICATE_POLICIES, Series, describe, parse_splits
from convseq.data.windows import Windows, check_window_settings
from convseq.errors import UserError, closest
from convseq.evaluation.plots import plot_curves
from convseq.experiments.registry import TRAINING_KEYS
from convseq.models import build_model
from convseq.models.ensemble import members_of
from convseq.models.summary import summarize
from convseq.training.run_folder import RunFolder
from convseq.training.seed import seed_everything
from convseq.training.tasks import REGRESSION_LOSSES, make_task
from convseq.training.trainer import TrainConfig, Trainer, evaluate

BASELINES = ("common-sense", "mean")
# the series models that may train in shards (their ``shard_safe``; training/shards.py)
SHARDABLE = ("series-cnn", "series-cnn-gru", "series-gru", "series-linear")
HORIZONS = ("last", "all")
SPLIT_NAMES = ("train", "validation", "test")

SERIES_HELP = {
    "lookback": "rows of history in each window",
    "step": "keep every STEP-th row of the lookback (6 = hourly on 10-minute data)",
    "delay": "the target is this many rows after the row that follows the window",
    "splits": "train,validation,test as row ranges START:END (END empty = end of file) or fractions",
    "target": "column to forecast",
    "features": "comma-separated input columns (empty = every numeric column); the target is always added",
    "steps_per_epoch": "batches of randomly drawn windows per epoch (0 = one shuffled pass over every window)",
    "eval_batch_size": "windows per batch when validating and testing",
    "duplicate_times": "rows repeating a timestamp: error, or drop all but the first",
    "csv": "path of the CSV file (a timestamp column plus numeric columns)",
    "time_column": "name of the timestamp column",
    "time_format": "strptime format of the timestamps (empty = ISO 8601)",
    "model": f"model to train: {', '.join(('series-cnn', 'series-cnn-gru', 'series-gru', 'series-tcn', 'series-linear', *BASELINES))}",
    "units": "units of the target column, for reports",
    "encoding": "text encoding of the CSV file",
    "residual": "read windows relative to their last row and forecast the change from the "
    "target's last value (the model learns a correction to the common-sense forecast)",
    "calendar": "add time of day and day of year as sine and cosine columns (from the timestamps)",
    "wind_vector": "replace the wind speed and direction columns by the wind's x and y "
    "components (negative speeds, the -9999 error marks, count as 0)",
    "wind_columns": "the wind columns for --wind-vector: speed columns, then the direction "
    "column in degrees, comma-separated",
    "channels": "channels of every TCN block",
    "kernel_size": "kernel size of the causal dilated convolutions",
    "dilations": "dilation of each residual block, e.g. 1,2,4,8,16",
    "norm": "normalization in the TCN blocks: weight, layer or none",
    "spatial_dropout": "TCN dropout drops whole channels of a window (SpatialDropout1D) "
    "rather than single values",
    "dropout": "dropout (TCN: after every convolution; GRU: on its inputs)",
    "recurrent_dropout": "dropout on the GRU's recurrent state, one mask per sequence",
    "horizons": "train on the target's last value only, or on its whole path from the row "
    "after the window to the target row (all: delay + 1 outputs, one mean loss); the forecast "
    "and every score stay the final horizon's",
    "final_weight": "with --horizons all, the share of the loss on the final horizon; the rest "
    "is the mean over the whole path (0 = the plain mean)",
    "loss": "training loss: mae, or huber (squared below --huber-delta, absolute above)",
    "huber_delta": "where --loss huber turns from squared to absolute, in normalized target units",
    "linear_member": "train a linear map of the whole window beside the TCN, each on its own "
    "loss, and forecast their mean (an ensemble of two kinds of model)",
    "threads": "CPU threads for PyTorch (0 = its default); these small models gain little from "
    "more and slow down badly when the cores are shared",
    "shards": "train each batch as N parts at once, one thread each (series-cnn, series-cnn-gru, "
    "series-gru, series-linear; 1 = off); --threads then applies to evaluation only",
}


@dataclass(frozen=True)
class SeriesData:
    """How to load one dataset, and what its target means."""

    name: str  # the "dataset" field of metrics.json
    load: Callable[[dict], Series]
    units: str
    time_column: str = ""  # how prediction reads new files (default: the settings' own)
    time_format: str = ""


# ------------------------------------------------------------ preparation
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

    @property
    def target_std(self) -> float:
        return float(self.std[self.target_index])


def horizon_count(settings: dict) -> int:
    """Targets per training window: the path up to the target row (``all``) or its last value."""
    return settings["delay"] + 1 if settings.get("horizons", "last") == "all" else 1


def regression_task(settings: dict, model=None):
    """The loss (``--loss``, ``--huber-delta``); runs made before these options trained on MAE.

    For an ensemble ``model`` the task is told how many members it trains.
    """
    return make_task(
        "regression",
        loss=settings.get("loss", "mae"),
        huber_delta=settings.get("huber_delta", 1.0),
        final_weight=settings.get("final_weight", 0.0),
        members=len(members_of(model)) if model is not None else 1,
        horizons=horizon_count(settings),
    )


def wanted_columns(settings: dict) -> list[str] | None:
    """The columns to read: the features plus the target, or None for every column.

    Reading only these means a broken column the user left out cannot stop a run.
    """
    if not settings["features"].strip():
        return None
    names = [n.strip() for n in settings["features"].split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise UserError(f"--features names a column twice: {settings['features']!r}")
    needed = [settings["target"]]
    if settings.get("wind_vector"):
        speeds, direction = parse_wind_columns(settings["wind_columns"])
        needed += [*speeds, direction]
    return names + [n for n in needed if n not in names]


def prepare(series: Series, settings: dict) -> Prepared:
    """Select columns, split rows, normalize with training statistics and cut windows."""
    series.index_of(settings["target"], "target (--target)")
    names = list(series.columns)
    lookback, step, delay = settings["lookback"], settings["step"], settings["delay"]
    if len(series) < lookback + delay + 1:
        raise UserError(
            f"{series.source} has {len(series)} rows, fewer than lookback + delay + 1 = "
            f"{lookback + delay + 1}; use a longer series or a smaller --lookback or --delay"
        )
    splits = parse_splits(settings["splits"], len(series))
    lo, hi = splits[0]
    train_rows = series.values[lo:hi]
    mean, std = train_rows.mean(axis=0), train_rows.std(axis=0)
    flat = np.flatnonzero(std == 0)
    if flat.size:
        raise UserError(
            f"column {names[flat[0]]!r} is constant over the training rows {lo}:{hi}, so it cannot "
            "be normalized; leave it out with --features"
        )
    data = ((series.values - mean) / std).astype(np.float32)
    target_index = names.index(settings["target"])
    target = data[:, target_index]
    windows = []
    for k, (name, (start, end)) in enumerate(zip(SPLIT_NAMES, splits, strict=True)):
        try:
            windows.append(
                Windows(
                    data,
                    target,
                    lookback,
                    step,
                    delay,
                    start,
                    end,
                    batch_size=settings["batch_size"] if k == 0 else settings["eval_batch_size"],
                    shuffle=k == 0,
                    steps_per_epoch=settings["steps_per_epoch"] if k == 0 else 0,
                    seed=settings["seed"],
                    horizons=horizon_count(settings) if k == 0 else 1,
                )
            )
        except UserError as exc:
            raise UserError(f"the {name} split: {exc}") from None
    return Prepared(*windows, names, target_index, mean, std)


def save_normalization(
    folder: RunFolder,
    prepared: Prepared,
    settings: dict,
    rows: int,
    data: SeriesData,
    derived: dict,
) -> None:
    """What prediction needs to read new files, rebuild the inputs and read the outputs in units.

    ``derived`` says which columns were computed rather than read (calendar
    phases, wind vectors) and from what, so the same inputs can be rebuilt
    from a raw file.
    """
    write_json(
        folder.file("normalization.json"),
        {
            "columns": prepared.columns,
            "derived": derived,
            "mean": prepared.mean.tolist(),
            "std": prepared.std.tolist(),
            "target": settings["target"],
            "target_index": prepared.target_index,
            "lookback": settings["lookback"],
            "step": settings["step"],
            "delay": settings["delay"],
            "splits": parse_splits(settings["splits"], rows),
            "rows": rows,
            "time_column": data.time_column or settings.get("time_column", ""),
            "time_format": data.time_format or settings.get("time_format", ""),
            "duplicate_times": settings["duplicate_times"],
            "fill": settings.get("fill", "none"),
        },
    )


def model_settings_for(
    model_name: str, prepared: Prepared, extra: dict, absolute: list[str] = ()
) -> dict:
    """The model's settings; ``absolute`` names columns a residual model must not anchor."""
    settings = {"num_features": len(prepared.columns), **extra}
    if model_name == "common-sense" or extra.get("residual"):
        settings["target_index"] = prepared.target_index
    if extra.get("residual") and absolute:
        settings["absolute_features"] = [prepared.columns.index(c) for c in absolute]
    if extra.get("linear_member") or model_name == "series-linear":
        settings["window"] = prepared.train.length
    return settings


# --------------------------------------------------------------------- run
def baseline_scores(prepared: Prepared, task) -> dict[str, float]:
    """Both baselines' MAE on the validation and test windows, normalized and in units."""
    scores = {}
    for key, name in (("baseline", "common-sense"), ("mean_baseline", "mean")):
        model = build_model(name, **model_settings_for(name, prepared, {}))
        for split, windows in (("val", prepared.val), ("test", prepared.test)):
            mae = evaluate(model, task, windows)["mae"]
            scores[f"{key}_{split}_mae"] = mae
            scores[f"{key}_{split}_mae_units"] = mae * prepared.target_std
    return scores


def run_series_experiment(
    settings: dict,
    folder: RunFolder,
    data: SeriesData,
    model_name: str,
    model_settings: dict | None = None,
) -> dict:
    """Load, window, train (or just score a baseline), test; return the metrics dict."""
    extra = model_settings or {}
    seed = settings["seed"]
    seed_everything(seed)
    series = data.load(settings)
    print(describe(series))
    series, derived = derive(series, settings)
    prepared = prepare(series, settings)
    save_normalization(folder, prepared, settings, len(series), data, derived)
    units = data.units or settings.get("units", "")
    shown_units = f" {units}" if units else ""
    print(
        f"windows: {prepared.train.num_windows} train / {prepared.val.num_windows} validation / "
        f"{prepared.test.num_windows} test, {prepared.train.length} steps x "
        f"{len(prepared.columns)} features, target {settings['target']!r}"
    )

    seed_everything(seed)
    settings_used = model_settings_for(model_name, prepared, extra, derived["calendar"])
    try:
        model = build_model(model_name, **settings_used)
    except TypeError as exc:  # a setting the model does not take
        raise UserError(
            f"model {model_name!r} does not accept these settings ({exc}); "
            "check --model-settings or pick another --model"
        ) from None
    min_length = getattr(model, "min_length", 1)
    if prepared.train.length < min_length:
        raise UserError(
            f"windows of {prepared.train.length} steps (lookback {settings['lookback']} / step "
            f"{settings['step']}) are too short for {model_name}, which needs {min_length}; "
            "raise --lookback or lower --step"
        )
    example = prepared.train.gather(np.arange(min(2, prepared.train.num_windows)))[0]
    summary, params = summarize(model, example)
    print(summary)

    task = regression_task(settings, model)
    baselines = baseline_scores(prepared, task)
    print(
        f"common-sense baseline: validation MAE {baselines['baseline_val_mae']:.4f} "
        f"({baselines['baseline_val_mae_units']:.3f}{shown_units}), test MAE "
        f"{baselines['baseline_test_mae']:.4f} ({baselines['baseline_test_mae_units']:.3f}"
        f"{shown_units})"
    )
    trainable = any(p.requires_grad for p in model.parameters())
    if trainable:
        history, best_epoch, seconds = _train(
            model, task, prepared, settings, folder, baselines["baseline_val_mae"]
        )
        best_val = history[best_epoch - 1]["val_mae"]
    else:
        best_val = evaluate(model, task, prepared.val)["mae"]
        history = [{"epoch": 0, "val_loss": best_val, "val_mae": best_val}]
        folder.write_history(history)
        best_epoch, seconds = 0, 0.0
    folder.save_weights(model, {"model": model_name, "model_settings": settings_used})
    test_mae = evaluate(model, task, prepared.test)["mae"]
    scale = prepared.target_std
    return {
        "experiment": settings["experiment"],
        "dataset": data.name,
        "model": model_name,
        "params": params,
        "target": settings["target"],
        "units": units,
        "best_epoch": best_epoch,
        "best_val_mae": best_val,
        "best_val_mae_units": best_val * scale,
        "test_mae": test_mae,
        "test_mae_units": test_mae * scale,
        "seconds_per_epoch": seconds,
        "epochs_run": len(history) if trainable else 0,
        **baselines,
    }


def _train(model, task, prepared: Prepared, settings: dict, folder: RunFolder, base_val: float):
    def after_epoch(row):
        folder.write_history(trainer.history)
        plot_curves(
            trainer.history,
            ["mae"],
            folder.file("curves.png"),
            baselines={"mae": {"common-sense (validation)": base_val}},
            title=folder.path.name,
        )

    config = TrainConfig(**{k: settings[k] for k in TRAINING_KEYS if k in settings})
    trainer = Trainer(
        model, task, config, checkpoint=folder.file("checkpoint.pt"), on_epoch_end=after_epoch
    )
    trainer.fit(prepared.train, prepared.val)
    seconds = float(np.mean([row["seconds"] for row in trainer.history]))
    return trainer.history, trainer.best_epoch, seconds


# ------------------------------------------------------------------ checks
def check_shards(model: str, shards: int) -> None:
    if shards > 1 and model not in (*SHARDABLE, *BASELINES):
        raise UserError(
            f"--shards {shards} works with {', '.join(SHARDABLE)}, not {model}; use --shards 1"
        )


def check_series_settings(settings: dict, model: str = "") -> None:
    """Refuse impossible settings before any data is read; ``model`` when settings lack one."""
    check_window_settings(settings["lookback"], settings["step"], settings["delay"])
    check_shards(model or settings.get("model", ""), settings.get("shards", 1))
    if settings.get("steps_per_epoch", 0) < 0:
        raise UserError(
            f"--steps-per-epoch must be 0 (one pass) or more, got {settings['steps_per_epoch']}"
        )
    if settings.get("eval_batch_size", 1) < 1:
        raise UserError(f"--eval-batch-size must be at least 1, got {settings['eval_batch_size']}")
    if settings["duplicate_times"] not in DUPLICATE_POLICIES:
        raise UserError(
            f"--duplicate-times must be one of {', '.join(DUPLICATE_POLICIES)}, "
            f"got {settings['duplicate_times']!r}"
        )
    if settings.get("horizons", "last") not in HORIZONS:
        raise UserError(
            f"--horizons must be one of {', '.join(HORIZONS)}, got {settings['horizons']!r}"
        )
    if settings.get("linear_member") and settings.get("model", "series-tcn") != "series-tcn":
        raise UserError(
            f"--linear-member works with --model series-tcn only, not {settings['model']!r}; "
            "drop it or pass --model series-tcn"
        )
    if settings.get("loss", "mae") not in REGRESSION_LOSSES:
        raise UserError(
            f"unknown --loss {settings['loss']!r}{closest(settings['loss'], REGRESSION_LOSSES)}; "
            f"choose one of {', '.join(REGRESSION_LOSSES)}"
        )
    if not 0 <= settings.get("final_weight", 0.0) <= 1:
        raise UserError(f"--final-weight must be in [0, 1], got {settings['final_weight']}")
    if settings.get("huber_delta", 1.0) <= 0:
        raise UserError(f"--huber-delta must be positive, got {settings['huber_delta']}")
    parse_splits(settings["splits"], 2**62)  # syntax only; ranges are checked against the file
    if settings.get("wind_vector"):
        parse_wind_columns(settings["wind_columns"])
    if "dilations" in settings:
        check_tcn_settings(settings)
    for key in ("dropout", "recurrent_dropout"):
        if key in settings and not 0 <= settings[key] < 1:
            raise UserError(f"--{key.replace('_', '-')} must be in [0, 1), got {settings[key]}")


def tcn_dilations(settings: dict) -> list[int]:
    text = settings["dilations"]
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UserError(
            f"--dilations must be positive integers separated by commas, got {text!r}; "
            "pass e.g. 1,2,4,8,16"
        )
    return values


def check_tcn_settings(settings: dict) -> None:
    from convseq.models.tcn import TCN

    if settings["channels"] < 1:
        raise UserError(f"--channels must be at least 1, got {settings['channels']}")
    # a one-channel block runs every TCN check (kernel size, norm name, dropout range)
    TCN(
        1,
        1,
        settings["kernel_size"],
        tcn_dilations(settings),
        dropout=settings["dropout"],
        norm=settings["norm"],
    )
