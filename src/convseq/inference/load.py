"""Open a finished run folder safely: data only, versions checked, corruption refused.

Nothing here executes code from the folder: the config is JSON, the weights
are safetensors, the tokenizer is its JSON file. A folder of another
run-folder format or a newer convseq, an unfinished run, or a damaged file
is refused with one line that says what to do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open

from convseq.config import RunConfig
from convseq.data.tokenize import load_tokenizer
from convseq.errors import UserError
from convseq.inference.cases import CaseClassifier
from convseq.inference.series import SeriesForecaster, read_series_stats
from convseq.inference.text import TextClassifier
from convseq.models.registry import rebuild
from convseq.runs import RUN_FORMAT, RunFolder
from convseq.training.devices import resolve_device


def open_run(run_dir: str | Path) -> tuple[RunFolder, RunConfig]:
    """The folder and its settings, once it is known to be a finished, compatible run."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise UserError(f"{run_dir} does not exist; pass a run folder made by convseq")
    config = folder.read_config()
    if not (folder.path / "metrics.json").exists():
        raise UserError(
            f"{run_dir} is an unfinished run (no metrics.json); finish it with --resume {run_dir}"
        )
    return folder, config


def read_weights(folder: RunFolder) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata from model.safetensors, checked against the recorded checksum."""
    path = folder.path / "model.safetensors"
    if not path.is_file():
        raise UserError(f"{folder.path} has no model.safetensors; the run did not finish, rerun it")
    expected = folder.read_json("metrics.json").get("weights_sha256")
    if expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
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
            key: value if key in ("convseq", "run_format") else json.loads(value)
            for key, value in metadata.items()
        }
    except json.JSONDecodeError:
        raise UserError(f"{path} has damaged metadata; rerun the experiment") from None
    if str(decoded.get("run_format")) != str(RUN_FORMAT) or "model" not in decoded:
        raise UserError(
            f"{path} is in weights format {decoded.get('run_format')}, this convseq reads "
            f"{RUN_FORMAT}; rerun the experiment with this version"
        )
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise UserError(f"{path} holds non-finite values in {key}; the weights are corrupted")
    return tensors, decoded


def build_from_weights(folder: RunFolder, tensors: dict, metadata: dict) -> torch.nn.Module:
    """The model rebuilt from its recorded name, shape and settings, with the weights loaded."""
    try:
        model = rebuild(metadata)
    except (KeyError, TypeError) as exc:
        raise UserError(
            f"{folder.path}/model.safetensors records settings this convseq cannot build "
            f"({exc}); use the convseq version that trained it"
        ) from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"{folder.path}/model.safetensors does not fit model {metadata['model']!r} ({first}); "
            "the file is corrupted or from another version"
        ) from None
    return model.eval()


def load_run(run_dir: str | Path, device: str = "cpu"):
    """A ready-to-use predictor for the run in ``run_dir``: a text classifier or a forecaster.

    Weights are saved device-free, so a run trained on a GPU predicts on a CPU
    and the other way round; ``device`` is where this one computes.
    """
    folder, config = open_run(run_dir)
    tensors, metadata = read_weights(folder)
    model = build_from_weights(folder, tensors, metadata).to(resolve_device(device))
    if config.task == "forecast":
        metrics = folder.read_json("metrics.json")
        stats = read_series_stats(folder, config)
        return SeriesForecaster(folder.path, config, model, stats, str(metrics.get("units") or ""))
    if config.task == "classify":
        cases = metadata.get("cases")
        if not isinstance(cases, dict):
            raise UserError(f"{run_dir} lacks its labels and scaling; the folder is incomplete")
        return CaseClassifier(folder.path, config, model, metadata["shape"], cases["labels"],
                              cases["scaling"], cases.get("train_counts"))  # fmt: skip
    text = metadata.get("text")
    tokenizer_path = folder.path / "tokenizer.json"
    if not isinstance(text, dict) or not tokenizer_path.is_file():
        raise UserError(
            f"{run_dir} lacks its tokenizer or text settings; the folder is incomplete, rerun it"
        )
    return TextClassifier(
        path=folder.path,
        config=config,
        model=model,
        tokenizer=load_tokenizer(tokenizer_path),
        labels=[str(label) for label in text["labels"]],
        max_len=config.shaping.max_len,
        truncating=config.shaping.truncating,
        padding=config.shaping.padding,
        train_counts=text.get("train_counts"),
    )
