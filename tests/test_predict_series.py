"""``convseq predict`` / ``evaluate`` and ``convseq.load`` for forecasting runs: the same windows and
numbers as training, for ``train forecast`` and preset runs, and bad input refused."""

import csv
import io
import json
import shutil
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

import convseq
from convseq.cli import main
from convseq.data.windows import Windows
from tests.forecast_helpers import (
    QUICK,
    START,
    hourly_values,
    refused,
    series_lines,
    train_forecast,
    write_series,
)
from tests.series_files import write_ett

ROWS = 500
LAST = START + timedelta(hours=ROWS - 1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict-series")
    data = write_series(folder / "plant.csv", rows=ROWS)
    assert train_forecast(data, folder / "run", "--fill", "interpolate", "--units", "kW") == 0
    return data, folder / "run"


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_latest(run_dir, values: np.ndarray) -> float:
    """The model on the last window, built by hand from normalization.json."""
    stats = json.loads((run_dir / "normalization.json").read_text())
    mean, std = np.array(stats["mean"]), np.array(stats["std"])
    window = ((values - mean) / std).astype(np.float32)[-47::2]  # span (24 - 1) * 2 + 1
    assert window.shape == (24, 2)
    model = convseq.load(run_dir).model
    with torch.no_grad():
        out = float(model(torch.from_numpy(window[None]))[0])
    return out * std[0] + mean[0]


def test_latest_forecast_is_the_model_on_the_last_window(run, capsys):
    data, run_dir = run
    assert main(["predict", str(run_dir), str(data)]) == 0
    rows = read_csv(capsys.readouterr().out)
    assert len(rows) == 1
    assert rows[0]["window_end"] == str(LAST)
    assert rows[0]["time"] == str(LAST + timedelta(hours=6))  # delay 4 + step 2 after the last
    assert float(rows[0]["forecast"]) == pytest.approx(
        expected_latest(run_dir, hourly_values(ROWS)), abs=1e-5
    )


def test_every_window_matches_the_training_windows(run, capsys):
    data, run_dir = run
    forecaster = convseq.load(run_dir)
    forecasts = forecaster.predict_all(data)
    assert len(forecasts) == ROWS - 47 + 1
    assert forecasts[-1].value == pytest.approx(forecaster.predict(data).value, abs=1e-5)
    stats = forecaster.stats
    normalized = ((hourly_values(ROWS) - stats["mean"]) / stats["std"]).astype(np.float32)
    windows = Windows(normalized, normalized[:, 0], 48, 2, 4, batch_size=64)
    expected = []
    with torch.no_grad():
        for inputs, _ in windows.epoch(0):
            expected.append(forecaster.model(inputs).numpy())
    expected = np.concatenate(expected) * stats["std"][0] + stats["mean"][0]
    got = np.array([f.value for f in forecasts[: windows.num_windows]])
    assert np.abs(got - expected).max() < 1e-4
    k = 10  # the window for row 48 + k: rows k .. k + 46, target row 48 + k + 4
    assert forecasts[k].window_end == START + timedelta(hours=k + 46)
    assert forecasts[k].time == START + timedelta(hours=k + 52)
    assert main(["predict", str(run_dir), str(data), "--all", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == len(forecasts)
    assert listed[k] == {
        "window_end": str(forecasts[k].window_end),
        "time": str(forecasts[k].time),
        "forecast": round(forecasts[k].value, 6),
    }


def test_output_file_is_written_and_never_the_input(run, tmp_path, capsys):
    data, run_dir = run
    target = tmp_path / "forecasts.csv"
    assert main(["predict", str(run_dir), str(data), "--all", "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert len(read_csv(target.read_text())) == ROWS - 46
    refused(["predict", str(run_dir), str(data), "--output", str(data)], capsys, "is an input file")
    assert data.read_text().startswith("time,load,temp\n")


def test_evaluate_on_the_test_rows_gives_the_runs_test_scores(run, tmp_path, capsys):
    data, run_dir = run
    norm = json.loads((run_dir / "normalization.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    start = norm["splits"][2][0]  # the first row of the test windows' first window
    lines = data.read_text().splitlines()
    test_rows = write_series(tmp_path / "test.csv", lines=[lines[0], *lines[1 + start :]])
    scores_file = tmp_path / "scores.json"
    assert main(["evaluate", str(run_dir), str(test_rows), "--output", str(scores_file)]) == 0
    printed = capsys.readouterr().out
    scores = json.loads(scores_file.read_text())
    assert scores["mae"] == pytest.approx(metrics["test_mae"], rel=1e-5)
    assert scores["baseline_mae"] == pytest.approx(metrics["baseline_test_mae"], rel=1e-5)
    assert scores["mae_units"] == pytest.approx(metrics["test_mae_units"], rel=1e-5)
    assert scores["units"] == "kW" and scores["windows"] == ROWS - start - 48 - 4
    assert printed.startswith(f"test.csv: {scores['windows']} windows, target 'load': MAE ")
    assert f"common-sense baseline: MAE {scores['baseline_mae']:.4f}" in printed


def test_gaps_in_new_data_are_filled_as_in_training(run, tmp_path, capsys):
    _, run_dir = run
    gappy = write_series(tmp_path / "gappy.csv", rows=ROWS, drop=(ROWS - 10, ROWS - 9))
    assert main(["predict", str(run_dir), str(gappy)]) == 0
    captured = capsys.readouterr()
    assert "1 gap in the time index, 2 rows missing" in captured.err
    assert "filled by interpolate, as in training" in captured.err
    values = hourly_values(ROWS)
    before, after = values[ROWS - 11], values[ROWS - 8]
    values[ROWS - 10] = before + (after - before) / 3
    values[ROWS - 9] = before + 2 * (after - before) / 3
    assert float(read_csv(captured.out)[0]["forecast"]) == pytest.approx(
        expected_latest(run_dir, values), abs=1e-4
    )


def test_irregular_times_have_no_time_past_the_end(run, tmp_path, capsys):
    _, run_dir = run
    lines = series_lines(ROWS)
    lines[-1] = lines[-1].replace(":00:00,", ":20:00,", 1)  # the last row 20 minutes late
    data = write_series(tmp_path / "irregular.csv", lines=lines)
    assert main(["predict", str(run_dir), str(data), "--all"]) == 0
    captured = capsys.readouterr()
    rows = read_csv(captured.out)
    assert rows[-1]["time"] == "" and rows[0]["time"] == str(START + timedelta(hours=52))
    assert "forecasts past its end have no time" in captured.err


def test_a_data_frame_gives_the_same_forecast_as_the_file(run):
    data, run_dir = run
    values = hourly_values(ROWS)
    times = np.array([START + timedelta(hours=k) for k in range(ROWS)], dtype="datetime64[s]")
    forecaster = convseq.load(run_dir)
    # the run's columns are picked by name, whatever their order and whatever else is there
    frame = pd.DataFrame({"time": times, "temp": values[:, 1], "load": values[:, 0], "other": 1})
    assert forecaster.predict(frame).value == pytest.approx(forecaster.predict(data).value)
    with pytest.raises(convseq.errors.UserError, match="no column 'load'"):
        forecaster.predict(pd.DataFrame({"time": times, "temp": values[:, 1]}))
    # a bad value is named by its row in the frame (a frame has no lines)
    for bad, shown in (
        (np.nan, "a missing value (NaN) is not a number"),
        (np.inf, "inf is not a finite"),
    ):
        broken = frame.assign(load=values[:, 0])
        broken.loc[7, "load"] = bad
        with pytest.raises(convseq.errors.UserError) as caught:
            forecaster.predict(broken)
        assert f"the data frame row 7, column 'load': {shown}" in str(caught.value)


def test_pandas_data_frame(run):
    data, run_dir = run
    forecaster = convseq.load(run_dir)
    frame = pd.read_csv(data, parse_dates=["time"])
    assert forecaster.predict(frame).value == pytest.approx(forecaster.predict(data).value)
    # the times may be the frame's index: named as the time column, or any DatetimeIndex
    indexed = pd.read_csv(data, index_col="time", parse_dates=True)
    assert forecaster.predict(indexed).time == LAST + timedelta(hours=6)
    unnamed = indexed.rename_axis(None)
    assert forecaster.predict(unnamed).value == pytest.approx(forecaster.predict(data).value)
    # the caller's frame is left as it was
    assert indexed.index.name == "time" and list(indexed.columns) == ["load", "temp"]


# ---------------------------------------------------------------- presets
def test_preset_runs_predict_and_evaluate(tmp_path, capsys):
    ett = write_ett(tmp_path / "ett", rows=600)
    window = ["--lookback", "48", "--step", "1", "--delay", "23", "--splits", "0.6,0.2,0.2"]
    out = tmp_path / "baseline"
    assert main(["run", "etth1-baseline", "--data-dir", str(ett.parent), "--out", str(out),
                 *window]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["predict", str(out), str(ett)]) == 0
    row = read_csv(capsys.readouterr().out)[0]
    last_line = ett.read_text().splitlines()[-1].split(",")
    assert float(row["forecast"]) == pytest.approx(float(last_line[-1]), abs=1e-9)
    last = datetime.fromisoformat(last_line[0])
    assert row["window_end"] == str(last) and row["time"] == str(last + timedelta(hours=24))
    assert main(["evaluate", str(out), str(ett)]) == 0
    assert "model +0.0%" in capsys.readouterr().out  # the baseline run is the baseline

    data = write_series(tmp_path / "plant.csv", rows=ROWS)
    csv_run = tmp_path / "series-csv"
    assert main(["run", "series-csv", "--data", str(data), "--time-column", "time", "--target",
                 "temp", "--model", "series-gru", *QUICK, "--epochs", "1",
                 "--out", str(csv_run)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["predict", str(csv_run), str(data)]) == 0
    assert read_csv(capsys.readouterr().out)[0]["window_end"] == str(LAST)


# -------------------------------------------------------------- bad input
def bad_input(tmp_path, kind: str):
    path = tmp_path / "in.csv"
    lines = series_lines(ROWS)
    if kind == "missing":
        return tmp_path / "nowhere.csv"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header":
        path.write_text(lines[0] + "\n")
    elif kind == "latin-1":
        path.write_bytes("time,load,temp\n2020-01-01 00:00:00,1,caf\xe9\n".encode("latin-1"))
    elif kind == "misspelt":
        write_series(path, lines=[lines[0].replace("load", "lod"), *lines[1:]])
    elif kind in ("short-predict", "short-evaluate"):
        write_series(path, lines=lines[: 47 if kind == "short-predict" else 53])
    elif kind == "ok":
        write_series(path, lines=lines)
    else:
        row = lines[40].split(",")
        row[2] = {"text": "warm", "nan": "nan", "inf": "-inf"}[kind]
        lines[40] = ",".join(row)
        write_series(path, lines=lines)
    return path


@pytest.mark.parametrize(
    "command, kind, extra, message",
    [
        ("predict", "missing", [], "nowhere.csv does not exist"),
        ("evaluate", "missing", [], "nowhere.csv does not exist"),
        ("predict", "latin-1", [], "pass its encoding, e.g. --encoding latin-1"),
        ("evaluate", "empty", [], "in.csv is empty"),
        ("predict", "empty", [], "in.csv is empty"),
        ("predict", "header", [], "in.csv has no data rows"),
        ("predict", "misspelt", [], "no column 'load' (did you mean 'lod'?)"),
        ("evaluate", "ok", ["--time-column", "tme"], "no column 'tme' (did you mean 'time'?)"),
        ("predict", "text", [], "line 41, column 'temp': 'warm' is not a number"),
        ("evaluate", "nan", [], "line 41, column 'temp': nan is not a finite number"),
        ("predict", "inf", [], "line 41, column 'temp': -inf is not a finite number"),
        ("predict", "short-predict", [], "has 46 rows, fewer than the 47 that one window of lookback 48 needs"),
        ("evaluate", "short-evaluate", [], "has 52 rows, fewer than the 53 that one labelled window needs"),
        ("predict", "ok", ["--text-column", "x"], "--text-column is for text runs"),
        ("evaluate", "ok", ["--label-column", "x"], "--label-column is for text runs"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_overwrites_nothing(
    run, tmp_path, capsys, command, kind, extra, message
):
    _, run_dir = run
    target = tmp_path / "out.json"
    target.write_text("earlier results")
    data = bad_input(tmp_path, kind)
    refused([command, str(run_dir), str(data), "--output", str(target), *extra], capsys, message)
    assert target.read_text() == "earlier results"


@pytest.mark.parametrize(
    "damage, message",
    [
        ("flip_weights", "is corrupted (its checksum differs"),
        ("truncate_weights", "is corrupted"),
        ("normalization", "normalization.json is corrupted"),
        ("no_normalization", "has no normalization.json; the run folder is incomplete"),
    ],
)
def test_damaged_run_folders_are_refused(run, tmp_path, capsys, damage, message):
    data, run_dir = run
    copy = shutil.copytree(run_dir, tmp_path / "run")
    weights = copy / "model.safetensors"
    if damage == "flip_weights":
        raw = bytearray(weights.read_bytes())
        raw[-50] ^= 0xFF
        weights.write_bytes(bytes(raw))
    elif damage == "truncate_weights":
        weights.write_bytes(weights.read_bytes()[:300])
    elif damage == "normalization":
        stats = json.loads((copy / "normalization.json").read_text())
        stats["std"] = stats["std"][:1]
        (copy / "normalization.json").write_text(json.dumps(stats))
    else:
        (copy / "normalization.json").unlink()
    for command in ("predict", "evaluate", "export"):
        argv = [command, str(copy)] + ([] if command == "export" else [str(data)])
        refused(argv, capsys, message)
    assert not (copy / "export").exists()


def test_series_options_are_refused_for_text_runs(tmp_path, capsys):
    from tests.text_helpers import SENTIMENT, make_rows, train, write_csv

    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 40))
    assert train(data, tmp_path / "text", "--epochs", "1") == 0
    texts = tmp_path / "in.txt"
    texts.write_text("great fun\n")
    refused(
        ["predict", str(tmp_path / "text"), str(texts), "--all"],
        capsys,
        "--all is for forecasting runs",
    )
    refused(
        ["evaluate", str(tmp_path / "text"), str(data), "--time-column", "t"],
        capsys,
        "--time-column is for forecasting runs",
    )
