"""The benchmark's result table: measured rows beside the published anchors, Markdown and CSV.

Published figures are quoted, with their sources, so a reader sees at once
whether a reproduction holds; they are never used to choose anything.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from convseq.evaluation.compare import markdown_table

# MSE, MAE per horizon 96/192/336/720, lookback 336 unless noted
ANCHOR_SOURCE = (
    "Zeng et al., 'Are Transformers Effective for Time Series Forecasting?', AAAI 2023 "
    "(arXiv 2205.13504), Table 2, L=336; PatchTST/64 from Nie et al., ICLR 2023, L=512"
)
ANCHORS = {
    "etth1": {
        "repeat": [(1.295, 0.713), (1.325, 0.733), (1.323, 0.744), (1.339, 0.756)],
        "nlinear": [(0.374, 0.394), (0.408, 0.415), (0.429, 0.427), (0.440, 0.453)],
        "dlinear": [(0.375, 0.399), (0.405, 0.416), (0.439, 0.443), (0.472, 0.490)],
        "patchtst64": [(0.370, None), (0.413, None), (0.422, None), (0.447, None)],
    },
    "weather": {
        "repeat": [(0.259, 0.254), (0.309, 0.292), (0.377, 0.338), (0.465, 0.394)],
        "nlinear": [(0.182, 0.232), (0.225, 0.269), (0.271, 0.301), (0.338, 0.348)],
        "dlinear": [(0.176, 0.237), (0.220, 0.282), (0.265, 0.319), (0.323, 0.362)],
        "patchtst64": [(0.149, None), (0.194, None), (0.245, None), (0.314, None)],
    },
}
ANCHOR_HORIZONS = (96, 192, 336, 720)


@dataclass
class Row:
    """One model at one horizon: its scores and how it was chosen."""

    model: str
    horizon: int
    val_mse: float
    test_mse: float
    test_mae: float
    drop_last_mse: float
    drop_last_mae: float
    seconds: float
    chosen: str = ""  # what validation picked: epochs, penalty, lookback, weight
    quantiles: dict = field(default_factory=dict)


def anchor(dataset: str, model: str, horizon: int) -> tuple[float | None, float | None] | None:
    if dataset not in ANCHORS or model not in ANCHORS[dataset] or horizon not in ANCHOR_HORIZONS:
        return None
    return ANCHORS[dataset][model][ANCHOR_HORIZONS.index(horizon)]


def _cell(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mean(values):
    return None if any(v is None for v in values) else sum(values) / len(values)


def table_rows(dataset: str, rows: list[Row], models: list[str], horizons: list[int]):
    """(label, [(mse, mae) per horizon], (avg mse, avg mae)): measured, then published anchors."""
    out = []
    for model in models:
        found = {r.horizon: r for r in rows if r.model == model}
        if found:
            pairs = [(found[h].test_mse, found[h].test_mae) if h in found else (None, None)
                     for h in horizons]  # fmt: skip
            out.append((model, pairs))
    for model in ANCHORS.get(dataset, {}):
        pairs = [anchor(dataset, model, h) or (None, None) for h in horizons]
        if any(p[0] is not None for p in pairs):
            out.append((f"{model} (published)", pairs))
    return [
        (label, pairs, (_mean([p[0] for p in pairs]), _mean([p[1] for p in pairs])))
        for label, pairs in out
    ]


def markdown(dataset: str, rows: list[Row], models: list[str], horizons: list[int]) -> str:
    """The MSE / MAE table: a column pair per horizon and the average."""
    head = ["model", *(f"{h} MSE / MAE" for h in horizons), "avg MSE / MAE"]
    lines = []
    for label, pairs, avg in table_rows(dataset, rows, models, horizons):
        digits = 3 if label.endswith("(published)") else 4  # as published; ours to 4
        lines.append(
            [label, *(f"{_cell(m, digits)} / {_cell(a, digits)}" for m, a in [*pairs, avg])]
        )
    return markdown_table(head, lines)


def details(rows: list[Row]) -> str:
    """Per run: validation MSE, the drop-last test figure, the choices and the time."""
    head = ["model", "H", "val MSE", "test MSE (drop-last)", "test MAE (drop-last)",
            "chosen on val", "s"]  # fmt: skip
    return markdown_table(head, [
        [r.model, str(r.horizon), f"{r.val_mse:.4f}", f"{r.test_mse:.4f} ({r.drop_last_mse:.4f})",
         f"{r.test_mae:.4f} ({r.drop_last_mae:.4f})", r.chosen, f"{r.seconds:.1f}"]
        for r in rows
    ])  # fmt: skip


def quantile_lines(rows: list[Row]) -> str:
    lines = []
    for r in rows:
        if r.quantiles:
            q = r.quantiles
            losses = ", ".join(f"q{k} {v:.4f}" for k, v in q["pinball"].items())
            lines.append(
                f"- {r.model}, H={r.horizon}: pinball {losses}; [q{q['interval'][0]:g}, "
                f"q{q['interval'][1]:g}] covers {q['coverage']:.3f} of test values (nominal "
                f"{q['nominal_coverage']:.2f}; validation {q['val_coverage']:.3f}), mean width "
                f"{q['mean_width']:.3f}"
            )
            cal = q.get("calibrated")
            if cal:
                lines[-1] += (
                    f"; calibrated on validation (conformal margins per step and variable, "
                    f"mean {cal['mean_margin']:+.3f}; validation coverage "
                    f"{cal['val_coverage']:.3f}): test coverage {cal['coverage']:.3f}, mean "
                    f"width {cal['mean_width']:.3f}"
                )
    return "\n".join(lines) + ("\n" if lines else "")


def csv_text(dataset: str, rows: list[Row], models: list[str], horizons: list[int]) -> str:
    """One line per (row, horizon) plus its average, measured and published alike."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "model", "source", "horizon", "test_mse", "test_mae",
                     "drop_last_mse", "drop_last_mae", "val_mse", "chosen", "seconds"])  # fmt: skip
    found = {(r.model, r.horizon): r for r in rows}
    for label, pairs, avg in table_rows(dataset, rows, models, horizons):
        published = label.endswith("(published)")
        name = label.removesuffix(" (published)")
        for h, (mse, mae) in zip([*horizons, "avg"], [*pairs, avg], strict=True):
            r = None if published else found.get((name, h))
            writer.writerow([
                dataset, name, "published" if published else "measured", h,
                "" if mse is None else f"{mse:.6f}", "" if mae is None else f"{mae:.6f}",
                f"{r.drop_last_mse:.6f}" if r else "", f"{r.drop_last_mae:.6f}" if r else "",
                f"{r.val_mse:.6f}" if r else "", r.chosen if r else "",
                f"{r.seconds:.1f}" if r else "",
            ])  # fmt: skip
    return buffer.getvalue()
