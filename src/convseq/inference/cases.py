"""A trained classifier of cases: files of cases (or arrays) in, labels and probabilities out.

Cases are read as in training (``data/case_files.py``), their gaps filled and
scaled with the run's saved statistics, padded with NaN to at least the
training length (longer cases are kept whole: the models mask, never cut),
and scored in batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from convseq.config import CaseFiles, RunConfig
from convseq.data.case_files import Cases, read_cases
from convseq.data.cases import Scaling, check_channels, padded
from convseq.evaluation import classification
from convseq.inference.text import Prediction
from convseq.models.registry import get_model
from convseq.training.tasks import make_task
from convseq.training.trainer import model_device, predict


class CaseClassifier:
    """Load one with ``convseq.load(run_dir)``; ``predict(cases)`` gives a label per case."""

    def __init__(self, path: Path, config: RunConfig, model: torch.nn.Module, shape: dict,
                 labels: list[str], scaling: dict, train_counts: list[int] | None = None):  # fmt: skip
        self.path, self.config, self.model, self.model_name = path, config, model, config.model
        self.labels, self.train_counts = labels, train_counts
        self.channels, self.length = int(shape["num_channels"]), int(shape["length"])
        self.scaling = Scaling(scaling["how"], scaling.get("mean"), scaling.get("std"))

    def __repr__(self) -> str:
        return (
            f"CaseClassifier({str(self.path)!r}, model={self.model_name!r}, labels={self.labels})"
        )

    def read(
        self, path: str | Path, file_format: str | None = None, encoding: str = "utf-8"
    ) -> Cases:
        """Cases from a file, in the run's format settings (a UCR run: by the file's name)."""
        source = self.config.source
        if isinstance(source, CaseFiles):
            return read_cases(path, file_format or source.file_format, source.label_column,
                              source.case_column, source.time_column, encoding)  # fmt: skip
        return read_cases(path, file_format or "auto", encoding=encoding)

    def cases(self, data) -> Cases:
        """A file's cases, ``Cases``, or a list of ``(channels, length)`` arrays (unlabelled)."""
        if isinstance(data, Cases):
            cases = data
        elif isinstance(data, (str, Path)):
            cases = self.read(data)
        else:
            series = [np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in data]
            cases = Cases(series, [""] * len(series), list(self.labels), "the arrays given")
        check_channels(cases, self.channels)
        return cases

    def inputs(self, cases: Cases) -> torch.Tensor:
        """NaN-padded ``(cases, time, channels)``, time at least the training length."""
        return torch.from_numpy(padded(self.scaling.apply(cases.series), self.length))

    @torch.inference_mode()
    def logits(self, data, batch_size: int = 64) -> np.ndarray:
        x = self.inputs(self.cases(data))
        batches = (x[i : i + batch_size] for i in range(0, len(x), batch_size))
        return predict(self.model, batches).numpy()

    def predict(self, data, batch_size: int = 64) -> list[Prediction]:
        probabilities = classification.probabilities(self.logits(data, batch_size))
        best = probabilities.argmax(axis=1)
        return [
            Prediction(self.labels[k], float(p[k]))
            for k, p in zip(best, probabilities, strict=True)
        ]

    def evaluate(self, data, batch_size: int = 64) -> dict:
        """Accuracy, macro-F1, per-class scores and the majority-class baseline on labelled cases."""
        cases = self.cases(data)
        true = cases.ids(self.labels)
        logits = self.logits(cases, batch_size)
        counts = self.train_counts or np.bincount(true, minlength=len(self.labels)).tolist()
        scores = classification.scores(true, logits, self.labels, int(np.argmax(counts)))
        binary = len(self.labels) == 2
        task = make_task("binary" if binary else "multiclass")
        target = torch.tensor(true, dtype=torch.float32 if binary else torch.int64)
        if get_model(self.model_name).trainable:  # a ridge's scores are no logits: no loss
            scores["loss"] = float(task.loss(torch.from_numpy(logits), target))
        return {"data": str(cases.source), "cases": len(cases), **scores}

    def export_onnx(self, out: str | Path | None = None) -> Path:
        from convseq.export.onnx_cases import export_case_classifier

        return export_case_classifier(self, out)

    @property
    def device(self) -> torch.device:
        return model_device(self.model)
