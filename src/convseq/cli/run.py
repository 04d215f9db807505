"""The life of a run folder: create it, run into it, finish it, or resume it after a kill.

Presets (``convseq run NAME``) and the own-data commands (``convseq train
...``) share this, so every run folder is made, refused and resumed the same way.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from convseq.errors import UserError
from convseq.experiments import Experiment, get_experiment
from convseq.runtime import torch_threads
from convseq.training.run_folder import RunFolder


def run_experiment(
    name: str, settings: dict, out: str | None = None, resume: str | None = None
) -> RunFolder:
    """Run preset ``name`` with ``settings`` (defaults filled in) and return its folder."""
    return run_in_folder(get_experiment(name), settings, out=out, resume=resume)


def resume_command(experiment_name: str, run_dir: str) -> str:
    if experiment_name and experiment_name.startswith("train-"):
        return f"convseq train {experiment_name.removeprefix('train-')} --resume {run_dir}"
    return f"convseq run {experiment_name} --resume {run_dir}"


def run_in_folder(
    experiment: Experiment, settings: dict, out: str | None = None, resume: str | None = None
) -> RunFolder:
    """Validate, create (or reopen) the run folder, run, and write metrics.json last."""
    name = experiment.name
    created = False
    if resume:
        folder = open_for_resume(resume, name)
        full = folder.read_config()
    else:
        unknown = set(settings) - set(experiment.defaults)
        if unknown:
            raise UserError(f"unknown settings for {name}: {', '.join(sorted(unknown))}")
        full = {**experiment.defaults, **settings, "experiment": name}
        experiment.validate(full)
        if out is None:
            out = str(unused_default_folder(name))
        check_fresh(Path(out))
        created = not Path(out).exists()
        folder = RunFolder.create(out, name)
        folder.write_config(full)
    print(f"run folder: {folder.path}")
    try:
        with torch_threads(full.get("threads", 0)):
            metrics = experiment.run(full, folder)
    except UserError:
        if created and not folder.file("history.csv").exists():
            shutil.rmtree(folder.path, ignore_errors=True)  # nothing trained yet: leave no debris
        raise
    weights = folder.file("model.safetensors")
    if weights.exists():  # lets loading tell a damaged weights file from a good one
        metrics["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    folder.write_metrics(metrics)
    checkpoint = folder.file("checkpoint.pt")
    if checkpoint.exists():
        checkpoint.unlink()
    print(
        "metrics: "
        + ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in metrics.items()
            if isinstance(v, (int, float, str)) and k != "weights_sha256"
        )
    )
    return folder


def unused_default_folder(name: str) -> Path:
    """runs/NAME/TIMESTAMP, with a suffix when a run started within the same second."""
    base = Path("runs") / name / time.strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def check_fresh(path: Path) -> None:
    """A new run never writes into a folder that already holds something."""
    if (path / "metrics.json").exists():
        raise UserError(f"{path} already holds a finished run; pass another --out")
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file; pass a new folder with --out")
    if path.is_dir() and any(path.iterdir()):
        hint = (
            f"continue it with --resume {path}"
            if (path / "config.json").exists()
            else "it is not a run folder"
        )
        raise UserError(f"{path} is not empty ({hint}); pass a new folder with --out")


def open_for_resume(run_dir: str, name: str) -> RunFolder:
    """Reopen a killed run of ``name``: refuse finished, foreign or unreadable folders."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise UserError(f"{run_dir} does not exist; pass the folder of the run to resume")
    from convseq.inference.load import check_written_by_compatible

    environment = folder.read_json("config.json").get("environment") or {}
    check_written_by_compatible(environment, folder.path)
    saved = folder.read_config()
    if saved.get("experiment") != name:
        raise UserError(
            f"{run_dir} is a run of {saved.get('experiment')!r}, not {name!r}; "
            f"resume it with '{resume_command(saved.get('experiment'), run_dir)}'"
        )
    if folder.file("metrics.json").exists():
        raise UserError(f"{run_dir} already finished; nothing to resume")
    for stale in folder.path.glob(".*.tmp"):
        stale.unlink()  # half-written files of the killed process, never renamed into place
    if not folder.file("checkpoint.pt").exists():
        print(f"{run_dir} has no checkpoint yet; starting it from the first epoch")
    return folder
