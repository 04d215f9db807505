"""A TCN forecaster with derived columns in use: ``train forecast --model series-tcn
--calendar``, then predict / evaluate / export from raw files, which have no calendar or
wind-vector columns: they are rebuilt from the timestamps and the wind readings."""

import json
from datetime import timedelta

import numpy as np
import pytest
import torch

import convseq
from convseq.cli import main
from convseq.data.derived import CALENDAR_COLUMNS, calendar_features, source_columns
from tests.forecast_helpers import START, hourly_values, train_forecast, write_series
from tests.series_files import JENA_COLUMNS, write_jena

ROWS = 500
SMALL_TCN = ["--model", "series-tcn", "--channels", "8", "--dilations", "1,2,4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tcn-forecast")
    data = write_series(folder / "plant.csv", rows=ROWS)
    assert train_forecast(data, folder / "run", *SMALL_TCN, "--calendar") == 0
    return data, folder / "run"


def test_the_run_reads_the_calendar_from_the_timestamps(run):
    _, run_dir = run
    stats = json.loads((run_dir / "normalization.json").read_text())
    assert stats["columns"] == ["load", "temp", *CALENDAR_COLUMNS]
    assert stats["derived"]["calendar"] == list(CALENDAR_COLUMNS)
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["model"]["name"] == "series-tcn" and config["shaping"]["calendar"] is True
    assert config["model"]["settings"]["dilations"] == [1, 2, 4]
    assert config["model"]["settings"]["channels"] == 8


def test_predict_rebuilds_the_calendar_columns(run, capsys):
    data, run_dir = run
    forecaster = convseq.load(run_dir)
    assert forecaster.raw_columns == ["load", "temp"]
    times = np.array([START + timedelta(hours=k) for k in range(ROWS)], dtype="datetime64[s]")
    values = np.concatenate([hourly_values(ROWS), calendar_features(times)], axis=1)
    stats = forecaster.stats
    window = ((values - stats["mean"]) / stats["std"]).astype(np.float32)[-47::2]
    with torch.no_grad():
        expected = float(forecaster.model(torch.from_numpy(window[None]))[0])
    expected = expected * stats["std"][0] + stats["mean"][0]
    assert forecaster.predict(data).value == pytest.approx(expected, abs=1e-4)
    assert main(["predict", str(run_dir), str(data)]) == 0
    assert "forecast" in capsys.readouterr().out


def test_evaluate_on_the_test_rows_gives_the_runs_test_scores(run, tmp_path):
    data, run_dir = run
    stats = json.loads((run_dir / "normalization.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    start = stats["splits"][2][0]
    lines = data.read_text().splitlines()
    test_rows = write_series(tmp_path / "test.csv", lines=[lines[0], *lines[1 + start :]])
    scores = convseq.load(run_dir).evaluate(test_rows)
    assert scores["mae"] == pytest.approx(metrics["test_mae"], rel=1e-5)


def test_onnx_export_names_the_derived_columns(run):
    pytest.importorskip("onnxruntime")
    _, run_dir = run
    assert main(["export", str(run_dir), "--format", "onnx"]) == 0
    signature = json.loads((run_dir / "export" / "signature.json").read_text())
    assert signature["inputs"][0]["columns"][-4:] == list(CALENDAR_COLUMNS)
    assert signature["window"]["read_columns"] == ["load", "temp"]
    assert signature["window"]["derived"]["calendar"] == list(CALENDAR_COLUMNS)
    assert signature["check"]["max_abs_diff_vs_pytorch"] < 1e-4


def test_a_jena_tcn_run_evaluates_a_raw_file_with_wind_readings(tmp_path):
    write_jena(tmp_path / "jena", rows=700, zipped=False)
    out = tmp_path / "runs" / "jena-tcn"
    tiny = ["--lookback", "130", "--step", "2", "--delay", "6", "--splits", "0:350,350:520,520:",
            "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16", "--dilations", "1,2"]  # fmt: skip
    assert (
        main(["run", "jena-tcn", "--data-dir", str(tmp_path / "jena"), "--out", str(out), *tiny])
        == 0
    )
    forecaster = convseq.load(out)
    assert forecaster.raw_columns == JENA_COLUMNS  # the wind readings, not their vectors
    metrics = json.loads((out / "metrics.json").read_text())
    lines = (tmp_path / "jena" / "jena_climate_2009_2016.csv").read_text().splitlines()
    test_rows = tmp_path / "test.csv"
    test_rows.write_text("\n".join([lines[0], *lines[1 + 520 :]]) + "\n")
    assert forecaster.evaluate(test_rows)["mae"] == pytest.approx(metrics["test_mae"], rel=1e-5)


def test_source_columns_without_a_record_are_the_columns():
    assert source_columns(["a", "b"], None) == ["a", "b"]
    record = {"calendar": [], "wind": {"speeds": ["s"], "direction": "d", "columns": ["x", "y"]}}
    assert source_columns(["a", "x", "y"], record) == ["a", "s", "d"]
