"""The Python API, as short as the command line.

    import convseq

    classifier = convseq.train_text("reviews.csv", epochs=5, out="runs/reviews")
    classifier.predict(["a wonderful film"])       # [Prediction(label='pos', probability=0.93)]
    convseq.load("runs/reviews").evaluate("test.csv")

    forecaster = convseq.train_forecast("load.csv", time_column="date", target="load")
    forecaster.predict("load.csv")                 # Forecast(window_end=..., time=..., value=...)

These functions go through the same code as ``convseq train text|forecast``
and ``convseq predict``, so a run made from Python is an ordinary run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from convseq.errors import UserError


def load(run_dir: str | Path):
    """The trained model of a finished run folder, ready to ``predict``, ``evaluate``, ``export_onnx``.

    A text run gives a ``TextClassifier``, a forecasting run a ``SeriesForecaster``.
    """
    from convseq.inference.load import load_run

    return load_run(run_dir)


def train_text(
    data: str | Path | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    val: str | Path | None = None,
    test: str | Path | None = None,
    model: str = "text-cnn",
    model_settings: dict | None = None,
    classes: list[str] | None = None,
    encoding: str = "utf-8",
    out: str | Path | None = None,
    resume: str | Path | None = None,
    **settings,
):
    """Train a text classifier on a labelled file (or continue a killed run) and load it.

    ``settings`` are the options of ``convseq train text`` with underscores
    (``epochs``, ``batch_size``, ``lr``, ``vocab_size``, ``max_len``, ``seed``, ...).
    """
    from convseq.cli.run import run_in_folder
    from convseq.cli.train import absolute
    from convseq.workflows.train_text import TRAIN_TEXT

    if resume is None:
        if data is None:
            raise UserError("train_text needs a data file or folder (or resume=RUN_DIR)")
        settings.update(
            data=absolute(str(data)),
            text_column=text_column,
            label_column=label_column,
            val=absolute(str(val)) if val else "",
            test=absolute(str(test)) if test else "",
            model=model,
            model_settings=json.dumps(model_settings or {}),
            classes=",".join(classes) if classes else "",
            encoding=encoding,
        )
    folder = run_in_folder(
        TRAIN_TEXT,
        settings,
        out=str(out) if out is not None else None,
        resume=str(resume) if resume is not None else None,
    )
    return load(folder.path)


def train_forecast(
    data: str | Path | None = None,
    *,
    time_column: str = "date",
    target: str = "",
    features: list[str] | None = None,
    model: str = "series-cnn-gru",
    model_settings: dict | None = None,
    fill: str = "none",
    out: str | Path | None = None,
    resume: str | Path | None = None,
    **settings,
):
    """Train a forecaster on a CSV series (or continue a killed run) and load it.

    ``settings`` are the options of ``convseq train forecast`` with underscores
    (``lookback``, ``step``, ``delay``, ``splits``, ``epochs``, ``batch_size``,
    ``lr``, ``units``, ``time_format``, ``seed``, ...).
    """
    from convseq.cli.run import run_in_folder
    from convseq.cli.train import absolute
    from convseq.workflows.train_forecast import TRAIN_FORECAST

    if resume is None:
        if data is None:
            raise UserError("train_forecast needs a CSV file (or resume=RUN_DIR)")
        if isinstance(features, str):
            raise UserError("features must be a list of column names, e.g. ['load', 'temp']")
        settings.update(
            data=absolute(str(data)),
            time_column=time_column,
            target=target,
            features=",".join(features or []),
            model=model,
            model_settings=json.dumps(model_settings or {}),
            fill=fill,
        )
    folder = run_in_folder(
        TRAIN_FORECAST,
        settings,
        out=str(out) if out is not None else None,
        resume=str(resume) if resume is not None else None,
    )
    return load(folder.path)
