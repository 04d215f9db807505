"""``convseq train forecast``: a forecaster trained on the user's own CSV series.

A thin front over the ``series-csv`` pipeline (``experiments/series_run.py``):
the same settings, windows, models, baselines and run folder. It adds what a
file of one's own needs: the gaps in its time index are reported, and filled
only when ``--fill`` says how; the closing lines put the model's MAE next to
the common-sense baseline's.
"""

from __future__ import annotations

from pathlib import Path

from convseq.data.series import Series, read_series_csv
from convseq.data.time_index import FILL_METHODS, check_fill, fill_gaps, find_gaps
from convseq.errors import UserError, closest
from convseq.experiments import get_experiment
from convseq.experiments.forecast import MODEL_KEYS, check_horizons_model, model_settings
from convseq.experiments.registry import Experiment
from convseq.experiments.series_run import (
    BASELINES,
    SERIES_HELP,
    SeriesData,
    check_series_settings,
    run_series_experiment,
    wanted_columns,
)
from convseq.training.run_folder import RunFolder
from convseq.workflows.train_text import parse_model_settings

NOT_FILLED = (
    "not filled: each window counts rows, so one that spans a gap covers more time than "
    "the others; pass --fill ffill or --fill interpolate to fill the gaps"
)


def forecast_models() -> list[str]:
    """The learned series models, every other registered ``series-*`` model, and the baselines."""
    from convseq.models import list_models

    extra = [m for m in list_models() if m.startswith("series-") and m not in MODEL_KEYS]
    return [*MODEL_KEYS, *extra, *BASELINES]


def _defaults() -> dict:
    csv_defaults = get_experiment("series-csv").defaults
    return {
        "data": "",
        **{k: v for k, v in csv_defaults.items() if k not in ("csv", "data_dir")},
        "fill": "none",
        "model_settings": "{}",
    }


TRAIN_FORECAST_HELP = {
    **SERIES_HELP,
    "data": "CSV file: a timestamp column plus numeric columns",
    "fill": f"gaps in the time index: {', '.join(FILL_METHODS)} (none = train on the rows as "
    "given, after reporting the gaps; ffill = repeat the last row; interpolate = straight line)",
    "model": "model to train: series-cnn, series-cnn-gru, series-gru, series-tcn, series-linear "
    "(or another registered series-* model), or a baseline: common-sense, mean",
    "model_settings": "JSON object of extra model settings, e.g. '{\"hidden\": 64}'",
    "splits": "train,validation,test as fractions of the rows, or row ranges START:END",
}


def check_train_forecast(settings: dict) -> None:
    """Refuse impossible settings before a run folder is made."""
    check_series_settings(settings)
    if not settings["data"]:
        raise UserError("convseq train forecast needs a DATA file; see --help")
    if not Path(settings["data"]).is_file():
        raise UserError(f"DATA {settings['data']} does not exist; pass the path of a CSV file")
    if not settings["target"]:
        raise UserError("convseq train forecast needs the column to forecast: pass --target COLUMN")
    models = forecast_models()
    if settings["model"] not in models:
        raise UserError(
            f"unknown model {settings['model']!r}{closest(settings['model'], models)}; "
            f"choose one of {', '.join(models)}"
        )
    check_fill(settings["fill"])
    check_horizons_model(settings)
    parse_model_settings(settings["model_settings"])


def read_and_fill(settings: dict, found: dict) -> Series:
    """Read DATA, report its gaps (into ``found`` too), and fill them as ``--fill`` says."""
    series = read_series_csv(
        settings["data"],
        settings["time_column"],
        wanted_columns(settings),
        time_format=settings["time_format"] or None,
        duplicate_times=settings["duplicate_times"],
        encoding=settings["encoding"],
    )
    report = find_gaps(series)
    found.update(report.to_dict(), fill=settings["fill"])
    if report.count:
        how = NOT_FILLED if settings["fill"] == "none" else f"filled by {settings['fill']}"
        print(f"{report.describe(series.source)}; {how}")
    return fill_gaps(series, report, settings["fill"])


def versus_baseline(label: str, mae: float, base: float, scale: float, units: str) -> str:
    """``label: MAE m (m units) | common-sense baseline: MAE b (b units), model +x%``."""
    units = f" {units}" if units else ""
    change = f", model {100 * (mae / base - 1):+.1f}%" if base else ""
    return (
        f"{label}: MAE {mae:.4f} ({mae * scale:.4g}{units}) | common-sense baseline: "
        f"MAE {base:.4f} ({base * scale:.4g}{units}){change}"
    )


def run_train_forecast(settings: dict, folder: RunFolder) -> dict:
    model = settings["model"]
    gaps: dict = {}
    data = SeriesData(
        Path(settings["data"]).stem,
        lambda s: read_and_fill(s, gaps),
        settings["units"],
    )
    extra = model_settings(model, settings)
    extra.update(parse_model_settings(settings["model_settings"]))
    metrics = run_series_experiment(settings, folder, data, model, extra)
    metrics["gaps"] = gaps
    stats = folder.read_json("normalization.json")
    scale = stats["std"][stats["target_index"]]  # MAE in units = normalized MAE x target std
    for label, split in (("validation", "best_val"), ("test", "test")):
        base = metrics[f"baseline_{'val' if split == 'best_val' else 'test'}_mae"]
        print(versus_baseline(label, metrics[f"{split}_mae"], base, scale, metrics["units"]))
    return metrics


TRAIN_FORECAST = Experiment(
    name="train-forecast",
    description="a forecaster trained on your own CSV time series",
    dataset="",
    defaults=_defaults(),
    run=run_train_forecast,
    help=TRAIN_FORECAST_HELP,
    check=check_train_forecast,
)
