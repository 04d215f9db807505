"""--horizon: every step of every target, in the forecast pipeline (windows, models, task,
baselines, --model auto, refusals). Prediction, evaluation and export: test_paths_use.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from convseq.cli import main
from convseq.config import RunConfig
from convseq.data.series import read_series
from convseq.evaluation.ridge_nlinear import fit_ridge, score_ridge
from convseq.inference.load import open_run, read_weights
from convseq.models.registry import SeriesShape, get_model, list_models, rebuild
from convseq.pipelines.forecast import PerTarget, prepare
from convseq.training.tasks import make_task
from convseq.training.trainer import evaluate
from tests.forecast_helpers import refused, write_series

SPLITS = ["--splits", "0:300,300:400,400:500"]
PATHS = ["--lookback", "24", "--horizon", "6", "--targets", "all", *SPLITS]
QUICK = ["--epochs", "2", "--batch-size", "32", "--eval-batch-size", "64"]


def train_paths(data, out, *extra: str) -> int:
    model = [] if "--model" in extra else ["--model", "series-nlinear"]
    return main(["train", "forecast", str(data), "--time-column", "time", *PATHS, *QUICK,
                 *model, "--out", str(out), *extra])  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_series(tmp_path_factory.mktemp("paths") / "load.csv", rows=500)


# ------------------------------------------------------------------ windows
@pytest.mark.parametrize("step", [1, 3])
def test_the_windows_of_every_split_against_a_slow_reference(data, tmp_path, step):
    """Every target row of a split is forecast at every step; the history comes from before
    the split; no path leaves its split; inputs and targets are the normalized rows."""
    argv = ["train", "forecast", str(data), "--time-column", "time", *PATHS, "--step", str(step),
            "--model", "common-sense", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    config = RunConfig.from_dict(
        json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    )
    series = read_series(str(data), "time")
    prepared = prepare(series, config, ["load", "temp"])
    values = (series.values - prepared.mean) / prepared.std
    lookback, horizon = 24, 6
    for windows, (start, end) in zip(
        (prepared.train, prepared.val, prepared.test),
        [(0, 300), (300, 400), (400, 500)],
        strict=True,
    ):
        first = max(start, lookback)  # the training split has no rows before it
        rows = list(range(first, end - horizon + 1))
        assert windows.num_windows == len(rows)
        x, y = windows.gather(np.arange(len(rows)))
        for k, i in enumerate(rows):
            expected_x = values[i - lookback : i][::step]
            np.testing.assert_allclose(x[k].numpy(), expected_x, atol=1e-5)
            np.testing.assert_allclose(y[k].numpy(), values[i : i + horizon], atol=1e-5)


# ------------------------------------------------------------------ models
FORECASTERS = list_models("forecast")


@pytest.mark.parametrize("name", FORECASTERS)
def test_every_forecaster_gives_every_step_of_every_target(name):
    shape = SeriesShape(num_features=4, window=64, horizons=5, targets=(3, 1))
    entry = get_model(name, "forecast")
    torch.manual_seed(0)
    model = entry.make(shape, entry.example_settings).eval()
    x = torch.randn(3, 64, 4)
    out = model(x)
    assert out.shape == (3, 5, 2)
    assert torch.isfinite(out).all()
    if name == "common-sense":  # the last value of each target, at every step
        assert torch.equal(out, x[:, -1, [3, 1]].unsqueeze(1).expand(-1, 5, -1))


QUANTILE_MODELS = ["series-patch-conv", "series-patch-tcn", "series-tcn", "series-cnn",
                   "series-cnn-gru", "series-gru", "series-linear"]  # fmt: skip


@pytest.mark.parametrize("name", QUANTILE_MODELS)
def test_quantile_heads_add_a_last_axis_of_levels(name):
    shape = SeriesShape(4, 64, horizons=5, targets=(0, 2, 3), quantiles=(0.1, 0.5, 0.9))
    entry = get_model(name)
    out = entry.make(shape, entry.example_settings).eval()(torch.randn(2, 64, 4))
    assert out.shape == (2, 5, 3, 3)


def test_a_residual_forecaster_adds_each_targets_last_value():
    """With the head's weights at zero the forecast is the last value of each target."""
    shape = SeriesShape(3, 16, horizons=4, targets=(2, 0))
    model = get_model("series-linear").make(shape, {"residual": True}).eval()
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.bias.zero_()
    x = torch.randn(2, 16, 3)
    assert torch.equal(model(x), x[:, -1, [2, 0]].unsqueeze(1).expand(-1, 4, -1))


# ------------------------------------------------------------------ task
def test_the_paths_task_by_hand():
    output = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, H=2, T=2)
    target = torch.tensor([[[0.0, 2.0], [5.0, 4.0]]])
    task = make_task("paths", loss="mse")
    assert task.monitor == "val_mse"
    assert task.loss(output, target).item() == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert task.batch_metrics(output, target) == pytest.approx({"mae": 3 / 4, "mse": 5 / 4})


def test_quantile_metrics_are_those_of_the_median_and_the_interval():
    levels = (0.1, 0.5, 0.9)
    target = torch.tensor([[[0.0], [1.0]]])  # (1, H=2, T=1)
    output = torch.tensor([[[[-1.0, 0.5, 1.0]], [[1.5, 2.0, 3.0]]]])  # (1, 2, 1, Q=3)
    task = make_task("paths", quantiles=levels)
    assert task.monitor == "val_loss"
    found = task.batch_metrics(output, target)
    assert found["mae"] == pytest.approx((0.5 + 1.0) / 2)
    assert found["coverage"] == pytest.approx(0.5)  # 0 in [-1, 1]; 1 not in [1.5, 3]
    assert found["width"] == pytest.approx((2.0 + 1.5) / 2)


# ------------------------------------------------------------------ runs
def test_targets_all_reads_only_the_features(data, tmp_path):
    out = tmp_path / "run"
    assert train_paths(data, out, "--features", "temp", "--model", "series-linear") == 0
    assert json.loads((out / "metrics.json").read_text())["targets"] == ["temp"]


def test_a_run_reports_mse_and_mae_beside_the_baselines_and_draws_forecasts(data, tmp_path):
    out = tmp_path / "run"
    assert train_paths(data, out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_mse", "test_mae", "best_val_mse", "baseline_test_mse",
                "ridge_baseline_test_mse", "ridge_baseline_val_mse"):  # fmt: skip
        assert np.isfinite(metrics[key]), key
    assert metrics["targets"] == ["load", "temp"] and metrics["horizon"] == 6
    assert set(metrics["test_mae_by_target"]) == {"load", "temp"}
    assert (out / "forecast.png").stat().st_size > 10_000
    assert json.loads((out / "normalization.json").read_text())["targets"] == ["load", "temp"]


def test_compare_shows_path_runs_with_their_mse_beside_the_ridge(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_paths(data, out) == 0
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    table = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert "| test MSE |" in table and "| ridge test MSE |" in table
    assert f"| 6 | 2 | {metrics['best_val_mse']:.4f} | {metrics['test_mse']:.4f} |" in table


def test_common_sense_scores_exactly_the_repeat_baseline(data, tmp_path):
    out = tmp_path / "run"
    assert train_paths(data, out, "--model", "common-sense") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_mse"] == pytest.approx(metrics["baseline_test_mse"], rel=1e-6)
    assert metrics["best_val_mae"] == pytest.approx(metrics["baseline_val_mae"], rel=1e-6)


def test_the_ridge_baseline_is_the_validation_best_of_a_direct_solve(data, tmp_path):
    """The pipeline's ridge NLinear against numpy's least squares on the same windows."""
    assert train_paths(data, tmp_path / "run", "--model", "common-sense") == 0
    folder = tmp_path / "run"
    config = RunConfig.from_dict(json.loads((folder / "config.json").read_text())["config"])
    prepared = prepare(read_series(str(data), "time"), config, ["load", "temp"])
    views = [PerTarget(w, prepared.targets) for w in (prepared.train, prepared.val)]
    x, y = views[0].arrays(0, views[0].n_windows)
    last = x[..., -1:]
    design, goal = (x - last).reshape(-1, 24), (y - last).reshape(-1, 6)
    least = np.linalg.lstsq(design, goal, rcond=None)[0]
    fit = fit_ridge(views[0], views[1], alphas=[0.0])
    np.testing.assert_allclose(fit.weights, least, atol=1e-6)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["ridge_baseline_val_mse"] <= score_ridge(fit, views[1])[0] + 1e-12


def test_quantile_run_reports_its_interval(data, tmp_path):
    out = tmp_path / "run"
    assert train_paths(data, out, "--model", "series-patch-conv", "--patch", "8", "--stride",
                       "4", "--quantiles", "0.1,0.5,0.9") == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test_coverage"] <= 1 and metrics["test_width"] > 0
    assert metrics["quantiles"] == [0.1, 0.5, 0.9]


@pytest.mark.parametrize("levels", [[], ["--quantiles", "0.1,0.5,0.9"]])
def test_auto_chooses_among_the_patch_nets_and_the_ridge_and_saves_what_it_scored(
    data, tmp_path, levels
):
    out = tmp_path / "run"
    argv = ["train", "forecast", str(data), "--time-column", "time", *PATHS, "--epochs", "1",
            *levels, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    names = [row["model"] for row in metrics["candidates"]]
    assert names[:2] == ["series-patch-conv", "series-patch-tcn"]
    assert ("ridge-nlinear" in names) == (not levels)  # the ridge has no interval
    # the saved choice scores the recorded test figures on the test windows
    folder, config = open_run(out)
    prepared = prepare(read_series(str(data), "time"), config, ["load", "temp"])
    tensors, meta = read_weights(folder)
    model = rebuild(meta)
    model.load_state_dict(tensors)
    task = make_task("paths", quantiles=(0.1, 0.5, 0.9) if levels else ())
    found = evaluate(model, task, prepared.test)
    assert found["mse"] == pytest.approx(metrics["test_mse"], rel=1e-4)
    if levels:
        assert found["coverage"] == pytest.approx(metrics["test_coverage"], rel=1e-6)
    assert (out / "forecast.png").is_file()


def test_the_ridge_member_alone_scores_the_ridge_baseline(data, tmp_path):
    """--model auto's ridge member, saved as a series-nlinear, forecasts what the baseline
    scored."""
    from dataclasses import asdict
    from types import SimpleNamespace

    from convseq.pipelines.auto import ridge_weights

    out = tmp_path / "run"
    assert train_paths(data, out, "--model", "common-sense") == 0
    config = RunConfig.from_dict(json.loads((out / "config.json").read_text())["config"])
    prepared = prepare(read_series(str(data), "time"), config, ["load", "temp"])
    views = [PerTarget(w, prepared.targets) for w in (prepared.train, prepared.val)]
    fit = fit_ridge(*views)
    shape = asdict(SeriesShape(2, 24, horizons=6, targets=(0, 1)))
    member = SimpleNamespace(outputs={"shape": shape, "ridge_weights": fit.weights})
    state, record = ridge_weights(member)
    model = rebuild(record)
    model.load_state_dict(state)
    found = evaluate(model, make_task("paths"), prepared.val)
    assert found["mse"] == pytest.approx(score_ridge(fit, views[1])[0], rel=1e-5)


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quantiles", "0.1,0.9"], "must be increasing levels that include 0.5"),
        (["--quantiles", "0.5,0.9"], "levels below and above it"),
        (["--quantiles", "0.1,0.5,0.9", "--loss", "mse"], "no effect with --quantiles"),
        (["--delay", "3"], "--delay has no effect with --horizon"),
        (["--horizons", "all"], "drop --horizons"),
        (["--horizon", "150"], "--horizon 150 does not fit the validation split (100 rows)"),
        (["--model", "series-patch-conv", "--lookback", "6"], "too short for patches of 16"),
        (["--targets", "load,nope"], "nope"),
        (["--model", "series-dlinear", "--quantiles", "0.1,0.5,0.9"], "no quantile head"),
        (["--model", "common-sense", "--quantiles", "0.1,0.5,0.9"], "a trained model"),
    ],
)
def test_bad_paths_settings_are_one_line_exit_2(data, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    argv = ["train", "forecast", str(data), "--time-column", "time", *PATHS, *QUICK,
            *(["--model", "series-nlinear"] if "--model" not in extra else []), *extra,
            "--out", str(out)]  # fmt: skip
    refused(argv, capsys, message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--targets", "load"], "--targets has no effect without --horizon"),
        (["--quantiles", "0.1,0.5,0.9"], "--quantiles trains a quantile head"),
    ],
)
def test_paths_settings_without_horizon_are_refused(data, tmp_path, capsys, extra, message):
    argv = ["train", "forecast", str(data), "--time-column", "time", "--target", "load",
            "--model", "series-cnn", *extra, "--out", str(tmp_path / "run")]  # fmt: skip
    refused(argv, capsys, message)


# ------------------------------------------------------------------ calibration
def test_conformal_margins_cover_the_nominal_share_by_hand():
    from convseq.models.calibrated import Calibrated, conformal_margins

    truth = torch.arange(10.0).view(10, 1, 1)  # N=10, H=1, T=1
    low, high = torch.full_like(truth, 4.0), torch.full_like(truth, 5.0)
    # scores max(low - y, y - high): 4,3,2,1,0,0,1,2,3,4 -> sorted 0,0,1,1,2,2,3,3,4,4;
    # ceil(11 * 0.8) = 9th smallest = 4
    margin = conformal_margins(low, high, truth, 0.8)
    assert margin.item() == 4.0
    model = Calibrated(torch.nn.Identity(), 1, 1).eval()
    model.margins.copy_(margin)
    out = model(torch.stack([low, low + 0.5, high], dim=-1))
    inside = (truth >= out[..., 0]) & (truth <= out[..., -1])
    assert inside.float().mean() >= 0.8 and torch.equal(out[..., 1], low + 0.5)


def test_a_calibrated_quantile_run_covers_its_nominal_share_of_validation(data, tmp_path):
    out = tmp_path / "run"
    assert train_paths(data, out, "--model", "series-linear", "--quantiles", "0.1,0.5,0.9") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_coverage_calibrated"] >= 0.8
    assert json.loads((out / "config.json").read_text())["config"]["train"]["calibrate"] is True
    assert train_paths(data, tmp_path / "raw", "--model", "series-linear", "--quantiles",
                       "0.1,0.5,0.9", "--no-calibrate") == 0  # fmt: skip
    raw = json.loads((tmp_path / "raw" / "metrics.json").read_text())
    assert "val_coverage_calibrated" not in raw
    assert raw["best_val_mse"] == pytest.approx(metrics["best_val_mse"])  # the same training
