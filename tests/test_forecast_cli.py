"""Every forecasting preset end to end on tiny files, and the issue's bad inputs via the CLI."""

import csv
import json

import pytest
import torch

from convseq.cli import main
from convseq.errors import UserError
from convseq.presets import get_preset
from tests.series_files import ett_lines, write_ett, write_jena

JENA_PRESETS = ["jena-baseline", "jena-cnn", "jena-cnn-gru", "jena-gru"]
ETTH1_PRESETS = ["etth1-baseline", "etth1-cnn", "etth1-cnn-gru", "etth1-gru"]
# 700 rows: windows of 65 steps (the convnet needs 61), about 220 / 40 / 44 windows per split
TINY = [
    "--lookback", "130", "--step", "2", "--delay", "6",
    "--splits", "0:350,350:520,520:", "--eval-batch-size", "64",
]  # fmt: skip
TRAINING = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16"]
METRIC_KEYS = {
    "experiment", "dataset", "model", "params", "target", "units", "best_epoch",
    "best_val_mae", "best_val_mae_units", "test_mae", "test_mae_units",
    "seconds_per_epoch", "epochs_run", "baseline_val_mae", "baseline_val_mae_units",
    "baseline_test_mae", "baseline_test_mae_units", "mean_baseline_val_mae",
    "mean_baseline_val_mae_units", "mean_baseline_test_mae", "mean_baseline_test_mae_units",
    "ridge_baseline_val_mae", "ridge_baseline_val_mae_units", "ridge_baseline_test_mae",
    "ridge_baseline_test_mae_units", "ridge_baseline_penalty", "rows", "torch_threads",
}  # fmt: skip
RUN_FILES = {
    "config.json",
    "history.csv",
    "model.safetensors",
    "normalization.json",
    "metrics.json",
    "forecast.png",
}


def tiny_args(name: str) -> list[str]:
    return TINY + ([] if name.endswith("baseline") else TRAINING)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Run all eight presets once on tiny data; the tests below read their folders."""
    root = tmp_path_factory.mktemp("forecast")
    write_jena(root / "jena", rows=700, zipped=True)
    write_ett(root / "ett", rows=700)
    runs = root / "runs"
    codes = {}
    for name in JENA_PRESETS + ETTH1_PRESETS:
        data = root / ("jena" if name.startswith("jena") else "ett")
        out = runs / name / "tiny"
        codes[name] = main(
            ["run", name, "--data-dir", str(data), "--out", str(out), *tiny_args(name)]
        )
    return root, runs, codes


@pytest.mark.parametrize("name", JENA_PRESETS + ETTH1_PRESETS)
def test_each_preset_runs_one_short_epoch(finished, name):
    _, runs, codes = finished
    assert codes[name] == 0
    folder = runs / name / "tiny"
    learned = not name.endswith("baseline")
    assert {p.name for p in folder.iterdir()} == RUN_FILES | ({"curves.png"} if learned else set())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS | {"weights_sha256"}
    assert metrics["experiment"] == name and metrics["dataset"] == name.split("-")[0]
    assert metrics["units"] == "degC"
    # the preset's thread count (0: torch's own) was the one the run trained with
    assert metrics["torch_threads"] == (get_preset(name).threads or torch.get_num_threads())
    # the rows as read: a clean file, taken in file order as the reference presets take it
    assert metrics["rows"]["rows"] == 700 and metrics["rows"]["time_order"] == "as-given"
    assert metrics["rows"]["steps_back"] == metrics["rows"]["repeated_times"] == 0
    scale = metrics["best_val_mae_units"] / metrics["best_val_mae"]
    assert metrics["test_mae_units"] == pytest.approx(metrics["test_mae"] * scale)
    if learned:
        assert metrics["params"] > 0 and metrics["epochs_run"] == 1 and metrics["best_epoch"] == 1
        rows = list(csv.DictReader((folder / "history.csv").open()))
        assert len(rows) == 1 and float(rows[0]["val_mae"]) == pytest.approx(
            metrics["best_val_mae"]
        )
    else:
        assert metrics["model"] == "common-sense" and metrics["params"] == 0
        assert metrics["test_mae"] == metrics["baseline_test_mae"]
    norm = json.loads((folder / "normalization.json").read_text())
    config = json.loads((folder / "config.json").read_text())["config"]
    assert config["shaping"]["lookback"] == 130
    assert norm["splits"] == [[0, 350], [350, 520], [520, 700]]
    # Jena reads all 14 columns; ETTh1's presets read OT's own history by default
    assert len(norm["mean"]) == len(norm["columns"]) == (14 if name.startswith("jena") else 1)
    assert config["shaping"]["target"] == ("T (degC)" if name.startswith("jena") else "OT")


def test_every_run_scores_the_same_baseline(finished):
    _, runs, _ = finished
    for dataset, presets in (("jena", JENA_PRESETS), ("etth1", ETTH1_PRESETS)):
        scores = {
            json.loads((runs / n / "tiny" / "metrics.json").read_text())["baseline_test_mae"]
            for n in presets
        }
        assert len(scores) == 1, dataset


def test_unzipped_jena_file_and_same_seed_same_result(finished, tmp_path):
    root, runs, _ = finished
    write_jena(tmp_path, rows=700, zipped=False)
    out = tmp_path / "again"
    args = [
        "run",
        "jena-cnn",
        "--data-dir",
        str(tmp_path),
        "--out",
        str(out),
        *tiny_args("jena-cnn"),
    ]
    assert main(args) == 0
    first = json.loads((runs / "jena-cnn" / "tiny" / "metrics.json").read_text())
    again = json.loads((out / "metrics.json").read_text())
    assert again["test_mae"] == first["test_mae"] and again["best_val_mae"] == first["best_val_mae"]


def test_compare_shows_the_baseline_first(finished, capsys):
    _, runs, _ = finished
    assert main(["compare", "etth1", "--runs", str(runs)]) == 0
    table = (runs / "compare-etth1.md").read_text()
    assert capsys.readouterr().out.startswith(table)
    rows = [line for line in table.splitlines() if line.startswith("| etth1")]
    assert len(rows) == 6  # four runs, plus the mean and ridge baselines the baseline run scored
    assert rows[0].startswith("| etth1-baseline | tiny | common-sense")
    assert rows[1].startswith("| etth1-baseline | tiny | mean")
    assert rows[2].startswith("| etth1-baseline | tiny | ridge")
    assert "test MAE (degC)" in table and "jena" not in table


# ----------------------------------------------------------------- bad input
def broken_ett(folder, line_number=None, line=None, rows=700):
    lines, _ = ett_lines(rows)
    if line_number:
        lines[line_number - 1] = line
    write_ett(folder, lines=lines)
    return folder


@pytest.mark.parametrize(
    "preset, file_edit, extra, message",
    [
        ("etth1-baseline", {}, ["--target", "OTT"], "no column 'OTT' (did you mean 'OT'?)"),
        ("etth1-cnn", {}, ["--features", "HUFL,MULLL"], "(did you mean 'MULL'?)"),
        ("etth1-cnn", dict(line_number=40, line="2016-07-02 14:00:00,1,2,3,4,5,6,x"), [], "line 40, column 'OT': 'x' is not a number"),
        ("etth1-cnn", dict(line_number=41, line="2016-07-02 15:00:00,1,2,3,4,5,6,NaN"), [], "line 41, column 'OT': nan is not a finite number"),
        ("etth1-gru", dict(line_number=42, line="2016-07-02 16:00:00,1,2,inf,4,5,6,7"), ["--features", ""], "line 42, column 'MUFL': inf is not a finite number"),
        ("etth1-cnn", dict(line_number=43, line="2016-07-01 00:00:00,1,2,3,4,5,6,7"), ["--time-order", "check"], "line 43: time 2016-07-01 00:00:00 comes before"),
        ("etth1-cnn", dict(line_number=44, line="2016-07-02 17:00:00,1,2,3,4,5,6,7"), ["--time-order", "check"], "line 44: time 2016-07-02 17:00:00 repeats an earlier row's"),
        ("etth1-cnn", {}, ["--time-order", "shuffle"], "--time-order must be one of check, as-given, drop-repeats, sort"),
        ("etth1-cnn", dict(rows=100), [], "has 100 rows, fewer than lookback + delay + 1 = 137"),
        ("etth1-cnn", {}, ["--splits", "0:400,400:500,500:"], "the validation split: rows 400:500 hold no window"),
        ("etth1-cnn", {}, ["--lookback", "0"], "--lookback must be at least 1"),
        ("etth1-cnn-gru", {}, ["--step", "0"], "--step must be at least 1"),
        ("etth1-cnn", {}, ["--step", "131"], "--step 131 is larger than --lookback 130"),
        ("etth1-baseline", {}, ["--delay", "-1"], "--delay must be at least 0, got -1"),
        ("etth1-cnn", {}, ["--step", "3"], "windows of 44 steps (lookback 130 / step 3) are too short for series-cnn"),
        ("etth1-gru", {}, ["--recurrent-dropout", "1.5"], "--recurrent-dropout must be at least 0 and below 1, got 1.5"),
        ("etth1-cnn", {}, ["--splits", "0.5,0.6,0.1"], "sum to at most 1"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(
    tmp_path, capsys, preset, file_edit, extra, message
):
    data = broken_ett(tmp_path / "data", **file_edit)
    out = tmp_path / "run"
    args = ["run", preset, "--data-dir", str(data), "--out", str(out), *tiny_args(preset), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("convseq: error: ")
    assert not out.exists()


def test_presets_take_rows_as_given_and_say_so(tmp_path, capsys):
    """A named dataset's rows are read as the chapter reads them (its splits are row numbers):
    a time stepping back is counted and reported, not refused, unless --time-order says so."""
    data = broken_ett(tmp_path / "data", line_number=43, line="2016-07-01 00:00:00,1,2,3,4,5,6,7")

    def run(out, *extra):
        argv = ["run", "etth1-baseline", "--data-dir", str(data), "--out", str(out), *TINY]
        assert main([*argv, *extra]) == 0
        printed = capsys.readouterr().out
        metrics = json.loads((out / "metrics.json").read_text())
        return printed, metrics["rows"], json.loads((out / "normalization.json").read_text())

    printed, rows, norm = run(tmp_path / "given")
    assert (
        "ETTh1.csv: 1 step back in time (first: line 43, 2016-07-01 00:00:00 after "
        "2016-07-02 16:00:00), 1 row repeating an earlier time (0 exact copies); rows kept in "
        "file order (--time-order as-given)" in printed
    )
    assert (rows["time_order"], rows["steps_back"], rows["repeated_times"]) == ("as-given", 1, 1)
    assert rows["dropped"] == 0 and norm["rows"] == 700

    printed, rows, norm = run(tmp_path / "dropped", "--time-order", "drop-repeats")
    assert "1 row of repeated times dropped (--time-order drop-repeats)" in printed
    assert rows["time_order"] == "drop-repeats" and rows["dropped"] == 1
    assert norm["rows"] == 699


def test_a_broken_column_left_out_of_the_features_is_never_read(tmp_path, capsys):
    data = broken_ett(tmp_path / "data", line_number=40, line="2016-07-02 14:00:00,1,x,3,4,5,6,7")

    def run(out, *extra):
        return main(
            ["run", "etth1-baseline", "--data-dir", str(data), "--out", str(out), *TINY, *extra]
        )

    assert run(tmp_path / "ot") == 0  # the default features are OT alone
    assert run(tmp_path / "hull", "--features", "HULL") == 2
    assert "line 40, column 'HULL'" in capsys.readouterr().err


def test_missing_dataset_file_names_where_to_put_it(tmp_path, capsys, monkeypatch):
    def offline(remote, target):
        raise UserError(f"could not download {remote.url}; put {remote.name} in {target.parent}")

    monkeypatch.setattr("convseq.data.locate.fetch", offline)
    (tmp_path / "empty").mkdir()
    args = [
        "run",
        "jena-baseline",
        "--data-dir",
        str(tmp_path / "empty"),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(args) == 2
    assert "put jena_climate_2009_2016.csv.zip in" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    from convseq.training.trainer import Trainer

    data = broken_ett(tmp_path / "data")
    args = ["--data-dir", str(data), *tiny_args("etth1-cnn-gru"), "--epochs", "2"]
    assert main(["run", "etth1-cnn-gru", "--out", str(tmp_path / "whole"), *args]) == 0

    save = Trainer._save_checkpoint

    def save_then_die(self, epoch, schedule):
        save(self, epoch, schedule)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    killed = tmp_path / "killed"
    assert main(["run", "etth1-cnn-gru", "--out", str(killed), *args]) == 130
    monkeypatch.setattr(Trainer, "_save_checkpoint", save)
    assert main(["run", "etth1-cnn-gru", "--resume", str(killed)]) == 0
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    resumed = json.loads((killed / "metrics.json").read_text())
    for key in ("best_val_mae", "test_mae", "best_epoch"):
        assert resumed[key] == whole[key]


def test_any_csv_with_its_own_time_format_and_fraction_splits(tmp_path, capsys):
    lines, _ = ett_lines(700)
    # day/month/year times and other column names: nothing ETTh1-specific is assumed
    rows = [line.split(",") for line in lines[1:]]
    text = "when,load,temp\n" + "".join(
        f"{r[0][8:10]}/{r[0][5:7]}/{r[0][:4]} {r[0][11:16]},{r[1]},{r[7]}\n" for r in rows
    )
    (tmp_path / "plant.csv").write_text(text)
    runs = tmp_path / "runs"
    common = ["--data", str(tmp_path / "plant.csv"), "--time-column", "when", "--target", "temp",
              "--time-format", "%d/%m/%Y %H:%M", "--units", "degC", "--lookback", "48",
              "--delay", "5", "--splits", "0.6,0.2,0.2"]  # fmt: skip
    for model in ("common-sense", "series-gru"):
        out = runs / "series-csv" / model
        extra = TRAINING if model != "common-sense" else []
        assert (
            main(["run", "series-csv", *common, "--model", model, "--out", str(out), *extra]) == 0
        )
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["dataset"] == "plant" and metrics["model"] == model
    norm = json.loads((runs / "series-csv" / "series-gru" / "normalization.json").read_text())
    assert norm["columns"] == ["load", "temp"] and norm["splits"] == [
        [0, 420],
        [420, 560],
        [560, 700],
    ]
    assert main(["compare", "plant", "--runs", str(runs)]) == 0
    assert "test MAE (degC)" in capsys.readouterr().out
    assert main(["run", "series-csv", *common, "--model", "series-grux"]) == 2
    assert "did you mean 'series-gru'" in capsys.readouterr().err
