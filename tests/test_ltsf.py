"""The long-horizon benchmark: its data protocol, models, ridge, scores and CLI, on tiny data."""

from __future__ import annotations

import csv
import json
import math
import random
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch

from convseq.cli import main
from convseq.data.ltsf import (
    Table,
    cut,
    load_table,
    numeric_table,
    segment_ranges,
    target_ranges,
)
from convseq.errors import UserError
from convseq.evaluation.ltsf_scores import blend_weight, mse_mae, quantile_scores
from convseq.evaluation.ridge_nlinear import fit_ridge, predict_ridge
from convseq.models.ltsf import BENCHMARK_MODELS, build_model, moving_average
from convseq.pipelines.ltsf import Benchmark, BenchmarkSettings
from convseq.training.ltsf import fit, predict
from convseq.training.tasks import pinball_loss

COLUMNS = ["a", "b", "c"]


def write_csv(path, rows: int, seed: int = 0):
    """A date column and three numeric columns with trend, cycle and noise."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["date", *COLUMNS])
        for i in range(rows):
            out.writerow([
                f"2020-01-01 {i % 24:02d}:00:00",
                round(math.sin(i / 5) + 0.01 * i + rng.gauss(0, 0.1), 4),
                round(3 * math.cos(i / 7) + rng.gauss(0, 0.2), 4),
                round(10 + rng.gauss(0, 1), 4),
            ])  # fmt: skip
    return path


def reference_splits(path, lookback: int, horizon: int):
    """The protocol in plain Python: 70/10/20 % of rows, val/test from `lookback` rows earlier,
    standardized with the training rows' mean and population std; every stride-1 window."""
    with open(path) as f:
        data = [[float(v) for v in row[1:]] for row in list(csv.reader(f))[1:]]
    n = len(data)
    n_train, n_test = int(n * 0.7), int(n * 0.2)
    n_val = n - n_train - n_test
    cols = len(data[0])
    mean = [sum(r[j] for r in data[:n_train]) / n_train for j in range(cols)]
    std = [
        math.sqrt(sum((r[j] - mean[j]) ** 2 for r in data[:n_train]) / n_train) for j in range(cols)
    ]
    scaled = [[(r[j] - mean[j]) / std[j] for j in range(cols)] for r in data]
    segments = {
        "train": (0, n_train),
        "val": (n_train - lookback, n_train + n_val),
        "test": (n - n_test - lookback, n),
    }
    windows = {}
    for split, (start, end) in segments.items():
        windows[split] = [
            (scaled[s : s + lookback], scaled[s + lookback : s + lookback + horizon])
            for s in range(start, end - lookback - horizon + 1)
        ]
    return windows, mean, std


@pytest.fixture
def small_csv(tmp_path):
    return write_csv(tmp_path / "small.csv", 120)


def test_every_window_of_every_split_matches_a_slow_reference(small_csv):
    lookback, horizon = 10, 4
    splits = cut(load_table(str(small_csv)), lookback, horizon)
    windows, mean, std = reference_splits(small_csv, lookback, horizon)
    assert splits.columns == COLUMNS
    np.testing.assert_allclose(splits.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(splits.std, std, rtol=1e-12)
    for split in ("train", "val", "test"):
        segment = getattr(splits, split)
        expected = windows[split]
        assert segment.n_windows == len(expected)
        x, y = segment.windows(torch.arange(segment.n_windows))
        np.testing.assert_allclose(x.numpy(), [w[0] for w in expected], atol=1e-5)
        np.testing.assert_allclose(y.numpy(), [w[1] for w in expected], atol=1e-5)
        np.testing.assert_allclose(segment.targets(), [w[1] for w in expected], atol=1e-5)
    # 120 rows: train targets [0, 84), val [84, 96), test [96, 120); val/test start 10 rows earlier
    assert segment_ranges("ratio", 120, lookback) == {
        "train": (0, 84),
        "val": (74, 96),
        "test": (86, 120),
    }


def test_ett_borders_and_the_lookback_earlier_start():
    assert target_ranges("ett", 17420) == {
        "train": (0, 8640),
        "val": (8640, 11520),
        "test": (11520, 14400),
    }
    rows = np.arange(17420, dtype=np.float64)[:, None] * np.ones((1, 2))
    table = Table("etth1", rows, ["u", "v"], "ett", "synthetic")
    splits = cut(table, 336, 96)
    raw = lambda seg: seg.values.numpy()[:, 0] * splits.std[0] + splits.mean[0]  # noqa: E731
    assert raw(splits.val)[0] == pytest.approx(8640 - 336, abs=0.05)
    assert raw(splits.test)[-1] == pytest.approx(14399, abs=0.05)  # rows from 14400 unused
    x, y = splits.val.windows(torch.tensor([0]))
    assert float(y[0, 0, 0]) * splits.std[0] + splits.mean[0] == pytest.approx(8640, abs=0.05)
    assert splits.train.n_windows == 8640 - 336 - 96 + 1
    assert splits.val.n_windows == splits.test.n_windows == 2880 - 96 + 1
    with pytest.raises(UserError, match="needs 14400"):
        numeric_table(pd.DataFrame({"a": np.arange(100.0)}), "etth1", "ett", "short.csv")


def test_standardization_uses_training_rows_only(small_csv):
    table = load_table(str(small_csv))
    before = cut(table, 10, 4)
    changed = Table(table.name, table.values.copy(), table.columns, "ratio", "x")
    changed.values[84:] *= 1000.0  # val and test rows only
    after = cut(changed, 10, 4)
    np.testing.assert_allclose(before.mean, after.mean, rtol=1e-13)
    np.testing.assert_allclose(before.std, after.std, rtol=1e-13)
    train = before.train.values.numpy().astype(np.float64)
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-5)  # population std


@pytest.mark.parametrize("name", list(BENCHMARK_MODELS))
def test_each_model_maps_batch_lookback_variables_to_horizon(name):
    torch.manual_seed(0)
    model = build_model(name, 48, 12, variables=3)
    out = model(torch.randn(5, 48, 3))
    assert out.shape == (5, 12, 3)
    assert torch.isfinite(out).all()


def test_quantile_head_shape_and_only_conv_has_one():
    model = build_model("conv", 48, 12, (0.1, 0.5, 0.9), variables=4)
    assert model(torch.randn(2, 48, 4)).shape == (2, 12, 4, 3)
    with pytest.raises(UserError, match="quantile"):
        build_model("dlinear", 48, 12, (0.1, 0.5, 0.9), variables=4)
    with pytest.raises(UserError, match="choose from"):
        build_model("dlinaer", 48, 12)


def test_pinball_loss_by_hand():
    pred = torch.tensor([[1.0, 2.0], [0.0, 4.0]])[..., None].repeat(1, 1, 2)  # [2, 2, Q=2]
    pred[..., 1] += 1.0
    target = torch.tensor([[2.0, 1.0], [0.0, 5.0]])
    levels = torch.tensor([0.1, 0.9])
    # q=0.1: diffs 1, -1, 0, 1 -> 0.1, 0.9, 0, 0.1; q=0.9 (pred + 1): 0, -2, -1, 0 -> 0, 0.2, 0.1, 0
    expected = (0.1 + 0.9 + 0 + 0.1 + 0 + 0.2 + 0.1 + 0) / 8
    assert float(pinball_loss(pred, target, levels)) == pytest.approx(expected)


def test_quantile_scores_and_blend_weight_against_brute_force():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(300, 4, 2)).astype(np.float32)
    q = np.sort(rng.normal(size=(300, 4, 2, 3)), axis=-1).astype(np.float32)
    scores = quantile_scores(q, y, (0.1, 0.5, 0.9))
    inside = (y >= q[..., 0]) & (y <= q[..., 2])
    assert scores["coverage"] == pytest.approx(inside.mean())
    assert scores["mean_width"] == pytest.approx((q[..., 2] - q[..., 0]).mean(), rel=1e-6)
    d = y - q[..., 1]
    assert scores["pinball"]["0.5"] == pytest.approx(np.maximum(0.5 * d, -0.5 * d).mean(), rel=1e-6)
    a, b = y + rng.normal(size=y.shape), y + 2 * rng.normal(size=y.shape)
    grid = np.round(np.linspace(0, 1, 21), 2)
    brute = grid[np.argmin([np.mean((w * a + (1 - w) * b - y) ** 2) for w in grid])]
    assert blend_weight(a, b, y) == pytest.approx(brute)
    assert mse_mae(a, y, 32)[0] == pytest.approx(np.mean((a[:288] - y[:288]) ** 2), rel=1e-6)


def test_ridge_matches_numpy_lstsq_on_a_tiny_problem(small_csv):
    splits = cut(load_table(str(small_csv)), 6, 3)
    inputs, targets = splits.train.windows(torch.arange(splits.train.n_windows))
    raw_x = inputs.double().numpy().transpose(0, 2, 1).reshape(-1, 6)  # a row per (window, var)
    raw_y = targets.double().numpy().transpose(0, 2, 1).reshape(-1, 3)
    design, response = raw_x - raw_x[:, -1:], raw_y - raw_x[:, -1:]
    for alpha in (0.0, 0.05):
        penalty = alpha * len(design)
        stacked = np.vstack([design, math.sqrt(penalty) * np.eye(6)])
        padded = np.vstack([response, np.zeros((6, 3))])
        expected = np.linalg.lstsq(stacked, padded, rcond=None)[0]
        fit = fit_ridge(splits.train, alphas=[alpha])
        np.testing.assert_allclose(fit.weights, expected, rtol=1e-6, atol=1e-8)
    chosen = fit_ridge(splits.train, splits.val)
    direct = np.mean((predict_ridge(chosen, splits.val) - splits.val.targets()) ** 2)
    assert chosen.val_mse == pytest.approx(direct, rel=1e-5)
    assert chosen.val_mse == min(mse for _, mse in chosen.val_curve)


def test_dlinear_moving_average_against_a_slow_reference():
    x = torch.randn(2, 30, 3)
    k, pad = 25, 12
    out = moving_average(x, k)
    assert out.shape == x.shape
    for b in range(2):
        for c in range(3):
            series = [float(x[b, 0, c])] * pad + x[b, :, c].tolist() + [float(x[b, -1, c])] * pad
            slow = [sum(series[t : t + k]) / k for t in range(30)]
            np.testing.assert_allclose(out[b, :, c].numpy(), slow, rtol=1e-5, atol=1e-6)


def test_cli_end_to_end_writes_the_table(tmp_path, capsys):
    data = write_csv(tmp_path / "tiny.csv", 400, seed=1)
    out = tmp_path / "bench"
    argv = ["benchmark", "ltsf", "--dataset", str(data), "--horizons", "8,16", "--lookback",
            "24", "--ridge-lookbacks", "24,32", "--epochs", "1", "--steps-per-epoch", "2",
            "--seeds", "1,2", "--quantiles", "0.1,0.5,0.9", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "tiny H=8 dlinear seed 2" in printed and "covers" in printed
    assert {p.name for p in out.iterdir()} == {"table.md", "table.csv", "results.json"}
    with open(out / "table.csv") as f:
        rows = list(csv.DictReader(f))
    measured = {(r["model"], r["horizon"]) for r in rows if r["source"] == "measured"}
    models = ["ridge", "repeat", "nlinear", "dlinear", "conv", "conv+ridge"]
    assert measured == {(m, h) for m in models for h in ("8", "16", "avg")}
    results = json.loads((out / "results.json").read_text())
    conv = [r for r in results["rows"] if r["model"] == "conv"]
    assert all(0 <= r["quantiles"]["coverage"] <= 1 for r in conv)
    for r in conv:  # the conformal margins cover the nominal share of every validation step
        assert r["quantiles"]["calibrated"]["val_coverage"] >= r["quantiles"]["nominal_coverage"]
    table = (out / "table.md").read_text()
    assert "| conv+ridge |" in table and "q0.1" in table


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--models", "ridge,dlinaer"], "did you mean 'dlinear'"),
        (["--lookback", "500"], "too short"),
        (["--quantiles", "0.9,0.1"], "increasing"),
        (["--horizons", "8,x"], "comma list"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, extra, message):
    data = write_csv(tmp_path / "tiny.csv", 200)
    out = tmp_path / "bench"
    argv = ["benchmark", "ltsf", "--dataset", str(data), "--horizons", "8", "--lookback", "24",
            "--out", str(out), *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_missing_file_and_missing_weather_say_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVSEQ_DATA", str(tmp_path))
    monkeypatch.setenv("CONVSEQ_CACHE", str(tmp_path / "cache"))
    assert main(["benchmark", "ltsf", "--dataset", str(tmp_path / "nope.csv")]) == 2
    assert "etth1, weather or the path" in capsys.readouterr().err
    assert main(["benchmark", "ltsf", "--dataset", "weather", "--out", str(tmp_path / "o")]) == 2
    assert "CONVSEQ_DATA" in capsys.readouterr().err


def test_a_linear_model_row_is_the_mean_of_its_seeds_forecasts(small_csv, tmp_path):
    """Each seed trains on its own; the row scores the mean of their forecasts, as the conv's."""
    settings = BenchmarkSettings(
        dataset=str(small_csv), out=str(tmp_path), models=["dlinear"], horizons=[8],
        lookback=24, seeds=[1, 2], epochs=1, steps_per_epoch=2,
    )  # fmt: skip
    table = load_table(str(small_csv))
    bench = Benchmark(settings, table, log=lambda line: None)
    splits = cut(table, 24, 8)
    pred = bench.linear("dlinear", 8, splits)
    train = bench.settings_for("dlinear")
    val, test = [], []
    for seed in (1, 2):
        build = partial(build_model, "dlinear", 24, 8, variables=3)
        model = fit(build, splits.train, splits.val, train, seed)[0]
        val.append(predict(model, splits.val))
        test.append(predict(model, splits.test))
    assert not np.allclose(test[0], test[1])  # the seeds differ, so the mean is not either
    np.testing.assert_allclose(pred.val, (val[0] + val[1]) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.test, (test[0] + test[1]) / 2, rtol=1e-5, atol=1e-6)
    (row,) = bench.rows
    assert row.test_mse == pytest.approx(mse_mae(pred.test, splits.test.targets())[0])
