"""``convseq compare ucr``: runs on the UCR/UEA archives, one row per run, grouped by archive,
beside the archive's 1-NN Euclidean and majority-class baselines and InceptionTime's published
test accuracy where the archive is one of the shared four."""

from __future__ import annotations

from pathlib import Path

# InceptionTime's published test accuracy, as ../shared/data/README.md gives it (MSD-IRIMAS/LITE)
PUBLISHED = {"GunPoint": 1.000, "ItalyPowerDemand": 0.965, "BasicMotions": 1.000,
             "PickupGestureWiimoteZ": 0.760}  # fmt: skip


def _num(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def cases_rows(runs: list[tuple[Path, dict]]) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows, sorted by archive, model and run folder."""
    header = ["archive", "model", "run", "seed", "test acc", "test macro-F1", "1-NN Euclidean",
              "majority class", "InceptionTime (published)", "wall s", "CPU s"]  # fmt: skip

    def key(run):
        return (str(run[1].get("dataset")), str(run[1].get("model")), run[0].name)

    rows = [
        [
            str(m.get("dataset", "?")),
            str(m.get("model", "?")),
            folder.name,
            str(m.get("seed", "-"))
            + (f" (kernels {m['kernel_seed']})" if "kernel_seed" in m else ""),
            _num(m.get("test_acc")),
            _num(m.get("test_macro_f1")),
            _num(m.get("nn_test_acc")),
            _num(m.get("baseline_test_acc")),
            _num(PUBLISHED.get(str(m.get("dataset")))),
            _num(m.get("total_seconds"), 0),
            _num(m.get("cpu_seconds"), 0),
        ]
        for folder, m in sorted(runs, key=key)
    ]
    return header, rows
