"""Training curves as in the reference: dots for training, a line for validation."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from convseq.atomic import write_with  # noqa: E402

TITLES = {"acc": "accuracy", "loss": "loss", "mae": "MAE"}


def plot_curves(
    history: list[dict],
    metrics: list[str],
    path: str | Path,
    baselines: dict[str, float] | None = None,
    title: str = "",
) -> None:
    """One panel per metric, training vs validation per epoch, baselines as horizontal lines."""
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.plot(
            epochs,
            [row[metric] for row in history],
            "bo",
            label=f"Training {TITLES.get(metric, metric)}",
        )
        ax.plot(
            epochs,
            [row[f"val_{metric}"] for row in history],
            "b",
            label=f"Validation {TITLES.get(metric, metric)}",
        )
        for name, value in (baselines or {}).get(metric, {}).items():
            ax.axhline(value, color="gray", linestyle="--", label=name)
        ax.set_title(f"Training and validation {TITLES.get(metric, metric)}")
        ax.set_xlabel("epoch")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
