"""Training curves as in the reference: dots for training, a line for validation.

Epochs are whole numbers on the axis; a metric may be drawn in the user's
units (``scale`` and ``units``: a forecaster's MAE in kW, not normalized);
a baseline far above the curves is drawn as a labelled arrow at the top of
the panel, so that it does not squash the curves into its bottom.

Figures are drawn on matplotlib's ``Figure`` directly, never through pyplot,
so the caller's backend and open figures are left alone.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from convseq.atomic import write_with

TITLES = {"acc": "accuracy", "loss": "loss", "mae": "MAE"}
FAR = 1.5  # a baseline beyond this many times the curves' range is drawn off the scale


def plot_curves(
    history: list[dict],
    metrics: list[str],
    path: str | Path,
    baselines: dict[str, dict[str, float]] | None = None,
    title: str = "",
    scale: dict[str, float] | None = None,
    units: dict[str, str] | None = None,
) -> Figure:
    """One panel per metric, training vs validation per epoch; returns the figure."""
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(5.5 * len(metrics), 4))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        factor = (scale or {}).get(metric, 1.0)
        unit = (units or {}).get(metric, "")
        name = TITLES.get(metric, metric)
        train = [row[metric] * factor for row in history if metric in row]
        val = [row[f"val_{metric}"] * factor for row in history]
        if train:
            ax.plot(epochs, train, "bo", label=f"Training {name}")
        ax.plot(epochs, val, "b", label=f"Validation {name}")
        _baselines(ax, (baselines or {}).get(metric, {}), factor, unit, train + val)
        ax.set_title(f"Training and validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path)
    return fig


def save_png(fig: Figure, path: str | Path) -> None:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def _baselines(ax, lines: dict[str, float], factor: float, unit: str, curve: list[float]) -> None:
    low, high = min(curve), max(curve)
    span = max(high - low, 1e-12)
    for label, value in lines.items():
        value *= factor
        shown = f"{label}: {value:.4g}{f' {unit}' if unit else ''}"
        if value <= high + FAR * span and value >= low - FAR * span:
            ax.axhline(value, color="gray", linestyle="--", label=shown)
            continue
        ax.set_ylim(low - 0.1 * span, high + 0.25 * span)  # the curves fill the panel
        above = value > high
        y = 0.97 if above else 0.03
        ax.annotate(
            f"{shown} ({'above' if above else 'below'} the panel)",
            xy=(0.5, y),
            xycoords="axes fraction",
            ha="center",
            va="top" if above else "bottom",
            color="gray",
            arrowprops={"arrowstyle": "->", "color": "gray"},
            xytext=(0.5, 0.85 if above else 0.15),
            textcoords="axes fraction",
        )


def plot_forecasts(panels: list[dict], path: str | Path, title: str = "", unit: str = "") -> Figure:
    """``forecast.png``: one panel per dict, each with ``x`` and ``truth``, the model's
    ``forecast`` at ``forecast_x``, optionally ``history`` at ``history_x`` and an interval
    ``band`` (low, high, label) at ``forecast_x``; ``label`` names the panel."""
    fig = Figure(figsize=(11, 2.8 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        if "history" in panel:
            ax.plot(panel["history_x"], panel["history"], color="gray", label="history")
        ax.plot(panel["x"], panel["truth"], "k", label="truth")
        if "band" in panel:
            low, high, label = panel["band"]
            ax.fill_between(
                panel["forecast_x"], low, high, color="tab:blue", alpha=0.25, label=label
            )
        ax.plot(panel["forecast_x"], panel["forecast"], color="tab:blue", label="forecast")
        ax.set_title(panel["label"], fontsize=10)
        ax.set_xlabel(panel.get("x_label", "row"))
        ax.set_ylabel(unit or "value")
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path)
    return fig
