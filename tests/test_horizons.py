"""Training on the whole target path (``--horizons all``) and the Huber loss (``--loss huber``):
paths come from the same windows and stop at the target row, the residual reading applies to
every horizon, scores and forecasts stay the final horizon's, and resume stays exact."""

import csv
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import convseq
from convseq.cli import main
from convseq.data.windows import Windows
from convseq.errors import UserError
from convseq.models import SeriesShape, build_model
from convseq.training.tasks import make_task
from tests.forecast_helpers import one_model, refused, train_forecast, write_series
from tests.series_files import write_ett
from tests.test_tcn_presets import TINY

ROWS = 400
SMALL_TCN = ["--model", "series-tcn", "--channels", "8", "--dilations", "1,2,4"]


# ------------------------------------------------------------------ windows
@pytest.mark.parametrize("horizons", [2, 5, 7])
def test_a_path_is_the_rows_up_to_each_windows_target(horizons):
    rows, lookback, step, delay, lo, hi = 60, 9, 3, 6, 4, 40
    data = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    target = 1000 + np.arange(rows, dtype=np.float32)  # the value tells the row
    final = Windows(data, target, lookback, step, delay, lo, hi)
    paths = Windows(data, target, lookback, step, delay, lo, hi, horizons=horizons)
    positions = np.arange(paths.num_windows)
    x_path, y_path = paths.gather(positions)
    x_final, y_final = final.gather(positions)
    assert torch.equal(x_path, x_final) and paths.num_windows == final.num_windows
    assert y_path.shape == (len(positions), horizons)
    assert torch.equal(y_path[:, -1], y_final)
    for k, row in enumerate(paths.rows()):
        expected = 1000 + np.arange(row + delay - horizons + 1, row + delay + 1)
        assert y_path[k].tolist() == expected.tolist()
    # the whole path (delay + 1 rows) starts at the row just after the window
    whole = Windows(data, target, lookback, step, delay, lo, hi, horizons=delay + 1)
    assert whole.gather([0])[1][0, 0].item() == 1000 + whole.rows()[0]


@pytest.mark.parametrize("horizons", [0, 8])
def test_a_path_longer_than_delay_plus_one_is_refused(horizons):
    data = np.zeros((60, 1), dtype=np.float32)
    with pytest.raises(UserError, match="does not fit --delay 6"):
        Windows(data, data[:, 0], 9, 3, 6, horizons=horizons)


# ------------------------------------------------------------------- models
@pytest.mark.parametrize(
    "name, settings",
    [
        ("series-tcn", {"channels": 4, "dilations": [1, 2]}),
        ("series-cnn", {}),
        ("series-cnn-gru", {}),
        ("series-gru", {}),
    ],
)
def test_every_horizon_is_read_relative_to_the_last_value(name, settings):
    torch.manual_seed(0)
    shape = SeriesShape(num_features=3, window=90, target_index=1, horizons=6)
    model = build_model(name, shape, {"residual": True, **settings}).eval()
    x = torch.randn(4, 90, 3)  # series-cnn needs 87 steps
    shifted = x.clone()
    shifted[:, :, 1] += 2.5  # the same window at another level of the target
    with torch.no_grad():
        path, moved = model(x), model(shifted)
    assert path.shape == (4, 6)
    assert torch.allclose(moved - path, torch.full_like(path, 2.5), atol=1e-5)


# --------------------------------------------------------------------- loss
def test_a_path_is_trained_on_its_mean_loss_and_scored_on_its_final_horizon():
    torch.manual_seed(0)
    output, target = torch.randn(8, 5), torch.randn(8, 5)
    task = make_task("regression")
    assert task.loss(output, target).item() == pytest.approx(
        (output - target).abs().mean().item(), rel=1e-6
    )
    final_error = (output[:, -1] - target[:, -1]).abs()
    assert task.batch_metrics(output, target)["mae"] == pytest.approx(final_error.sum().item())
    # a path output against single targets: its last column is the forecast
    assert task.loss(output, target[:, -1]).item() == pytest.approx(final_error.mean().item())
    weighted = make_task("regression", final_weight=0.75)
    expected = 0.75 * final_error.mean() + 0.25 * (output - target).abs().mean()
    assert weighted.loss(output, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_huber_is_squared_below_delta_and_absolute_above():
    task = make_task("regression", loss="huber", huber_delta=0.5)
    target = torch.zeros(2)
    small, large = torch.tensor([0.2, -0.2]), torch.tensor([2.0, -2.0])
    assert task.loss(small, target).item() == pytest.approx(0.5 * 0.2**2 / 0.5)
    assert task.loss(large, target).item() == pytest.approx(2.0 - 0.25)
    assert task.batch_metrics(large, target)["mae"] == pytest.approx(4.0)  # still MAE
    assert task.monitor == "val_mae"


# -------------------------------------------------------- a run, then use it
@pytest.fixture(scope="module")
def path_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("horizons")
    data = write_series(folder / "plant.csv", rows=ROWS)
    out = folder / "run"
    assert train_forecast(data, out, *SMALL_TCN, "--horizons", "all", "--loss", "huber") == 0
    return data, out


def test_the_run_records_and_builds_a_path_model(path_run):
    _, out = path_run
    train = json.loads((out / "config.json").read_text())["config"]["train"]
    assert train["horizons"] == "all" and train["loss"] == "huber"
    assert train["huber_delta"] == 0.1 and train["final_weight"] == 0.0
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        shape = json.loads(weights.metadata()["shape"])
    assert shape["horizons"] == 5  # --delay 4: rows i .. i + 4
    assert convseq.load(out).model(torch.zeros(3, 24, 2)).shape == (3, 5)


def test_predict_and_evaluate_give_the_final_horizon(path_run, tmp_path):
    data, out = path_run
    forecaster = convseq.load(out)
    given = forecaster.read(data)
    starts = np.arange(0, ROWS - forecaster.span + 1, 11)
    windows = forecaster.window_inputs(given.normalized, starts)
    with torch.no_grad():
        final = forecaster.model(torch.from_numpy(windows))[:, -1].numpy()
    std, mean = forecaster.target_scale
    values = [f.value for f in forecaster.predict_all(data)]
    assert np.allclose(np.asarray(values)[starts], final * std + mean, atol=1e-4)
    stats = json.loads((out / "normalization.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    lines = data.read_text().splitlines()
    start = stats["splits"][2][0]
    test_rows = write_series(tmp_path / "test.csv", lines=[lines[0], *lines[1 + start :]])
    assert forecaster.evaluate(test_rows)["mae"] == pytest.approx(metrics["test_mae"], rel=1e-5)


def test_the_onnx_export_gives_the_final_horizon(path_run):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    data, out = path_run
    assert main(["export", str(out), "--format", "onnx"]) == 0
    forecaster = convseq.load(out)
    signature = json.loads((out / "export" / "signature.json").read_text())
    assert signature["check"]["max_abs_diff_vs_pytorch"] <= 1e-4
    session = ort.InferenceSession(
        str(out / "export" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    table = np.genfromtxt(data, delimiter=",", names=True, dtype=None, encoding="utf-8")
    rows = np.stack([table[c] for c in forecaster.columns], axis=1).astype(np.float32)
    latest = rows[-forecaster.span :: forecaster.step][None]
    forecast, normalized = session.run(None, {"window": latest})
    assert forecast.shape == normalized.shape == (1,)
    assert forecast[0] == pytest.approx(forecaster.predict(data).value, abs=1e-4)


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--horizons", "some"], "--horizons must be one of last, all, got 'some'"),
        (["--horizons", "all", "--model", "common-sense"], "needs --horizons last"),
        (
            ["--loss", "hubber"],
            "--loss must be one of mae, huber, mse, got 'hubber' (did you mean 'huber'?)",
        ),
        (["--huber-delta", "0"], "--huber-delta must be above 0, got 0.0"),
        (["--final-weight", "1.5"], "--final-weight must be between 0 and 1, got 1.5"),
    ],
)
def test_bad_settings_are_one_line_exit_2_and_leave_nothing(tmp_path, capsys, extra, message):
    data = write_series(tmp_path / "plant.csv", rows=ROWS)
    argv = one_model(data)
    refused([*argv, "--out", str(tmp_path / "run"), *extra], capsys, message)
    assert not (tmp_path / "run").exists()


# -------------------------------------------------------------------- resume
def test_a_path_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    write_ett(tmp_path / "data", rows=700)
    argv = ["run", "etth1-tcn", "--data-dir", str(tmp_path / "data"), *TINY]
    argv += ["--epochs", "3", "--horizons", "all", "--final-weight", "0.5"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0

    original = Windows.epoch

    def stop_in_epoch_3(self, n):
        for i, batch in enumerate(original(self, n)):
            if self.shuffle and n == 3 and i == 1:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(Windows, "epoch", stop_in_epoch_3)
    assert main([*argv, "--out", str(tmp_path / "cut")]) != 0  # interrupted in epoch 3
    assert not (tmp_path / "cut" / "metrics.json").exists()
    monkeypatch.setattr(Windows, "epoch", original)
    assert main(["run", "etth1-tcn", "--resume", str(tmp_path / "cut")]) == 0

    def history(folder):
        with open(folder / "history.csv") as f:
            return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")}
                    for r in csv.DictReader(f)]  # fmt: skip

    assert history(tmp_path / "cut") == history(tmp_path / "whole")
    resumed, whole = (load_file(tmp_path / n / "model.safetensors") for n in ("cut", "whole"))
    assert resumed.keys() == whole.keys()
    # the preset's TCN and its linear member each forecast the 7-step path
    assert resumed["members.0.head.weight"].shape[0] == 7
    assert resumed["members.1.linear.weight"].shape[0] == 7
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
