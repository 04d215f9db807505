"""The run folder: everything one run produced, self-contained and atomic.

Layout: config.json (settings, seed, versions), history.csv (per epoch),
curves.png, model.safetensors (+ tokenizer.json or normalization stats) and
metrics.json. Every file is written atomically, so an interrupted run never
leaves a half-written one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from convseq import __version__
from convseq.atomic import write_json, write_text, write_with
from convseq.errors import UserError

RUN_FORMAT = 1  # bump when the folder layout changes incompatibly


def environment() -> dict:
    import tokenizers

    return {
        "convseq": __version__,
        "run_format": RUN_FORMAT,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "tokenizers": tokenizers.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
    }


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, out: str | Path | None, experiment: str) -> RunFolder:
        if out is None:
            out = Path("runs") / experiment / time.strftime("%Y%m%d-%H%M%S")
        path = Path(out)
        if (path / "metrics.json").exists():
            raise UserError(f"{path} already holds a finished run; pass another --out")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict) -> None:
        write_json(self.file("config.json"), {"config": config, "environment": environment()})

    def write_history(self, history: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
        write_text(self.file("history.csv"), buffer.getvalue())

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.file("metrics.json"), metrics)

    def save_weights(self, model: torch.nn.Module, metadata: dict | None = None) -> None:
        tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        meta = {"convseq": __version__, "run_format": str(RUN_FORMAT)}
        meta.update({k: json.dumps(v) for k, v in (metadata or {}).items()})
        write_with(
            self.file("model.safetensors"), lambda tmp: save_file(tensors, tmp, metadata=meta)
        )

    # ------------------------------------------------------------- reading
    def read_json(self, name: str) -> dict:
        path = self.file(name)
        if not path.is_file():
            raise UserError(
                f"{self.path} is not a convseq run folder (no {name}); pass a folder made by 'convseq run'"
            )
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is corrupted ({exc}); rerun the experiment") from None

    def read_config(self) -> dict:
        data = self.read_json("config.json")
        fmt = data.get("environment", {}).get("run_format")
        if fmt != RUN_FORMAT:
            raise UserError(
                f"{self.path} was written by convseq run format {fmt}, this convseq reads "
                f"format {RUN_FORMAT}; retrain it with this version"
            )
        return data["config"]

    def load_weights(self) -> dict[str, torch.Tensor]:
        path = self.file("model.safetensors")
        if not path.is_file():
            raise UserError(
                f"{self.path} has no model.safetensors; the run did not finish, rerun it"
            )
        try:
            return load_file(path)
        except Exception as exc:  # safetensors raises its own error types
            raise UserError(f"{path} is corrupted ({exc}); rerun the experiment") from None
