"""Open a finished run folder safely: data only, versions checked, corruption refused.

Nothing here executes code from the folder: the config is JSON, the weights
are safetensors, the tokenizer is its JSON file. A folder written by a newer
convseq or another run-folder format, an unfinished run, or a damaged file is
refused with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch
from safetensors import safe_open

from convseq import __version__
from convseq.errors import UserError
from convseq.training.run_folder import RUN_FORMAT, RunFolder


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def check_written_by_compatible(environment: dict, where: Path) -> None:
    fmt, version = environment.get("run_format"), str(environment.get("convseq", "unknown"))
    if fmt != RUN_FORMAT:
        raise UserError(
            f"{where} was written by convseq {version} in run-folder format {fmt}; this convseq "
            f"{__version__} reads format {RUN_FORMAT}: retrain the run with this version"
        )
    if version_tuple(version) > version_tuple(__version__):
        raise UserError(
            f"{where} was written by convseq {version}, newer than this convseq {__version__}; "
            "upgrade convseq to use it"
        )


def open_run(run_dir: str | Path) -> tuple[RunFolder, dict]:
    """The folder and its settings, once it is known to be a finished, compatible run."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise UserError(f"{run_dir} does not exist; pass a run folder made by convseq")
    raw = folder.read_json("config.json")
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        raise UserError(
            f"{folder.file('config.json')} is corrupted (no settings); rerun the experiment"
        )
    check_written_by_compatible(raw.get("environment") or {}, folder.path)
    config = raw["config"]
    if not folder.file("metrics.json").exists():
        raise UserError(
            f"{run_dir} is an unfinished run (no metrics.json); finish it with --resume {run_dir}"
        )
    return folder, config


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_weights(folder: RunFolder) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata from model.safetensors, checked against the recorded checksum."""
    path = folder.file("model.safetensors")
    if not path.is_file():
        raise UserError(f"{folder.path} has no model.safetensors; the run did not finish, rerun it")
    metrics = folder.read_json("metrics.json")
    expected = metrics.get("weights_sha256") if isinstance(metrics, dict) else None
    if expected and sha256_of(path) != expected:
        raise UserError(
            f"{path} is corrupted (its checksum differs from the one recorded in metrics.json); "
            "restore it from a backup or rerun the experiment"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types
        raise UserError(f"{path} is corrupted ({exc}); rerun the experiment") from None
    try:
        decoded = {
            key: json.loads(value) if key not in ("convseq", "run_format") else value
            for key, value in metadata.items()
        }
    except json.JSONDecodeError:
        raise UserError(f"{path} has damaged metadata; rerun the experiment") from None
    if str(decoded.get("run_format")) != str(RUN_FORMAT):
        raise UserError(
            f"{path} is in weights format {decoded.get('run_format')}, this convseq reads "
            f"{RUN_FORMAT}; retrain the run with this version"
        )
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise UserError(f"{path} holds non-finite values in {key}; the weights are corrupted")
    return tensors, decoded


def build_from_weights(folder: RunFolder, config: dict, tensors: dict, metadata: dict):
    """The model rebuilt from its recorded name and settings, with the saved weights loaded."""
    from convseq.models import build_model

    name = metadata.get("model")
    settings = metadata.get("model_settings") or {}
    if not isinstance(name, str) or not isinstance(settings, dict):
        raise UserError(f"{folder.path}/model.safetensors does not name its model; rerun the run")
    if "vocab_size" in config:
        settings = {"vocab_size": config["vocab_size"], **settings}
    try:
        model = build_model(name, **settings)
    except UserError as exc:
        raise UserError(f"{folder.path} needs {exc}") from None
    except TypeError as exc:
        raise UserError(
            f"{folder.path} was trained with settings this convseq's {name!r} does not take ({exc}); "
            "use the convseq version that trained it"
        ) from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"{folder.path}/model.safetensors does not fit model {name!r} ({first}); "
            "the file is corrupted or from another version"
        ) from None
    model.eval()
    return model


def load_run(run_dir: str | Path):
    """A ready-to-use predictor for the run in ``run_dir``: a text classifier or a forecaster."""
    from convseq.data.tokenize import load_tokenizer
    from convseq.inference.text import TextClassifier

    folder, config = open_run(run_dir)
    tensors, metadata = read_weights(folder)
    text = metadata.get("text")
    if text is None and "max_len" in config:  # weights written before the metadata had it
        text = {
            "task": "binary",
            "labels": ["neg", "pos"]
            if config.get("experiment", "").startswith("imdb")
            else ["0", "1"],
            "max_len": config["max_len"],
            "truncating": config.get("truncating", "pre"),
            "padding": config.get("padding", "pre"),
        }
    if text is None and folder.file("normalization.json").is_file():
        return load_series_run(folder, config, tensors, metadata)
    if not isinstance(text, dict):
        raise UserError(
            f"{run_dir} is neither a text classifier nor a forecasting run (no text settings in "
            "its weights, no normalization.json); rerun it with this convseq"
        )
    model = build_from_weights(folder, config, tensors, metadata)
    tokenizer_path = folder.file("tokenizer.json")
    if not tokenizer_path.is_file():
        raise UserError(f"{run_dir} has no tokenizer.json; the run folder is incomplete, rerun it")
    return TextClassifier(
        path=Path(run_dir),
        config=config,
        model=model,
        model_name=metadata["model"],
        tokenizer=load_tokenizer(tokenizer_path),
        labels=[str(label) for label in text["labels"]],
        max_len=int(text["max_len"]),
        truncating=text["truncating"],
        padding=text["padding"],
        train_counts=text.get("train_counts"),
    )


def old_run_time_column(config: dict) -> tuple[str, str]:
    """The time column of runs made before normalization.json recorded it."""
    from convseq.data.series import JENA_TIME_COLUMN, JENA_TIME_FORMAT

    experiment = str(config.get("experiment", ""))
    if experiment.startswith("jena-"):
        return JENA_TIME_COLUMN, JENA_TIME_FORMAT
    if experiment.startswith("etth1-"):
        return "date", ""
    return config.get("time_column", "date"), config.get("time_format", "")


def read_series_stats(folder: RunFolder, config: dict) -> dict:
    """normalization.json, checked: what a forecaster needs to read new data and its outputs."""
    from convseq.data.windows import check_window_settings

    stats = folder.read_json("normalization.json")
    path = folder.file("normalization.json")
    try:
        columns, mean, std = stats["columns"], stats["mean"], stats["std"]
        ok = (
            isinstance(columns, list)
            and all(isinstance(c, str) for c in columns)
            and len(columns) == len(mean) == len(std) > 0
            and all(isinstance(v, (int, float)) for v in [*mean, *std])
            and all(v > 0 for v in std)
            and stats["target"] in columns
            and columns.index(stats["target"]) == stats["target_index"]
            and all(isinstance(stats[k], int) for k in ("lookback", "step", "delay"))
        )
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise UserError(f"{path} is corrupted (missing or inconsistent fields); rerun the run")
    try:
        check_window_settings(stats["lookback"], stats["step"], stats["delay"])
    except UserError as exc:
        raise UserError(f"{path} is corrupted ({exc})") from None
    if not stats.get("time_column"):
        stats["time_column"], stats["time_format"] = old_run_time_column(config)
    return stats


def load_series_run(folder: RunFolder, config: dict, tensors: dict, metadata: dict):
    from convseq.inference.series import SeriesForecaster

    stats = read_series_stats(folder, config)
    model = build_from_weights(folder, config, tensors, metadata)
    metrics = folder.read_json("metrics.json")
    return SeriesForecaster(
        path=folder.path,
        config=config,
        model=model,
        model_name=metadata["model"],
        stats=stats,
        units=str(metrics.get("units") or config.get("units") or ""),
    )
