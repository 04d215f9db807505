"""Running an experiment into a run folder, fresh or resumed."""

from __future__ import annotations

import shutil
from pathlib import Path

from convseq.errors import UserError
from convseq.experiments import get_experiment
from convseq.training.run_folder import RunFolder


def run_experiment(
    name: str, settings: dict, out: str | None = None, resume: str | None = None
) -> RunFolder:
    """Run experiment ``name`` with ``settings`` (defaults filled in) and return its folder."""
    experiment = get_experiment(name)
    if resume:
        folder = RunFolder(resume)
        saved = folder.read_config()
        if saved.get("experiment") != name:
            raise UserError(
                f"{resume} is a run of {saved.get('experiment')!r}, not {name!r}; "
                f"resume it with 'convseq run {saved.get('experiment')} --resume {resume}'"
            )
        if (folder.file("metrics.json")).exists():
            raise UserError(f"{resume} already finished; nothing to resume")
        if not folder.file("checkpoint.pt").exists():
            print(f"{resume} has no checkpoint yet; starting it from the first epoch")
        full = saved
    else:
        unknown = set(settings) - set(experiment.defaults)
        if unknown:
            raise UserError(f"unknown settings for {name}: {', '.join(sorted(unknown))}")
        full = {**experiment.defaults, **settings, "experiment": name}
        experiment.validate(full)
        folder = RunFolder.create(out, name)
        folder.write_config(full)
    print(f"run folder: {folder.path}")
    try:
        metrics = experiment.run(full, folder)
    except UserError:
        if not resume and not folder.file("history.csv").exists():
            shutil.rmtree(folder.path, ignore_errors=True)  # nothing trained yet: leave no debris
        raise
    folder.write_metrics(metrics)
    checkpoint = folder.file("checkpoint.pt")
    if checkpoint.exists():
        checkpoint.unlink()
    print(
        "metrics: "
        + ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
        )
    )
    return folder


def default_out(name: str) -> Path:
    return Path("runs") / name
