"""``convseq compare``: tables from metrics.json files, for IMDB and for series."""

import json

import pytest

from convseq.cli import main
from convseq.evaluation.compare import compare


def write_metrics(runs, experiment, run, **metrics):
    folder = runs / experiment / run
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"experiment": experiment, **metrics}))


def test_imdb_table_ranks_by_test_accuracy(tmp_path, capsys):
    runs = tmp_path / "runs"
    common = dict(dataset="imdb", model="text-cnn", params=1_315_937, best_val_acc=0.88)
    write_metrics(runs, "imdb-cnn", "a", test_acc=0.861, seconds_per_epoch=20.25, **common)
    write_metrics(runs, "imdb-cnn", "b", test_acc=0.874, seconds_per_epoch=18.0, **common)
    write_metrics(runs, "etth1-cnn", "c", dataset="etth1", model="series-cnn", test_mae=0.2)
    (runs / "broken").mkdir()
    path = compare(["imdb"], runs)
    assert path == runs / "compare-imdb.md"
    lines = path.read_text().splitlines()
    assert lines[0] == "# imdb: 2 finished runs"
    assert lines[2].split(" | ")[1:] == [
        "run",
        "model",
        "params",
        "s/epoch",
        "best val acc",
        "val macro-F1",
        "test acc",
        "test macro-F1 |",
    ]
    assert lines[4].startswith("| baseline | - | majority class")
    assert lines[4].endswith("| 0.5000 | - |")
    assert lines[5].startswith("| published | - | NBSVM-bigram")
    assert lines[5].endswith("| 0.9122 | - |")
    assert lines[6] == "| imdb-cnn | b | text-cnn | 1,315,937 | 18.0 | 0.8800 | - | 0.8740 | - |"
    assert lines[7].startswith("| imdb-cnn | a |") and len(lines) == 8
    assert "etth1" not in path.read_text()
    assert capsys.readouterr().out.startswith(path.read_text())


def test_series_table_puts_baselines_first_and_compares_to_common_sense(tmp_path):
    runs = tmp_path / "runs"
    base = dict(dataset="etth1", units="degC", baseline_test_mae=0.2)
    write_metrics(
        runs,
        "etth1-gru",
        "g",
        model="series-gru",
        params=3393,
        seconds_per_epoch=9.0,
        best_val_mae=0.21,
        best_val_mae_units=1.9,
        test_mae=0.19,
        test_mae_units=1.5,
        **base,
    )
    write_metrics(
        runs,
        "etth1-cnn",
        "c",
        model="series-cnn",
        params=10529,
        seconds_per_epoch=3.0,
        best_val_mae=0.2,
        best_val_mae_units=1.8,
        test_mae=0.17,
        test_mae_units=1.4,
        **base,
    )
    write_metrics(runs, "etth1-baseline", "b", model="common-sense", params=0, seconds_per_epoch=0.0, epochs_run=0,
                  best_val_mae=0.22, best_val_mae_units=2.0, test_mae=0.2, test_mae_units=1.6,
                  mean_baseline_val_mae=0.9, mean_baseline_val_mae_units=8.0,
                  mean_baseline_test_mae=1.1, mean_baseline_test_mae_units=9.0,
                  ridge_baseline_val_mae=0.21, ridge_baseline_val_mae_units=1.9,
                  ridge_baseline_test_mae=0.18, ridge_baseline_test_mae_units=1.5, **base)  # fmt: skip
    out = tmp_path / "table.md"
    assert main(["compare", "etth1", "--runs", str(runs), "--output", str(out)]) == 0
    rows = [
        line.split(" | ") for line in out.read_text().splitlines() if line.startswith("| etth1")
    ]
    assert [r[2] for r in rows] == ["common-sense", "mean", "ridge", "series-cnn", "series-gru"]
    assert rows[0][-1] == "+0.0% |" and rows[1][-1] == "+450.0% |" and rows[2][-1] == "-10.0% |"
    assert rows[0][4] == rows[1][4] == rows[2][4] == "-"  # no training, no seconds per epoch
    assert rows[3][-1] == "-15.0% |" and rows[3][6:9] == ["1.800", "0.1700", "1.400"]
    assert "test MAE (degC)" in out.read_text()
    assert not (runs / "compare-etth1.md").exists()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda runs: None, "does not exist"),
        (lambda runs: runs.mkdir(), "no finished 'jena' runs"),
        (
            lambda runs: write_metrics(runs, "etth1-cnn", "x", dataset="etth1"),
            "datasets with runs there: etth1",
        ),
    ],
)
def test_nothing_to_compare_is_one_line_exit_2(tmp_path, capsys, make, message):
    runs = tmp_path / "runs"
    make(runs)
    assert main(["compare", "jena", "--runs", str(runs)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_run_folders_given_directly_and_runs_at_any_depth(tmp_path, capsys):
    runs = tmp_path / "runs"
    common = dict(dataset="imdb", model="text-cnn", best_val_acc=0.8)
    write_metrics(runs, "imdb-cnn", "a", test_acc=0.81, **common)
    write_metrics(runs / "mine" / "deeper", "imdb-tcn", "b", test_acc=0.85, **common)
    write_metrics(runs, "etth1-cnn", "c", dataset="etth1", model="series-cnn", test_mae=0.2)
    lines = compare(["imdb"], runs).read_text().splitlines()
    assert [line.split(" | ")[:2] for line in lines[6:]] == [
        ["| imdb-tcn", "b"],
        ["| imdb-cnn", "a"],
    ]

    out = tmp_path / "two.md"
    a, b = runs / "imdb-cnn" / "a", runs / "mine" / "deeper" / "imdb-tcn" / "b"
    assert main(["compare", str(a), str(b), "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "# imdb: 2 finished runs"
    assert [line.split(" | ")[:2] for line in lines[6:]] == [
        ["| imdb-tcn", "b"],
        ["| imdb-cnn", "a"],
    ]
    assert capsys.readouterr().out.startswith(out.read_text())

    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    assert main(["compare", str(a), str(not_a_run), "--output", str(out)]) == 2
    assert "is not a finished run folder" in capsys.readouterr().err
    c = runs / "etth1-cnn" / "c"
    assert main(["compare", str(a), str(c), "--output", str(out)]) == 2
    assert "mix classifiers and forecasters" in capsys.readouterr().err
