"""A trained text classifier: texts in, labels and probabilities out.

Encoding uses the run's own tokenizer and cut/pad settings; the forward pass
runs batched under ``torch.inference_mode`` (through the folded form of the
reference convnet when the model is one, see ``fold.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convseq.config import RunConfig
from convseq.data.text_files import read_labelled_texts
from convseq.evaluation import classification
from convseq.export.onnx import export_text_classifier
from convseq.inference.encode import TextEncoder
from convseq.inference.fold import FoldedTextCNN
from convseq.training.tasks import make_task
from convseq.training.trainer import model_device, predict

PIPELINE_CHUNK = 2048


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float


class TextClassifier:
    """Load one with ``convseq.load(run_dir)``; ``predict(texts)`` gives a label per text."""

    def __init__(
        self,
        path: Path,
        config: RunConfig,
        model: torch.nn.Module,
        tokenizer,
        labels: list[str],
        max_len: int,
        truncating: str,
        padding: str,
        train_counts: list[int] | None = None,
    ):
        self.path, self.config, self.model, self.model_name = path, config, model, config.model
        self.tokenizer, self.labels = tokenizer, labels
        self.max_len, self.truncating, self.padding = max_len, truncating, padding
        self.train_counts = train_counts
        self.encoder = TextEncoder(tokenizer, max_len, truncating, padding)
        self.device = model_device(model)
        self.folded = None  # the folded reference convnet is the CPU's fast path
        if self.device.type == "cpu":
            self.folded = FoldedTextCNN.from_model(model, self.encoder.pad_id, padding)

    def __repr__(self) -> str:
        return (
            f"TextClassifier({str(self.path)!r}, model={self.model_name!r}, labels={self.labels})"
        )

    @property
    def text_column(self) -> str:
        return getattr(self.config.source, "text_column", "text")

    @property
    def label_column(self) -> str:
        return getattr(self.config.source, "label_column", "label")

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder(list(texts))

    @torch.inference_mode()
    def logits_of_ids(self, ids: np.ndarray, batch_size: int = 256) -> np.ndarray:
        if self.folded is not None:
            return self.folded.logits(ids, batch_size)
        batches = (
            torch.from_numpy(ids[i : i + batch_size]) for i in range(0, len(ids), batch_size)
        )
        outputs = predict(self.model, batches)
        return outputs.numpy() if len(outputs) else np.zeros((0,), np.float32)

    def logits(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Raw model outputs: one logit per text for two classes, else one per class.

        Many texts go through a two-stage pipeline: one thread encodes the next
        chunk (Python, holding the GIL) while this one runs the model on the
        current chunk (torch releases the GIL). ``convseq predict`` runs the
        model on one torch thread by default (``--threads``), so the two keep
        two cores busy; two intra-op threads beside the encoder measured up to
        10x slower on a loaded 2-core machine.
        """
        texts = list(texts)
        if len(texts) <= PIPELINE_CHUNK:
            return self.logits_of_ids(self.encode(texts), batch_size)
        chunks = [texts[i : i + PIPELINE_CHUNK] for i in range(0, len(texts), PIPELINE_CHUNK)]
        outputs = []
        with ThreadPoolExecutor(max_workers=1) as encoder:
            pending = encoder.submit(self.encode, chunks[0])
            for i in range(len(chunks)):
                ids = pending.result()
                if i + 1 < len(chunks):
                    pending = encoder.submit(self.encode, chunks[i + 1])
                outputs.append(self.logits_of_ids(ids, batch_size))
        return np.concatenate(outputs)

    def probabilities(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """(len(texts), classes) probabilities, columns in the order of ``labels``."""
        return classification.probabilities(self.logits(texts, batch_size))

    def predict(self, texts: list[str], batch_size: int = 256) -> list[Prediction]:
        """The most likely label of each text, with its probability."""
        if isinstance(texts, str):
            texts = [texts]
        probs = self.probabilities(texts, batch_size)
        best = probs.argmax(axis=1)
        return [Prediction(self.labels[k], float(probs[i, k])) for i, k in enumerate(best)]

    def evaluate(
        self,
        data: str | Path,
        text_column: str | None = None,
        label_column: str | None = None,
        encoding: str = "utf-8",
    ) -> dict:
        """Loss, accuracy, macro-F1 and the majority-class baseline on a labelled file."""
        labelled = read_labelled_texts(
            data, text_column or self.text_column, label_column or self.label_column, encoding
        )
        split = labelled.to_split(self.labels)
        logits = self.logits(split.texts)
        true = np.asarray(split.labels)
        task = make_task("binary" if len(self.labels) == 2 else "multiclass")
        target = torch.tensor(true, dtype=torch.float32 if len(self.labels) == 2 else torch.int64)
        loss = float(task.loss(torch.from_numpy(logits), target))
        majority = (
            int(np.argmax(self.train_counts))
            if self.train_counts
            else classification.majority_class(true, len(self.labels))
        )
        result = {"data": str(data), "texts": len(split.texts), "loss": loss}
        result.update(classification.scores(true, logits, self.labels, majority))
        result["skipped"] = {
            "empty_text": labelled.skipped_empty,
            "no_label": labelled.skipped_unlabelled,
        }
        result["notes"] = labelled.skip_notes()
        return result

    def export_onnx(self, out: str | Path | None = None) -> Path:
        """Write model.onnx, tokenizer.json and signature.json into ``out`` (default RUN/export)."""
        return export_text_classifier(self, out)
