"""Forecasting presets: the reference chapter on Jena, the same models on ETTh1, any CSV.

Jena follows the reference exactly: all 14 columns, 500 batches of 128
randomly drawn windows per epoch, validation over the whole validation range.

ETTh1 forecasts the oil temperature (OT) 24 hours after the last observed hour
from the last 10 days (lookback 240, step 1). In the reference's convention
the target is ``delay`` rows after the row *following* the window, so 24 h
after the last observed hour is ``--delay 23``. Its defaults are chosen so
each preset runs in a few minutes on a 2-core CPU (one shuffled pass over the
8,400 training windows per epoch) and so the models can beat the baseline:
they read only OT's own history (``--features OT``; the six load series
shift between the training year and the test months and hurt) and forecast
the change from the last value (``--residual``). Pass ``--features ''
--no-residual`` for the multivariate, reference-style model.

The ``*-tcn`` presets are convolution only: a causal dilated TCN
(``models.tcn``) read at the window's last step. They add calendar columns
(time of day and day of year as sine and cosine) and, on Jena, the wind as a
vector; their settings were chosen on ETTh1's validation months (see
docs/tcn.md), and Jena's reuse them, since the Jena file is not available here.
"""

from __future__ import annotations

import functools
from pathlib import Path

from convseq.data.derived import JENA_WIND
from convseq.data.series import (
    JENA_TIME_COLUMN,
    JENA_TIME_FORMAT,
    Series,
    load_etth1,
    load_jena,
    read_series_csv,
)
from convseq.errors import UserError, closest
from convseq.experiments.registry import TRAINING_DEFAULTS, Experiment, register
from convseq.experiments.series_run import (
    BASELINES,
    SERIES_HELP,
    SeriesData,
    check_series_settings,
    horizon_count,
    run_series_experiment,
    tcn_dilations,
    wanted_columns,
)
from convseq.training.run_folder import RunFolder


def _jena(settings: dict) -> Series:
    return load_jena(
        settings["data_dir"] or None, settings["duplicate_times"], wanted_columns(settings)
    )


def _etth1(settings: dict) -> Series:
    return load_etth1(
        settings["data_dir"] or None, settings["duplicate_times"], wanted_columns(settings)
    )


JENA = SeriesData("jena", _jena, "degC", JENA_TIME_COLUMN, JENA_TIME_FORMAT)
ETTH1 = SeriesData("etth1", _etth1, "degC", "date")

# the settings each learned model takes from the command line
MODEL_KEYS = {
    "series-cnn": ("residual",),
    "series-linear": ("residual",),
    "series-cnn-gru": ("dropout", "recurrent_dropout", "residual"),
    "series-gru": ("dropout", "recurrent_dropout", "residual"),
    "series-tcn": (
        "channels",
        "kernel_size",
        "dilations",
        "dropout",
        "spatial_dropout",
        "norm",
        "residual",
        "linear_member",
    ),
}
MODEL_DEFAULTS = {
    "series-cnn": {},
    "series-linear": {},
    "series-cnn-gru": {"dropout": 0.1, "recurrent_dropout": 0.5},
    "series-gru": {"dropout": 0.2, "recurrent_dropout": 0.2},
    "series-tcn": {
        "channels": 32,
        "kernel_size": 3,
        "dilations": "1,2,4,8,16",
        "dropout": 0.1,
        "spatial_dropout": True,
        "norm": "weight",
        "linear_member": False,
    },
}


# how a learned model is trained: on the final target or its whole path, with which loss
TARGET_DEFAULTS = {"horizons": "last", "final_weight": 0.0, "loss": "mae", "huber_delta": 0.1}


def model_settings(model: str, settings: dict) -> dict:
    """The settings ``model`` takes from the command line, in the types its builder takes."""
    chosen = {k: settings[k] for k in MODEL_KEYS.get(model, ())}
    if "dilations" in chosen:
        chosen["dilations"] = tcn_dilations(settings)
    if model in MODEL_KEYS and horizon_count(settings) > 1:
        chosen["horizons"] = horizon_count(settings)
    return chosen


def check_horizons_model(settings: dict) -> None:
    """Paths are learned by the series models; a baseline or another model cannot use them."""
    if settings.get("horizons", "last") == "all" and settings["model"] not in MODEL_KEYS:
        raise UserError(
            f"--horizons all trains a path of forecasts, which only {', '.join(MODEL_KEYS)} "
            f"output; model {settings['model']!r} needs --horizons last"
        )


def training_defaults(**overrides) -> dict:
    base = {
        "epochs": 20,
        "batch_size": 128,
        "steps_per_epoch": 500,
        "eval_batch_size": 1024,
        **TRAINING_DEFAULTS,
        "shards": 1,
    }
    base.update(overrides)
    return base


def data_defaults(**values) -> dict:
    return {
        "calendar": False,
        **values,
        "data_dir": "",
        "duplicate_times": "error",
        "threads": 1,
    }


JENA_DATA = data_defaults(
    lookback=1440,
    step=6,
    delay=144,
    splits="0:200000,200001:300000,300001:",
    target="T (degC)",
    features="",
    wind_vector=False,
    wind_columns=JENA_WIND,
)
ETTH1_DATA = data_defaults(
    lookback=240,
    step=1,
    delay=23,
    splits="0:8640,8640:11520,11520:14400",
    target="OT",
    features="OT",
)
BASELINE_RUN = {"batch_size": 128, "steps_per_epoch": 0, "eval_batch_size": 1024, "seed": 0}


def preset(name: str, description: str, data: SeriesData, model: str, defaults: dict) -> None:
    """Register ``convseq run NAME``, training (or just scoring) ``model`` on ``data``."""

    def run(settings: dict, folder: RunFolder) -> dict:
        return run_series_experiment(settings, folder, data, model, model_settings(model, settings))

    register(
        Experiment(
            name=name,
            description=description,
            dataset=data.name,
            defaults=defaults,
            run=run,
            help=SERIES_HELP,
            check=functools.partial(check_series_settings, model=model),
        )
    )


def learned(model: str, data: dict, residual: bool, **training) -> dict:
    return {
        **data,
        **training_defaults(**training),
        **TARGET_DEFAULTS,
        **MODEL_DEFAULTS[model],
        "residual": residual,
    }


# Jena, as in the reference
preset(
    "jena-baseline",
    "Jena temperature 24 h ahead: common-sense baseline (the last value), no training",
    JENA,
    "common-sense",
    {**JENA_DATA, **BASELINE_RUN},
)
preset(
    "jena-cnn",
    "Jena: reference convnet (3 x Conv1D(32,5), max pools, global max), step 6, 20 x 500 batches",
    JENA,
    "series-cnn",
    learned("series-cnn", JENA_DATA, residual=False, shards=2),
)
preset(
    "jena-cnn-gru",
    "Jena: Conv1D x2 -> GRU(32, dropout 0.1, recurrent dropout 0.5), step 3, 20 x 500 batches",
    JENA,
    "series-cnn-gru",
    learned("series-cnn-gru", {**JENA_DATA, "step": 3}, residual=False, shards=2),
)
preset(
    "jena-gru",
    "Jena: GRU(32, dropout 0.2, recurrent dropout 0.2), step 6, 40 x 500 batches",
    JENA,
    "series-gru",
    learned("series-gru", JENA_DATA, residual=False, epochs=40, shards=2),
)
preset(
    "jena-tcn",
    "Jena: causal dilated TCN (no recurrence), wind as a vector, calendar columns; "
    "step 6, 20 x 500 batches",
    JENA,
    "series-tcn",
    learned(
        "series-tcn",
        {**JENA_DATA, "calendar": True, "wind_vector": True},
        residual=False,
        optimizer="adam",
        lr=3e-4,
        schedule="cosine",
    ),
)

# ETTh1: oil temperature 24 h after the last of 240 hourly rows
preset(
    "etth1-baseline",
    "ETTh1 oil temperature 24 h ahead: common-sense baseline (the last value), no training",
    ETTH1,
    "common-sense",
    {**ETTH1_DATA, **BASELINE_RUN},
)
preset(
    "etth1-cnn",
    "ETTh1: the reference convnet on OT's last 240 h, forecasting the change; 10 epochs",
    ETTH1,
    "series-cnn",
    learned("series-cnn", ETTH1_DATA, residual=True, epochs=10, steps_per_epoch=0),
)
preset(
    "etth1-cnn-gru",
    "ETTh1: Conv1D x2 -> GRU(32) on OT's last 240 h, forecasting the change; 20 epochs",
    ETTH1,
    "series-cnn-gru",
    learned("series-cnn-gru", ETTH1_DATA, residual=True, epochs=20, steps_per_epoch=0),
)
preset(
    "etth1-gru",
    "ETTh1: GRU(32) on OT's last 240 h, forecasting the change; 10 epochs",
    ETTH1,
    "series-gru",
    learned("series-gru", ETTH1_DATA, residual=True, epochs=10, steps_per_epoch=0),
)

preset(
    "etth1-tcn",
    "ETTh1: causal dilated TCN (no recurrence) on OT's last 240 h and the calendar, "
    "averaged with a linear map of the window, forecasting the change with a Huber loss; "
    "20 epochs",
    ETTH1,
    "series-tcn",
    {
        **learned(
            "series-tcn",
            {**ETTH1_DATA, "calendar": True},
            residual=True,
            epochs=20,
            steps_per_epoch=0,
            optimizer="adam",
            lr=3e-4,
            schedule="cosine",
        ),
        # both chosen on validation MAE (docs/tcn.md)
        "loss": "huber",
        "linear_member": True,
    },
)


# Any CSV: the same pipeline, with the file and the model as options
def _load_csv(settings: dict) -> Series:
    if not Path(settings["csv"]).is_file():
        raise UserError(f"--csv {settings['csv']} does not exist; pass the path of a CSV file")
    return read_series_csv(
        settings["csv"],
        settings["time_column"],
        wanted_columns(settings),
        time_format=settings["time_format"] or None,
        duplicate_times=settings["duplicate_times"],
        encoding=settings.get("encoding", "utf-8"),  # runs begun before the option existed
    )


def check_csv_settings(settings: dict) -> None:
    check_series_settings(settings)
    if not settings["csv"]:
        raise UserError("series-csv needs a file: pass --csv PATH")
    if not settings["target"]:
        raise UserError("series-csv needs the column to forecast: pass --target COLUMN")
    models = (*MODEL_KEYS, *BASELINES)
    if settings["model"] not in models:
        raise UserError(
            f"unknown model {settings['model']!r}{closest(settings['model'], models)}; "
            f"choose one of {', '.join(models)}"
        )
    check_horizons_model(settings)


def _run_csv(settings: dict, folder: RunFolder) -> dict:
    model = settings["model"]
    data = SeriesData(Path(settings["csv"]).stem, _load_csv, settings["units"])
    return run_series_experiment(settings, folder, data, model, model_settings(model, settings))


register(
    Experiment(
        name="series-csv",
        description="any CSV series: --csv PATH --target COLUMN [--model NAME]; "
        "split by fractions, compared under the file's name",
        dataset="csv",
        defaults={
            "csv": "",
            "time_column": "date",
            "time_format": "",
            "encoding": "utf-8",
            "units": "",
            "model": "series-cnn-gru",
            **data_defaults(
                lookback=240, step=1, delay=23, splits="0.7,0.15,0.15", target="", features=""
            ),
            **training_defaults(epochs=10, steps_per_epoch=0),
            **TARGET_DEFAULTS,
            "wind_vector": False,
            "wind_columns": JENA_WIND,
            **MODEL_DEFAULTS["series-tcn"],
            **MODEL_DEFAULTS["series-cnn-gru"],
            "residual": True,
        },
        run=_run_csv,
        help=SERIES_HELP,
        check=check_csv_settings,
    )
)
