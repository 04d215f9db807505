"""The Python API: the same presets and pipelines as the command line, with Python values.

    import convseq

    classifier = convseq.train_text("reviews.csv", epochs=5, out="runs/reviews")
    classifier.predict(["a wonderful film"])       # [Prediction(label='pos', probability=0.93)]
    convseq.load("runs/reviews").evaluate("test.csv")

    forecaster = convseq.train_forecast(frame, time_column="date", target="load", features=["load"])
    forecaster.predict(frame)                       # Forecast(window_end=..., time=..., value=...)

    convseq.run("etth1-tcn", epochs=5)              # any preset of `convseq list`

    gestures = convseq.train_classify("Gestures_TRAIN.ts", test="Gestures_TEST.ts")
    gestures.predict("Gestures_TEST.ts")            # [Prediction(label='3', probability=0.71), ...]

Settings are the command line's options with underscores, given as Python
values (lists, dicts of model settings, a pandas DataFrame as data): no
string round trip. A run made here is an ordinary run folder. Nothing here
changes the process: threads are the caller's.
"""

from __future__ import annotations

from pathlib import Path

from convseq import pipelines
from convseq.errors import UserError
from convseq.inference.load import load_run
from convseq.presets import get_preset


def load(run_dir: str | Path):
    """The trained model of a finished run: ``predict``, ``evaluate``, ``export_onnx``.

    A text run gives a ``TextClassifier``, a forecasting run a ``SeriesForecaster``, a run
    that classifies cases a ``CaseClassifier``.
    """
    return load_run(run_dir)


def run(
    preset: str,
    *,
    model: str | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    frame=None,
    **settings,
):
    """Run (or continue) the preset ``preset`` with ``settings`` changed; its trained model."""
    if resume is not None:
        if out is not None:
            raise UserError("out and resume name two folders; pass only resume=RUN_DIR")
        folder = pipelines.resume(preset, resume, settings, model, frame)
    else:
        folder = pipelines.start(get_preset(preset).make_run(settings, model, frame), out)
    return load(folder.path)


def _data(data, resume) -> tuple[dict, object]:
    """A file path as the ``data`` setting, or a DataFrame passed on as it is."""
    if data is None:
        if resume is None:
            raise UserError(
                "pass the data (a file, a folder or a pandas DataFrame), or resume=RUN_DIR"
            )
        return {}, None
    if hasattr(data, "columns"):
        return {}, data
    return {"data": str(data)}, None


def train_text(data=None, *, model: str | None = None, model_settings: dict | None = None,
               out=None, resume=None, **settings):  # fmt: skip
    """Train a text classifier on labelled texts (a file, a folder per class or a DataFrame).

    ``settings`` are the options of ``convseq train text`` (``epochs``,
    ``max_len``, ``text_column``, ``val``, ``classes=[...]``, ...);
    ``model_settings`` the model's (``{"embed_dim": 64}``).
    """
    given, frame = _data(data, resume)
    merged = {**given, **(model_settings or {}), **settings}
    return run("train-text", model=model, out=out, resume=resume, frame=frame, **merged)


def train_forecast(data=None, *, model: str | None = None, model_settings: dict | None = None,
                   out=None, resume=None, **settings):  # fmt: skip
    """Train a forecaster on a series (a table file or a DataFrame with a time column).

    ``settings`` are the options of ``convseq train forecast`` (``target``,
    ``time_column``, ``features=[...]``, ``lookback``, ``epochs``, ...);
    ``model_settings`` the model's (``{"dilations": [1, 2, 4]}``).
    """
    given, frame = _data(data, resume)
    merged = {**given, **(model_settings or {}), **settings}
    return run("train-forecast", model=model, out=out, resume=resume, frame=frame, **merged)


def train_classify(data=None, *, test=None, model: str | None = None,
                   model_settings: dict | None = None, out=None, resume=None, **settings):  # fmt: skip
    """Train a classifier of labelled cases (a .ts, UCR .tsv/.txt or .csv file of cases).

    ``test`` is a file scored once at the end; ``settings`` are the options of
    ``convseq train classify`` (``validation_split``, ``normalize``, ``epochs``,
    ``file_format``, ...); ``model_settings`` the model's (``{"kernels": 2000}``).
    The default model is ROCKET; ``model="inceptiontime"`` and the others train by
    gradient.
    """
    given = {} if data is None else {"data": str(data)}
    if data is None and resume is None:
        raise UserError("pass the training cases (a file), or resume=RUN_DIR")
    if test is not None:
        given["test"] = str(test)
    merged = {**given, **(model_settings or {}), **settings}
    return run("train-classify", model=model, out=out, resume=resume, **merged)
