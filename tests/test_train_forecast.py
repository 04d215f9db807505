"""``convseq train forecast``: gaps reported and filled only on request, the presets' run folder,
the baseline printed, bad input refused, a killed run resumed, and the Python API."""

import csv
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import convseq
from convseq.cli import main
from convseq.data.series import Series
from convseq.data.time_index import extrapolate, fill_gaps, find_gaps
from convseq.errors import UserError
from tests.forecast_helpers import (
    QUICK,
    one_model,
    refused,
    series_lines,
    train_forecast,
    write_series,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")
DOC = Path(__file__).resolve().parents[1] / "docs" / "own-data.md"
GAPPY = (100, 101, 102, 300)  # rows left out: a 3-row gap and a 1-row gap


def as_series(times: list[str], values) -> Series:
    return Series(
        np.array(times, dtype="datetime64[s]"),
        np.asarray(values, dtype=np.float64).reshape(len(times), -1),
        ["x"],
        "t.csv",
    )


# ------------------------------------------------------------ time index
def test_gaps_are_found_and_filled_on_the_regular_grid():
    series = as_series(
        ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 04:00", "2020-01-01 05:00"],
        [1.0, 2.0, 8.0, 9.0],
    )
    report = find_gaps(series.times)
    assert (report.count, report.missing_rows) == (1, 2)
    assert report.spacing.describe() == "1 hour"
    assert "first gap: 2020-01-01 01:00:00 -> 2020-01-01 04:00:00, 2 rows missing" in (
        report.describe("t.csv")
    )
    assert fill_gaps(series, report, "none") is series
    filled = fill_gaps(series, report, "interpolate")
    hours = (filled.times - filled.times[0]).astype("timedelta64[h]").astype(int)
    assert hours.tolist() == [0, 1, 2, 3, 4, 5]
    assert filled.values[:, 0].tolist() == [1.0, 2.0, 4.0, 6.0, 8.0, 9.0]
    assert fill_gaps(series, report, "ffill").values[:, 0].tolist() == [1, 2, 2, 2, 8, 9]
    assert find_gaps(filled.times).count == 0


def test_calendar_months_are_a_spacing_and_times_ahead_follow_them():
    monthly = as_series(["2020-01-31", "2020-02-29", "2020-04-30", "2020-05-31"], [1, 2, 3, 4])
    # month ends are not one spacing apart in days, but are in the median; one month is missing
    assert find_gaps(monthly.times).missing_rows == 1
    firsts = as_series(["2020-01-01", "2020-02-01", "2020-03-01", "2020-05-01"], [1, 2, 3, 5])
    report = find_gaps(firsts.times)
    assert report.spacing.describe() == "1 month" and report.missing_rows == 1
    filled = fill_gaps(firsts, report, "interpolate")
    assert str(filled.times[3])[:10] == "2020-04-01" and filled.values[3, 0] == 4.0
    ahead = extrapolate(firsts.times, np.array([1, 12]))
    assert [str(t)[:10] for t in ahead] == ["2020-06-01", "2021-05-01"]
    irregular = np.array(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:30"], "M8[s]")
    assert extrapolate(irregular, np.array([1])) is None


# ------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def gappy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train-forecast")
    data = write_series(folder / "plant.csv", drop=GAPPY)
    out = folder / "run"
    code = train_forecast(data, out, "--fill", "interpolate", "--units", "kW")
    return data, out, code


def test_train_forecast_writes_the_presets_run_folder(gappy_run):
    _, out, code = gappy_run
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "history.csv",
        "curves.png",
        "forecast.png",
        "model.safetensors",
        "normalization.json",
        "metrics.json",
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["experiment"] == "train-forecast" and metrics["dataset"] == "plant"
    assert metrics["model"] == "series-cnn-gru" and metrics["units"] == "kW"
    assert metrics["epochs_run"] == 2 and metrics["params"] > 0
    # the rows as read: the gaps found in the file, before they were filled
    assert metrics["rows"]["rows"] == 496 and metrics["rows"]["time_order"] == "check"
    assert metrics["rows"]["gaps"] == {
        "spacing": "1 hour",
        "gaps": 2,
        "missing_rows": 4,
        "first_gap": ["2020-01-05 03:00:00", "2020-01-05 07:00:00", 3],
    }
    source = json.loads((out / "config.json").read_text())["config"]["source"]
    assert source["kind"] == "series-file" and source["fill"] == "interpolate"
    norm = json.loads((out / "normalization.json").read_text())
    assert norm["rows"] == 500  # the four missing hours were filled back in
    assert norm["columns"] == ["load", "temp"]
    assert "time_column" not in norm and "fill" not in norm  # settings live in config.json
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    scale = norm["std"][0]
    assert metrics["test_mae_units"] == pytest.approx(metrics["test_mae"] * scale)


def test_the_gap_report_and_baseline_are_printed(tmp_path, capsys):
    data = write_series(tmp_path / "plant.csv", drop=GAPPY)
    assert train_forecast(data, tmp_path / "run", "--features", "load") == 0
    out = capsys.readouterr().out
    assert (
        "plant.csv: 2 gaps in the time index, 4 rows missing (typical spacing 1 hour; first gap: "
        "2020-01-05 03:00:00 -> 2020-01-05 07:00:00, 3 rows missing); not filled" in out
    )
    assert "pass --fill ffill or --fill interpolate" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    test_line = next(line for line in out.splitlines() if line.startswith("test: MAE"))
    assert f"MAE {metrics['test_mae']:.4f}" in test_line
    assert f"common-sense baseline: MAE {metrics['baseline_test_mae']:.4f}" in test_line
    change = 100 * (metrics["test_mae"] / metrics["baseline_test_mae"] - 1)
    assert test_line.endswith(f"model {change:+.1f}%")
    ridge = metrics["ridge_baseline_test_mae"]  # the linear baseline, in every run
    assert "ridge (the target's window) baseline: validation MAE" in out
    assert f"test MAE {ridge:.4f}" in out and metrics["ridge_baseline_penalty"] > 0
    # not filled: the run trains on the 496 rows as given
    assert json.loads((tmp_path / "run" / "normalization.json").read_text())["rows"] == 496
    assert json.loads((tmp_path / "run" / "normalization.json").read_text())["columns"] == ["load"]


def test_baselines_and_other_models_train_too(tmp_path):
    data = write_series(tmp_path / "plant.csv")
    assert train_forecast(data, tmp_path / "base", "--model", "common-sense") == 0
    metrics = json.loads((tmp_path / "base" / "metrics.json").read_text())
    assert metrics["test_mae"] == metrics["baseline_test_mae"] and metrics["params"] == 0
    assert train_forecast(data, tmp_path / "gru", "--model", "series-gru", "--epochs", "1") == 0
    assert train_forecast(data, tmp_path / "small", "--hidden", "8") == 0
    small = json.loads((tmp_path / "small" / "metrics.json").read_text())
    assert small["params"] < 8000
    saved = json.loads((tmp_path / "small" / "config.json").read_text())["config"]["model"]
    assert saved["name"] == "series-cnn-gru" and saved["settings"]["hidden"] == 8


# ------------------------------------------------------------- bad input
def bad_file(tmp_path, kind: str) -> Path:
    path = tmp_path / "bad.csv"
    lines = series_lines(500)
    if kind == "missing":
        return tmp_path / "nowhere.csv"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header":
        path.write_text(lines[0] + "\n")
    elif kind == "latin-1":
        path.write_bytes("time,load,temp\n2020-01-01 00:00:00,1,caf\xe9\n".encode("latin-1"))
    else:
        row = lines[40].split(",")
        row[1] = {"text": "n/a", "nan": "NaN", "inf": "inf"}.get(kind, row[1])
        lines[40] = ",".join(row)
        write_series(path, lines=lines[:50] if kind == "short" else lines)
    return path


@pytest.mark.parametrize(
    "kind, extra, message",
    [
        ("missing", [], "nowhere.csv does not exist"),
        ("latin-1", [], "bad.csv is not valid utf-8: byte 0xe9 on line 2 cannot be decoded"),
        ("empty", [], "bad.csv is empty"),
        ("header", [], "bad.csv has no data rows"),
        ("ok", ["--time-column", "tme"], "no column 'tme' (did you mean 'time'?); its columns are: time, load, temp; pass the right one with --time-column"),
        ("ok", ["--target", "laod"], "no column 'laod' (did you mean 'load'?)"),
        ("ok", ["--features", "temp,lod"], "no column 'lod' (did you mean 'load'?)"),
        ("text", [], "line 41, column 'load': 'n/a' is not a number"),
        ("nan", [], "line 41, column 'load': nan is not a finite number"),
        ("inf", [], "line 41, column 'load': inf is not a finite number"),
        ("short", [], "has 49 rows, fewer than lookback + delay + 1 = 53"),
        ("ok", ["--fill", "interpolat"], "--fill must be one of none, ffill, interpolate"),
        ("ok", ["--model", "series-cn"], "unknown forecast model 'series-cn' (did you mean"),
        ("ok", ["--hidden", "0"], "--hidden must be at least 1, got 0"),
        ("ok", ["--time-order", "sorted"], "--time-order must be one of check, as-given, drop-repeats, sort"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys, kind, extra, message):
    data = bad_file(tmp_path, kind)
    out = tmp_path / "run"
    argv = one_model(data)
    refused([*argv, *QUICK, "--out", str(out), *extra], capsys, message)
    assert not out.exists()


def test_an_unknown_model_setting_is_one_line_exit_2(tmp_path, capsys):
    # every model setting is a flag of its own: a misspelt one is not a flag
    data = write_series(tmp_path / "plant.csv")
    argv = one_model(data)
    with pytest.raises(SystemExit) as exited:
        main([*argv, *QUICK, "--hiden", "8", "--out", str(tmp_path / "run")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: unrecognized arguments: --hiden 8" in err, err
    assert not (tmp_path / "run").exists()


def test_undecodable_file_can_be_read_with_its_encoding(tmp_path, capsys):
    data = tmp_path / "latin.csv"
    text = "\n".join(series_lines(500)).replace("time,load,temp", "time,load,temp\u00e9")
    data.write_bytes(text.encode("latin-1"))
    argv = one_model(data)
    refused(
        [*argv, *QUICK, "--out", str(tmp_path / "r")], capsys, "pass its encoding, e.g. --encoding"
    )
    assert main([*argv, *QUICK, "--encoding", "latin-1", "--out", str(tmp_path / "r")]) == 0


def test_missing_target_and_existing_run_are_refused(gappy_run, tmp_path, capsys):
    data, out, _ = gappy_run
    refused(
        ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time"],
        capsys,
        "pass --target",
    )
    refused(["train", "forecast"], capsys, "needs your data: pass DATA")
    refused(["train", "forcast", str(data)], capsys, "(did you mean 'forecast'?)")
    before = (out / "metrics.json").read_text()
    refused(
        ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time", "--target", "load",
         "--out", str(out)],
        capsys,
        "already holds a finished run",
    )  # fmt: skip
    assert (out / "metrics.json").read_text() == before


# ---------------------------------------------------------------- resume
KILLER = """
import os, signal, sys
import convseq.data.windows as windows
original = windows.Windows.epoch
def epoch(self, n):
    for i, batch in enumerate(original(self, n)):
        if self.shuffle and n == 2 and i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        yield batch
windows.Windows.epoch = epoch
from convseq.cli import main
sys.exit(main(sys.argv[1:]))
"""


def history_without_timings(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as f:
        return [
            {k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")}
            for row in csv.DictReader(f)
        ]


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    data = write_series(tmp_path / "plant.csv", drop=GAPPY)
    argv = ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time", "--target", "load",
            *QUICK, "--epochs", "3", "--fill", "ffill"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "full")]) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, *argv, "--out", str(killed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    assert len(history_without_timings(killed)) == 1 and not (killed / "metrics.json").exists()

    assert main(["train", "forecast", "--resume", str(killed)]) == 0
    assert history_without_timings(killed) == history_without_timings(tmp_path / "full")
    resumed, expected = (
        load_file(killed / "model.safetensors"),
        load_file(tmp_path / "full" / "model.safetensors"),
    )
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    assert not (killed / "checkpoint.pt").exists()


# ------------------------------------------------------------ Python API
def doc_example(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"{DOC} lost its {name} example"
    return match.group(1)


def test_readme_series_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = series_lines(700, drop=GAPPY)
    write_series(tmp_path / "load.csv", lines=[lines[0].replace("time", "date"), *lines[1:]])
    exec(compile(doc_example("api-series"), str(DOC), "exec"), {})
    printed = capsys.readouterr().out
    assert (tmp_path / "runs" / "load" / "model.safetensors").exists()
    forecaster = convseq.load(tmp_path / "runs" / "load")
    latest = forecaster.predict(tmp_path / "load.csv")
    assert f"{latest.value:.2f}" in printed
    assert latest.window_end == datetime(2020, 1, 30, 3) and latest.time == datetime(2020, 1, 30, 9)


def test_api_trains_and_refuses_bad_calls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a run without out= would make runs/train-forecast/...
    data = write_series(tmp_path / "plant.csv")
    forecaster = convseq.train_forecast(
        data, time_column="time", target="temp", features=["temp"], lookback=24, step=1,
        delay=2, epochs=1, model="series-cnn-gru", out=tmp_path / "run",
    )  # fmt: skip
    assert forecaster.columns == ["temp"] and forecaster.horizon == 3
    assert forecaster.predict(data).time == datetime(2020, 1, 21, 22)  # 3 h after the last row
    with pytest.raises(UserError, match="pass the data"):
        convseq.train_forecast()
    message = "train-forecast has no setting 'lookbak' \\(did you mean 'lookback'\\?\\)"
    with pytest.raises(UserError, match=message):
        convseq.train_forecast(data, target="temp", lookbak=3)
    with pytest.raises(UserError, match="--features must be a list, got 3"):
        convseq.train_forecast(data, target="temp", features=3)
    with pytest.raises(UserError, match="has no setting 'hiden' \\(did you mean 'hidden'\\?\\)"):
        convseq.train_forecast(data, target="temp", model_settings={"hiden": 8})
    assert not (tmp_path / "runs").exists()  # the refused calls made no run folder
