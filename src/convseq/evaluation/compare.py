"""``convseq compare``: finished runs side by side, as a Markdown table.

``convseq compare DATASET`` reads every ``metrics.json`` at any depth under
``--runs`` whose ``dataset`` matches (runs written with ``--out`` included);
``convseq compare RUN_DIR ...`` takes the run folders given. The table is
printed and written atomically (default ``RUNS/compare-NAME.md``).
Classifiers show accuracy and macro-F1 beside the majority class; forecasters
show MAE normalized and in the target's units, baselines first, then the
learned models best first, each against the common-sense baseline scored on
the same test windows.
"""

from __future__ import annotations

import json
from pathlib import Path

from convseq.atomic import write_text
from convseq.errors import UserError
from convseq.evaluation.compare_cases import cases_rows
from convseq.wording import plural

BASELINE_ORDER = ("common-sense", "mean", "ridge")


def find_runs(runs_dir: Path) -> list[tuple[Path, dict]]:
    """Every finished run at any depth under ``runs_dir``."""
    runs = read_runs(sorted(p.parent for p in runs_dir.rglob("metrics.json")))
    return [(path, m) for path, m in runs if "candidate_of" not in m]  # --model auto's parts


def read_runs(folders: list[Path]) -> list[tuple[Path, dict]]:
    """Each folder's metrics; an unreadable metrics.json is skipped with a note."""
    found = []
    for folder in folders:
        path = folder / "metrics.json"
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            print(f"skipping {path}: not readable JSON")
            continue
        if isinstance(metrics, dict):
            found.append((folder, metrics))
    return found


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _num(value, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _params(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


# test accuracies that need no run: a fact of the data and a published figure
IMDB_REFERENCES = [
    ("baseline", "majority class (the test set is balanced)", 0.5),
    ("published", "NBSVM-bigram (Wang & Manning, 2012)", 0.9122),
]


def classification_table(runs: list[tuple[Path, dict]], dataset: str) -> str:
    runs = sorted(runs, key=lambda r: -(r[1].get("test_acc") or r[1].get("best_val_acc") or 0))
    header = ["experiment", "run", "model", "params", "s/epoch", "best val acc", "val macro-F1",
              "test acc", "test macro-F1"]  # fmt: skip
    rows = []
    if dataset == "imdb":
        rows += [
            [kind, "-", name, "-", "-", "-", "-", f"{acc:.4f}", "-"]
            for kind, name, acc in IMDB_REFERENCES
        ]
    else:
        baseline = next((m for _, m in runs if "baseline_val_acc" in m), None)
        if baseline:
            rows.append(
                ["baseline", "-", f"majority class ({baseline.get('baseline_class', '?')})", "-", "-",
                 _num(baseline.get("baseline_val_acc"), 4), _num(baseline.get("baseline_val_macro_f1"), 4),
                 _num(baseline.get("baseline_test_acc"), 4), _num(baseline.get("baseline_test_macro_f1"), 4)]
            )  # fmt: skip
    for folder, m in runs:
        rows.append(
            [
                str(m.get("experiment", "?")),
                folder.name,
                str(m.get("model", "?")),
                _params(m.get("params")),
                _num(m.get("seconds_per_epoch"), 1),
                _num(m.get("best_val_acc"), 4),
                _num(m.get("val_macro_f1"), 4),
                _num(m.get("test_acc"), 4),
                _num(m.get("test_macro_f1"), 4),
            ]
        )
    return markdown_table(header, rows)


def with_mean_rows(runs: list[tuple[Path, dict]]) -> list[tuple[Path, dict]]:
    """Add the training-mean and ridge baselines that each baseline run also scored, as rows."""
    extra = []
    for folder, m in runs:
        for model, prefix in (("mean", "mean_baseline"), ("ridge", "ridge_baseline")):
            if m.get("model") != "common-sense" or f"{prefix}_test_mae" not in m:
                continue
            row = {k: m.get(k) for k in ("experiment", "units", "baseline_test_mae")}
            row.update(model=model, params=0, epochs_run=0)
            for split in ("val", "test"):
                for suffix in ("", "_units"):
                    key = f"{split}_mae{suffix}"
                    row[("best_" if split == "val" else "") + key] = m.get(f"{prefix}_{key}")
            extra.append((folder, row))
    return runs + extra


def _series_key(run: tuple[Path, dict]):
    model = run[1].get("model")
    if model in BASELINE_ORDER:
        return (0, BASELINE_ORDER.index(model), run[0].name)
    test = run[1].get("test_mae")
    return (1, test if isinstance(test, (int, float)) else float("inf"), run[0].name)


def _versus(metrics: dict) -> str:
    test, base = metrics.get("test_mae"), metrics.get("baseline_test_mae")
    if not isinstance(test, (int, float)) or not isinstance(base, (int, float)) or not base:
        return "-"
    return f"{100 * (test / base - 1):+.1f}%"


def series_table(runs: list[tuple[Path, dict]]) -> str:
    units = next((m.get("units") for _, m in runs if m.get("units")), "units")
    header = [
        "experiment",
        "run",
        "model",
        "params",
        "s/epoch",
        "best val MAE",
        f"best val MAE ({units})",
        "test MAE",
        f"test MAE ({units})",
        "test vs common-sense",
    ]
    rows = [
        [
            str(m.get("experiment", "?")),
            folder.name,
            str(m.get("model", "?")),
            _params(m.get("params")),
            _num(m.get("seconds_per_epoch"), 1) if m.get("epochs_run") != 0 else "-",
            _num(m.get("best_val_mae"), 4),
            _num(m.get("best_val_mae_units"), 3),
            _num(m.get("test_mae"), 4),
            _num(m.get("test_mae_units"), 3),
            _versus(m),
        ]
        for folder, m in sorted(with_mean_rows(runs), key=_series_key)
    ]
    return markdown_table(header, rows)


def paths_table(runs: list[tuple[Path, dict]]) -> str:
    """``--horizon`` runs: MSE and MAE over every step and target, beside the ridge NLinear."""
    header = ["experiment", "run", "model", "params", "horizon", "targets", "best val MSE",
              "test MSE", "test MAE", "ridge test MSE", "test vs ridge", "interval coverage"]  # fmt: skip
    rows = []
    for folder, m in sorted(runs, key=lambda r: (r[1].get("horizon", 0), r[1].get("test_mse", 0))):
        test, ridge = m.get("test_mse"), m.get("ridge_baseline_test_mse")
        versus = f"{100 * (test / ridge - 1):+.1f}%" if test is not None and ridge else "-"
        rows.append([str(m.get("experiment", "?")), folder.name, str(m.get("model", "?")),
                     _params(m.get("params")), str(m.get("horizon")), str(len(m.get("targets", []))),
                     _num(m.get("best_val_mse"), 4), _num(test, 4), _num(m.get("test_mae"), 4),
                     _num(ridge, 4), versus, _num(m.get("test_coverage"), 3)])  # fmt: skip
    return markdown_table(header, rows)


def forecast_tables(runs: list[tuple[Path, dict]]) -> str:
    """One table for one-value forecasters, one for --horizon runs (each only if there are any)."""
    paths = [r for r in runs if r[1].get("horizon")]
    single = [r for r in runs if not r[1].get("horizon")]
    parts = [series_table(single)] if single else []
    if paths:
        parts.append(("\nEvery step of every target (--horizon):\n\n" if single else "")
                     + paths_table(paths))  # fmt: skip
    return "".join(parts)


def compare(
    what: list[str], runs_dir: str | Path = "runs", output: str | Path | None = None
) -> Path | None:
    """Print the table of a dataset's finished runs (written to RUNS/compare-NAME.md or --output),
    or of the run folders given (written only to --output)."""
    runs_dir = Path(runs_dir)
    folders = [Path(w) for w in what if (Path(w) / "metrics.json").is_file()]
    if folders and len(folders) != len(what):
        odd = next(w for w in what if not (Path(w) / "metrics.json").is_file())
        raise UserError(
            f"{odd} is not a finished run folder (no metrics.json); pass run folders only"
        )
    if folders:
        runs = read_runs(folders)
        if not runs:
            raise UserError("none of the run folders given has a readable metrics.json")
        datasets = sorted({str(m.get("dataset")) for _, m in runs})
        name = datasets[0] if len(datasets) == 1 else "runs"
    elif len(what) > 1:
        raise UserError(f"pass one dataset name or run folders, got {' '.join(what)}")
    else:
        name = what[0]
        if not runs_dir.is_dir():
            raise UserError(
                f"runs folder {runs_dir} does not exist; run an experiment first or pass --runs DIR"
            )
        every = find_runs(runs_dir)
        runs = [(f, m) for f, m in every if name in (m.get("dataset"), m.get("collection"))]
        if not runs:
            seen = sorted({str(m.get("dataset")) for _, m in every})
            hint = f"; datasets with runs there: {', '.join(seen)}" if seen else ""
            raise UserError(f"no finished {name!r} runs at any depth under {runs_dir}{hint}")
    forecasts = [("test_mae" in m or "best_val_mae" in m) for _, m in runs]
    if any(forecasts) and not all(forecasts):
        raise UserError("these runs mix classifiers and forecasters; compare each kind on its own")
    table = forecast_tables(runs) if all(forecasts) else classification_table(runs, name)
    if all(m.get("collection") for _, m in runs):  # UCR/UEA archives: one row per run
        table = markdown_table(*cases_rows(runs))
    title = f"# {name}: {plural(len(runs), 'finished run')}\n\n"
    print(title + table, end="")
    if folders and not output:
        return None  # run folders from anywhere: written only where --output says
    target = Path(output) if output else runs_dir / f"compare-{name}.md"
    write_text(target, title + table)
    print(f"written to {target}")
    return target
