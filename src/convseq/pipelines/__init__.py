"""One pipeline per task, and the life of a run around it.

``start`` runs a checked ``RunConfig`` into a new folder, ``resume`` continues
a killed run; both go through ``execute``: the pipeline trains and scores,
then ``metrics.json`` is written last, with the weights' checksum. A run
that fails before it trained anything leaves no folder behind; one that is
interrupted later says how to resume it.
"""

from __future__ import annotations

from pathlib import Path

from convseq.config import RunConfig
from convseq.pipelines import auto, classify, forecast, text
from convseq.presets import AUTO
from convseq.runs import (
    RunFolder,
    check_fresh,
    default_folder,
    open_for_resume,
    resume_command,
    save_config,
)
from convseq.training import distributed
from convseq.training.seed import preserved_random_state

PIPELINES = {"text": text.run, "forecast": forecast.run, "classify": classify.run}


def start(config: RunConfig, out: str | Path | None = None) -> RunFolder:
    """Run ``config`` into ``out`` (default runs/PRESET/TIMESTAMP), a new folder.

    Under torchrun, rank 0 names and checks the folder and the other ranks
    take its name, so that every rank reads the same folder.
    """
    ranks = distributed.current()
    path = Path(out) if out else default_folder(config.preset)
    if ranks.main:
        check_fresh(path)
    path = Path(distributed.gather(str(path), ranks)[0])
    return execute(config, RunFolder(path, config, writer=ranks.main))


def resume(
    preset: str, path: str | Path, given: dict, model: str | None = None, frame=None
) -> RunFolder:
    """Continue the killed run in ``path``; ``given`` holds the options the user passed again."""
    writer = distributed.current().main
    folder, config, changes = open_for_resume(path, preset, given, model, frame, writer)
    config.frame = frame
    for key, (before, after) in changes.items():
        print(f"resuming with --{key.replace('_', '-')} {after} (the run had {before})")
    return execute(config, folder, {k: after for k, (_, after) in changes.items()})


def execute(config: RunConfig, folder: RunFolder, changed: dict | None = None) -> RunFolder:
    try:
        with preserved_random_state():  # a library run leaves the caller's generators alone
            pipeline = auto.run if config.model == AUTO else PIPELINES[config.task]
            metrics = pipeline(config, folder)
    except KeyboardInterrupt as interrupt:
        if (folder.path / "history.csv").exists():
            interrupt.resume_command = resume_command(config.preset, folder.path)
        else:
            folder.discard()
        raise
    except BaseException:
        folder.discard()
        raise
    finally:
        folder.close()
    if not folder.writer:
        return folder
    if changed:
        metrics["resumed_with"] = changed
        save_config(folder, config)
    folder.finish(metrics)
    shown = [
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if isinstance(v, (int, float, str)) and k != "weights_sha256"
    ]
    print("metrics: " + ", ".join(shown))
    return folder
