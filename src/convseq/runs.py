"""The run folder: everything one run produced, self-contained, written atomically.

Layout: ``config.json`` (the run's settings, versions, machine), ``history.csv``
(per epoch), ``curves.png``, ``model.safetensors`` (+ ``tokenizer.json`` or
``normalization.json``), ``metrics.json`` (written last: a folder with it is
a finished run) and, while a run is going, ``checkpoint.pt``. The folder is
made when the run has something to write, so a run refused for its input
leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tokenizers
import torch
from safetensors.torch import save_file

from convseq.atomic import write_json, write_text, write_with
from convseq.config import RunConfig, flag
from convseq.errors import UserError
from convseq.presets import get_preset
from convseq.training import distributed
from convseq.training.devices import resolve_device, resolve_precision
from convseq.version import __version__

RUN_FORMAT = 2  # bump when the folder layout changes incompatibly
RESUMABLE = ("epochs", "device")  # training settings that may change when a run is resumed


def environment(config: RunConfig | None = None) -> dict:
    """Versions, machine and placement, recorded with every run so its figures can be placed."""
    placement = {}
    if config is not None and hasattr(config.train, "device"):
        device = resolve_device(config.train.device)
        placement = {
            "device": str(device),
            "precision": resolve_precision(config.train.precision, device),
            "processes": distributed.current().world,
        }
    return {
        **placement,
        "convseq": __version__,
        "run_format": RUN_FORMAT,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "tokenizers": tokenizers.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
    }


class RunFolder:
    """A run's folder, made (with its config.json) on the first write into it.

    Under torchrun only rank 0 writes: the other ranks' ``writer`` is False,
    and what they would write goes to a private scratch folder, removed at
    the end (``close``). Every rank reads the real folder (``shared``).
    """

    def __init__(self, path: str | Path, config: RunConfig | None = None, writer: bool = True):
        self.path = Path(path)
        self.config = config
        self.writer = writer
        self.made: list[Path] = []  # folders this run created, innermost last
        self.ready = config is None  # a resumed run's folder holds its config already
        self.made_config = False
        self.scratch = None if writer else Path(tempfile.mkdtemp(prefix="convseq-rank-"))

    def file(self, name: str) -> Path:
        """Where to write ``name``: in the folder (made first if needed), or rank scratch."""
        if self.scratch is not None:
            return self.scratch / name
        if not self.ready:
            self._make()
        return self.path / name

    def shared(self, name: str) -> Path:
        """A file every rank reads and rank 0 writes (the checkpoint, caches): the folder's."""
        if self.writer:
            self.file(name)  # the folder exists before anything is read from it
        return self.path / name

    def close(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _make(self) -> None:
        """The folder (and config.json), on the run's first write; a given empty folder is used."""
        written = {"config": self.config.to_dict(), "environment": environment(self.config)}
        missing = [p for p in (self.path, *self.path.parents) if not p.exists()]
        self.path.mkdir(parents=True, exist_ok=True)
        self.made = list(reversed(missing))
        write_json(self.path / "config.json", written)
        self.ready = self.made_config = True
        print(f"run folder: {self.path}", flush=True)

    def discard(self) -> None:
        """Remove what this run wrote, when it failed before it trained anything.

        Only a run that made the folder's config.json cleans up (a resumed run
        never does); a folder it created goes, with the parents it created
        that are empty; an empty folder the user passed is left, empty again.
        """
        if not self.made_config or (self.path / "history.csv").exists():
            return
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            for path in self.path.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for parent in reversed(self.made[:-1]):
            try:
                parent.rmdir()  # only if empty: another run may have written there
            except OSError:
                break

    def write_history(self, history: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
        write_text(self.file("history.csv"), buffer.getvalue())

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.file("metrics.json"), metrics)

    def finish(self, metrics: dict) -> None:
        """metrics.json, last, with the weights' checksum (which lets loading tell a damaged
        weights file from a good one); the checkpoint goes."""
        weights = self.path / "model.safetensors"
        if weights.exists():
            metrics["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        self.write_metrics(metrics)
        (self.path / "checkpoint.pt").unlink(missing_ok=True)

    def save_weights(self, model, metadata: dict) -> None:
        """The weights, device-free, with what rebuilds the model (name, shape, settings)."""
        tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        meta = {"convseq": __version__, "run_format": str(RUN_FORMAT)}
        meta.update({k: json.dumps(v) for k, v in metadata.items()})
        write_with(
            self.file("model.safetensors"), lambda tmp: save_file(tensors, tmp, metadata=meta)
        )

    # ------------------------------------------------------------- reading
    def read_json(self, name: str) -> dict:
        path = self.path / name
        if not (self.path / "config.json").is_file():
            raise UserError(
                f"{self.path} is not a convseq run folder (no config.json); pass a folder made "
                "by 'convseq run' or 'convseq train'"
            )
        if not path.is_file():
            raise UserError(f"{self.path} has no {name}; the run folder is incomplete, rerun it")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is corrupted ({exc}); rerun the experiment") from None
        if not isinstance(data, dict):
            raise UserError(f"{path} is corrupted (not a JSON object); rerun the experiment")
        return data

    def read_config(self) -> RunConfig:
        """The run's settings, once the folder is known to be of this convseq's format."""
        data = self.read_json("config.json")
        environment = data.get("environment") or {}
        fmt, version = environment.get("run_format"), str(environment.get("convseq", "0"))
        if fmt != RUN_FORMAT:
            raise UserError(
                f"{self.path} was written by convseq {version} (run-folder format {fmt}); this "
                f"convseq {__version__} reads format {RUN_FORMAT}: rerun it with this version"
            )
        if version_tuple(version) > version_tuple(__version__):
            raise UserError(
                f"{self.path} was written by convseq {version}, newer than this convseq "
                f"{__version__}; upgrade convseq to use it"
            )
        try:
            return RunConfig.from_dict(data["config"])
        except (KeyError, TypeError) as exc:
            raise UserError(f"{self.path}/config.json is corrupted ({exc}); rerun it") from None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def default_folder(preset: str) -> Path:
    """runs/PRESET/TIMESTAMP, with a suffix when a run started within the same second."""
    base = Path("runs") / preset / time.strftime("%Y%m%d-%H%M%S")
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


def resume_command(preset: str, path: Path | str) -> str:
    """The command that continues the run in ``path``."""
    return f"{get_preset(preset).command} --resume {path}"


def open_for_resume(
    path: str | Path, preset: str, given: dict, model: str | None = None, frame=None,
    writer: bool = True,
) -> tuple[RunFolder, RunConfig, dict]:  # fmt: skip
    """The killed run in ``path``, its config with the allowed changes in ``given``, and those changes.

    ``given`` holds the options the user passed again (flat names). They are
    read as a fresh run reads them, and any that differs from the run's own
    value is refused unless it may change on resume (``RESUMABLE``), so
    nothing the user asked for is silently ignored.
    """
    folder = RunFolder(path, writer=writer)
    if not folder.path.is_dir():
        raise UserError(f"{path} does not exist; pass the folder of the run to resume")
    config = folder.read_config()
    folder.config = config
    if config.preset != preset:
        raise UserError(
            f"{path} is a run of {config.preset!r}, not {preset!r}; resume it with "
            f"'{resume_command(config.preset, path)}'"
        )
    if (folder.path / "metrics.json").exists():
        raise UserError(f"{path} already finished; nothing to resume")
    if model and model != config.model:
        raise UserError(
            f"--model {model} conflicts with the run being resumed, which trains {config.model}; "
            "drop the option, or start a new run"
        )
    saved = config.settings()
    asked = get_preset(preset).make_run({**saved, **given}, config.model, frame).settings()
    changes = {}
    for key in given:
        if asked[key] == saved[key]:
            continue
        if key not in RESUMABLE:
            raise UserError(
                f"{flag(key)} {shown(asked[key])} conflicts with the run being resumed, which has "
                f"{shown(saved[key])}; drop the option, or start a new run"
            )
        changes[key] = (saved[key], asked[key])
    if "epochs" in changes:
        check_more_epochs(folder, config, changes["epochs"][1])
    config.train = config.train.with_changes(**{k: new for k, (_, new) in changes.items()})
    for stale in folder.path.glob(".*.tmp") if writer else ():
        stale.unlink()  # half-written files of the killed process, never renamed into place
    if not (folder.path / "checkpoint.pt").exists():
        print(f"{path} has no checkpoint yet; starting it from the first epoch")
    return folder, config, changes


def check_more_epochs(folder: RunFolder, config: RunConfig, epochs: int) -> None:
    """More epochs on resume, when the schedule was not laid out for the old count."""
    if config.train.schedule in ("cosine", "onecycle"):
        raise UserError(
            f"the run's {config.train.schedule} schedule was laid out for {config.train.epochs} "
            "epochs, so --epochs cannot change on resume; start a new run"
        )
    history = folder.path / "history.csv"
    done = max(0, len(history.read_text().splitlines()) - 1) if history.exists() else 0
    if epochs < done:
        raise UserError(f"--epochs {epochs} is fewer than the {done} the run has already trained")


def save_config(folder: RunFolder, config: RunConfig) -> None:
    """config.json with ``config`` (a resumed run's changes), its environment kept."""
    data = folder.read_json("config.json")
    data["config"] = config.to_dict()
    write_json(folder.path / "config.json", data)


def shown(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "''"
    return str(value)
