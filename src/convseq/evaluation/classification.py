"""Classification scores from logits: probabilities, confusion matrix, macro-F1, baselines.

Models output logits (one per sample for two classes, one per class otherwise),
so every consumer - training reports, ``convseq evaluate``, ``predict`` - turns
them into classes and probabilities here, the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from convseq.evaluation.plots import save_png


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of shape (n, classes); a single logit column means two classes."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        positive = 1.0 / (1.0 + np.exp(-logits))
        return np.stack([1.0 - positive, positive], axis=1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def predicted_classes(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits)
    return (logits > 0).astype(np.int64) if logits.ndim == 1 else logits.argmax(axis=1)


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true), np.asarray(pred)), 1)
    return matrix


def per_class_scores(confusion: np.ndarray) -> list[dict]:
    """Precision, recall, F1 and support per class (0 where a score is undefined)."""
    scores = []
    for k in range(len(confusion)):
        tp = confusion[k, k]
        predicted, actual = confusion[:, k].sum(), confusion[k, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * tp / (predicted + actual) if predicted + actual else 0.0
        scores.append(
            {
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(actual),
            }
        )
    return scores


def macro_f1(confusion: np.ndarray) -> float:
    """Mean F1 over the classes that occur as a true or a predicted class (as scikit-learn)."""
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    f1 = np.array([s["f1"] for s in per_class_scores(confusion)])
    return float(f1[present].mean()) if present.any() else 0.0


def accuracy(confusion: np.ndarray) -> float:
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else 0.0


def majority_class(train_ids: np.ndarray, n_classes: int) -> int:
    """The most frequent training class (the lowest id on ties)."""
    return int(np.bincount(np.asarray(train_ids), minlength=n_classes).argmax())


def scores(true: np.ndarray, logits: np.ndarray, labels: list[str], majority: int) -> dict:
    """Accuracy, macro-F1, the majority-class baseline and the confusion matrix, as plain data."""
    true = np.asarray(true)
    confusion = confusion_matrix(true, predicted_classes(logits), len(labels))
    baseline = confusion_matrix(true, np.full_like(true, majority), len(labels))
    return {
        "acc": accuracy(confusion),
        "macro_f1": macro_f1(confusion),
        "baseline_acc": accuracy(baseline),
        "baseline_macro_f1": macro_f1(baseline),
        "baseline_class": labels[majority],
        "per_class": {
            label: s for label, s in zip(labels, per_class_scores(confusion), strict=True)
        },
        "confusion": confusion.tolist(),
    }


def split_metrics(name: str, scores: dict) -> dict:
    """A split's entries in metrics.json, beside the majority-class baseline; the split
    scored last keeps its per-class scores and confusion matrix."""
    return {
        f"{name}_macro_f1": scores["macro_f1"],
        f"baseline_{name}_acc": scores["baseline_acc"],
        f"baseline_{name}_macro_f1": scores["baseline_macro_f1"],
        "baseline_class": scores["baseline_class"],
        "per_class": scores["per_class"],
        "confusion": {"split": name, "matrix": scores["confusion"]},
    }


def split_line(name: str, scores: dict) -> str:
    """``val: acc a, macro-F1 f | majority-class baseline ('x'): acc b, macro-F1 g``."""
    return (
        f"{name}: acc {scores['acc']:.4f}, macro-F1 {scores['macro_f1']:.4f} | "
        f"majority-class baseline ({scores['baseline_class']!r}): "
        f"acc {scores['baseline_acc']:.4f}, macro-F1 {scores['baseline_macro_f1']:.4f}"
    )


def per_class_table(per_class: dict) -> str:
    """Precision, recall, F1 and support of each class, one line each, under a header."""
    width = max(len(label) for label in per_class) + 2
    lines = [f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label, s in per_class.items():
        lines.append(f"{label:<{width}}{s['precision']:>10.4f}{s['recall']:>10.4f}"
                     f"{s['f1']:>10.4f}{s['support']:>10}")  # fmt: skip
    return "\n".join(lines)


def plot_last_confusion(metrics: dict, labels: list[str], path: str | Path, dataset: str) -> None:
    """confusion.png of the split scored last (test, when there is one)."""
    split = metrics["confusion"]["split"]
    plot_confusion(np.asarray(metrics["confusion"]["matrix"]), labels, path,
                   title=f"{dataset}: {split} confusion (rows: true)")  # fmt: skip


def plot_confusion(confusion: np.ndarray, labels: list[str], path: str | Path, title: str) -> None:
    """A heat map of counts, true classes as rows, each cell annotated."""
    confusion = np.asarray(confusion)
    size = max(4.0, 0.6 * len(labels) + 2.5)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = confusion.max() / 2 if confusion.size else 0
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                str(confusion[i, j]),
                ha="center",
                va="center",
                color="white" if confusion[i, j] > threshold else "black",
            )
    fig.tight_layout()
    save_png(fig, path)
