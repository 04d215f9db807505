"""Multi-output forecasters (``--horizon H --targets ... [--quantiles ...]``) in use: predict gives
every step of every target in its units, evaluate scores as training scored, the ONNX export
matches PyTorch, and the Python API takes lists; bad input is one line, exit 2."""

import csv
import io
import json
import shutil
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import torch

import convseq
from convseq.cli import main
from convseq.errors import UserError
from convseq.inference.series import PathForecast
from tests.forecast_helpers import (
    START,
    hourly_values,
    refused,
    series_lines,
    write_series,
)

ROWS = 400
SPLITS = ["--splits", "0.6,0.2,0.2"]
SMALL_TCN = ["--model", "series-tcn", "--channels", "8", "--dilations", "1,2,4"]
# Each kind of run, trained once: name -> (lookback, step, horizon, targets, quantiles).
KINDS = {
    "multi": (48, 2, 6, ["load", "temp"], []),  # series-tcn, --target load --targets load,temp
    "quantile": (48, 2, 6, ["load", "temp"], [0.1, 0.5, 0.9]),  # series-patch-conv, the API
    "all": (24, 1, 4, ["load", "temp"], []),  # series-patch-conv, --targets all, no --target
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paths-use")
    data = write_series(folder / "plant.csv", rows=ROWS)
    horizon = ["--horizon", "6"]
    assert main(
        ["train", "forecast", str(data), "--time-column", "time", "--target", "load",
         "--lookback", "48", "--step", "2", "--epochs", "2", "--batch-size", "32", *horizon,
         "--targets", "load,temp", *SPLITS, *SMALL_TCN, "--out", str(folder / "multi")]
    ) == 0  # fmt: skip
    convseq.train_forecast(
        data, model="series-patch-conv", out=folder / "quantile", time_column="time",
        horizon=6, targets=["load", "temp"], quantiles=[0.1, 0.5, 0.9], lookback=48, step=2,
        splits=["0.6", "0.2", "0.2"], epochs=2, batch_size=32,
    )  # fmt: skip
    assert main(
        ["train", "forecast", str(data), "--time-column", "time", "--horizon", "4",
         "--targets", "all", "--lookback", "24", "--model", "series-patch-conv", "--epochs",
         "1", "--batch-size", "32", *SPLITS, "--units", "kW", "--out", str(folder / "all")]
    ) == 0  # fmt: skip
    return data, {name: folder / name for name in KINDS}


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def by_hand(run_dir, values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model's output on the windows starting at ``starts``, cut and normalized by hand
    from normalization.json: normalized ``(n, H, T[, Q])``, and in each target's units."""
    lookback, step, _, _, quantiles = KINDS[run_dir.name]
    stats = json.loads((run_dir / "normalization.json").read_text())
    mean, std = np.array(stats["mean"]), np.array(stats["std"])
    normalized = ((values - mean) / std).astype(np.float32)
    span = len(range(0, lookback, step)) * step - step + 1
    windows = np.stack([normalized[s : s + span : step] for s in starts])
    with torch.no_grad():
        output = convseq.load(run_dir).model(torch.from_numpy(windows)).numpy()
    columns = [stats["columns"].index(c) for c in stats["targets"]]
    shape = (len(columns), 1) if quantiles else (len(columns),)
    units = output * std[columns].reshape(shape) + mean[columns].reshape(shape)
    return output, units


def target_scale(run_dir) -> np.ndarray:
    """Each target's scale, the tolerance unit for values in its units."""
    stats = json.loads((run_dir / "normalization.json").read_text())
    columns = [stats["columns"].index(c) for c in stats["targets"]]
    mean, std = np.abs(np.array(stats["mean"])[columns]), np.array(stats["std"])[columns]
    return np.maximum(1.0, np.maximum(mean, std))


# ------------------------------------------------------------------ predict
@pytest.mark.parametrize("kind", list(KINDS))
def test_predict_writes_every_step_of_every_target(runs, kind, capsys):
    data, folders = runs
    lookback, step, horizon, targets, quantiles = KINDS[kind]
    span = len(range(0, lookback, step)) * step - step + 1
    ahead = lookback - span + 1  # rows from a window's last row to step 1
    assert main(["predict", str(folders[kind]), str(data), "--all"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    header = captured.out.splitlines()[0].split(",")
    assert header == ["window_end", "step", "time", "target", "forecast"] + [
        f"q{q:g}" for q in quantiles
    ]
    rows = read_csv(captured.out)
    windows = ROWS - span + 1
    assert len(rows) == windows * horizon * len(targets)
    for k in (0, 17, windows - 1):  # the last window's steps lie past the data's end
        end = START + timedelta(hours=k + span - 1)
        block = rows[k * horizon * len(targets) : (k + 1) * horizon * len(targets)]
        expected = [(s, t) for s in range(1, horizon + 1) for t in targets]
        assert [(int(r["step"]), r["target"]) for r in block] == expected
        for row in block:
            assert row["window_end"] == str(end)
            assert row["time"] == str(end + timedelta(hours=ahead + int(row["step"]) - 1))
            if quantiles:
                assert row["forecast"] == row["q0.5"]
    # without --all: the latest window's rows, the same as predict_all's last
    assert main(["predict", str(folders[kind]), str(data), "--format", "json"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert len(latest) == horizon * len(targets)
    for got, row in zip(latest, rows[-len(latest) :], strict=True):  # a batch of one differs
        assert [str(got[k]) for k in header[:4]] == [row[k] for k in header[:4]]
        assert [got[k] for k in header[4:]] == pytest.approx(
            [float(row[k]) for k in header[4:]], abs=1e-4
        )


@pytest.mark.parametrize("kind", list(KINDS))
def test_predict_is_the_models_forward_in_each_targets_units(runs, kind):
    data, folders = runs
    lookback, step, horizon, targets, quantiles = KINDS[kind]
    forecaster = convseq.load(folders[kind])
    assert forecaster.steps == horizon and forecaster.targets == targets
    assert forecaster.quantiles == quantiles
    paths = forecaster.predict_all(data)
    starts = np.arange(0, len(paths), 5)
    _, units = by_hand(folders[kind], hourly_values(ROWS), starts)
    tolerance = 1e-4 * target_scale(folders[kind])
    for k, start in enumerate(starts):
        path = paths[start]
        assert isinstance(path, PathForecast) and path.values.shape == (horizon, len(targets))
        if quantiles:
            for j, q in enumerate(quantiles):
                assert (np.abs(path.quantiles[q] - units[k, :, :, j]) <= tolerance).all()
            assert np.array_equal(path.values, path.quantiles[0.5])
        else:
            assert (np.abs(path.values - units[k]) <= tolerance).all() and path.quantiles == {}
    latest = forecaster.predict(data)
    assert np.allclose(latest.values, paths[-1].values) and latest.times == paths[-1].times


# ----------------------------------------------------------------- evaluate
@pytest.mark.parametrize("kind", list(KINDS))
def test_evaluate_on_the_test_rows_gives_the_runs_test_scores(runs, kind, tmp_path, capsys):
    data, folders = runs
    lookback, _, horizon, targets, quantiles = KINDS[kind]
    run_dir = folders[kind]
    stats = json.loads((run_dir / "normalization.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    start, end = stats["splits"][2]
    lines = data.read_text().splitlines()  # the test rows and the lookback before them
    test_rows = write_series(
        tmp_path / "test.csv", lines=[lines[0], *lines[1 + start - lookback :]]
    )
    scores_file = tmp_path / "scores.json"
    assert main(["evaluate", str(run_dir), str(test_rows), "--output", str(scores_file)]) == 0
    printed = capsys.readouterr().out
    scores = json.loads(scores_file.read_text())
    assert scores["windows"] == end - start - (horizon - 1)
    for name in ("mse", "mae", *(("coverage", "width") if quantiles else ())):
        assert scores[name] == pytest.approx(metrics[f"test_{name}"], abs=1e-5), name
    for name in ("mse", "mae"):
        assert scores[f"baseline_{name}"] == pytest.approx(
            metrics[f"baseline_test_{name}"], abs=1e-5
        )
    assert scores["mae_by_target"] == pytest.approx(metrics["test_mae_by_target"], rel=1e-4)
    assert list(scores["mae_by_target"]) == targets
    assert scores["targets"] == targets and scores["horizon"] == horizon
    assert printed.startswith(
        f"test.csv: {scores['windows']} windows x {horizon} steps x {len(targets)} targets: "
        f"MSE {scores['mse']:.4f}, MAE {scores['mae']:.4f} | common-sense baseline: "
    )
    assert ("80% interval (0.1..0.9) coverage" in printed) == bool(quantiles)
    assert "  load: " in printed and "  temp: " in printed


# -------------------------------------------------------------------- ONNX
@pytest.mark.parametrize("kind", ["multi", "quantile", "all"])
def test_onnx_export_matches_pytorch_and_describes_its_outputs(runs, kind):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    pytest.importorskip("onnxscript", reason="onnxscript not installed")
    data, folders = runs
    _, _, horizon, targets, quantiles = KINDS[kind]
    run_dir = folders[kind]
    assert main(["export", str(run_dir), "--format", "onnx"]) == 0
    export = run_dir / "export"
    signature = json.loads((export / "signature.json").read_text())
    shape = ["batch", horizon, len(targets), *([len(quantiles)] if quantiles else [])]
    for output in signature["outputs"]:
        assert output["shape"] == shape and output["targets"] == targets
        assert output["steps"] == list(range(1, horizon + 1))
        assert output.get("quantiles", []) == quantiles
    assert signature["window"]["targets"] == targets and signature["window"]["steps"] == horizon
    assert signature["check"]["max_abs_diff_vs_pytorch"] <= 1e-4

    forecaster = convseq.load(run_dir)
    values = hourly_values(ROWS).astype(np.float32)
    starts = np.arange(0, ROWS - forecaster.span + 1, 7)
    raw = forecaster.window_inputs(values, starts)  # windows in units, as the graph takes them
    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    forecast, forecast_normalized = session.run(None, {"window": raw})
    normalized, units = by_hand(run_dir, hourly_values(ROWS), starts)
    assert forecast_normalized.shape == normalized.shape == (len(starts), *shape[1:])
    assert np.abs(forecast_normalized - normalized).max() <= 1e-4
    scale = target_scale(run_dir).reshape((len(targets), 1) if quantiles else (len(targets),))
    assert (np.abs(forecast - units) / scale).max() <= 1e-4
    for batch in (1, 3):  # any batch size
        assert session.run(["forecast"], {"window": raw[:batch]})[0].shape == (batch, *shape[1:])
    # the latest window, cut as the signature says, is predict's forecast
    window = signature["window"]
    latest = values[-window["span"] :: window["step"]][None]
    (last,) = session.run(["forecast"], {"window": latest})
    point = last[0][..., quantiles.index(0.5)] if quantiles else last[0]
    assert (np.abs(point - forecaster.predict(data).values) <= 1e-4 * target_scale(run_dir)).all()


# ---------------------------------------------------------------- the API
def test_the_python_api_gives_paths(runs):
    data, folders = runs
    forecaster = convseq.load(folders["quantile"])
    frame = pd.read_csv(data, parse_dates=["time"])
    path = forecaster.predict(frame)
    assert np.array_equal(path.values, forecaster.predict(data).values)
    steps = path.steps
    assert len(steps) == 6 * 2 and [(s.step, s.target) for s in steps[:3]] == [
        (1, "load"), (1, "temp"), (2, "load"),
    ]  # fmt: skip
    last = START + timedelta(hours=ROWS - 1)
    assert steps[-1].window_end == last and steps[-1].time == last + timedelta(hours=7)
    assert steps[-1].rows_ahead == 7 and set(steps[-1].quantiles) == {0.1, 0.5, 0.9}
    assert steps[-1].value == steps[-1].quantiles[0.5] == path.value("temp", 6)
    with pytest.raises(UserError, match="no forecast of 'wind' at step 1"):
        path.value("wind", 1)
    assert forecaster.window["rows_ahead"] == [2, 3, 4, 5, 6, 7]
    assert "quantiles=[0.1, 0.5, 0.9]" in repr(forecaster)
    config = json.loads((folders["quantile"] / "config.json").read_text())["config"]
    assert config["shaping"]["targets"] == ["load", "temp"]
    assert config["train"]["quantiles"] == [0.1, 0.5, 0.9]


def test_irregular_times_have_no_time_past_the_end(runs, tmp_path, capsys):
    _, folders = runs
    lines = series_lines(ROWS)
    lines[-1] = lines[-1].replace(":00:00,", ":20:00,", 1)  # the last row 20 minutes late
    data = write_series(tmp_path / "irregular.csv", lines=lines)
    assert main(["predict", str(folders["multi"]), str(data)]) == 0
    captured = capsys.readouterr()
    assert {row["time"] for row in read_csv(captured.out)} == {""}
    assert "steps 1..6 are 2..7 rows after their window's last row" in captured.err


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "command, kind, message",
    [
        ("predict", "no-temp", "no column 'temp'"),
        ("evaluate", "no-temp", "no column 'temp'"),
        ("predict", "short", "has 46 rows, fewer than the 47 that one window of lookback 48 needs"),
        ("evaluate", "short-evaluate",
         "has 53 rows, fewer than the 54 that one labelled window needs (lookback 48 + horizon 6)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_overwrites_nothing(
    runs, tmp_path, capsys, command, kind, message
):
    _, folders = runs
    lines = series_lines(ROWS)
    if kind == "no-temp":
        lines = [line.rsplit(",", 1)[0] for line in lines]
    else:
        lines = lines[: 47 if kind == "short" else 54]
    data = write_series(tmp_path / "in.csv", lines=lines)
    target = tmp_path / "out.json"
    target.write_text("earlier results")
    argv = [command, str(folders["multi"]), str(data), "--output", str(target)]
    refused(argv, capsys, message)
    assert target.read_text() == "earlier results"


def test_a_path_run_without_its_targets_is_refused(runs, tmp_path, capsys):
    data, folders = runs
    copy = shutil.copytree(folders["multi"], tmp_path / "run")
    stats = json.loads((copy / "normalization.json").read_text())
    stats["targets"] = ["load", "wind"]
    (copy / "normalization.json").write_text(json.dumps(stats))
    for command in ("predict", "evaluate", "export"):
        argv = [command, str(copy)] + ([] if command == "export" else [str(data)])
        refused(argv, capsys, "normalization.json is corrupted")
