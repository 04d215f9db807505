"""--model auto: candidates trained as whole runs, chosen (or averaged) on validation only, the
choice saved as a model that predicts, evaluates and exports like any other."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from convseq.cli import main
from convseq.config import Training
from convseq.data.windows import Windows
from convseq.errors import UserError
from convseq.evaluation.compare import find_runs
from convseq.evaluation.ridge import ridge_baseline
from convseq.inference.load import load_run
from convseq.models.registry import SeriesShape, rebuild
from convseq.pipelines import auto
from convseq.presets import CANDIDATES, get_preset
from convseq.runs import RunFolder
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, evaluate
from tests.forecast_helpers import WINDOW, refused, write_series
from tests.text_helpers import TOPICS, make_rows, write_csv

TEXT = ["--max-len", "32", "--vocab-size", "60", "--batch-size", "16", "--epochs", "2"]


def metrics_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, Path]:
    """One small 3-class auto run with a test file, shared by the text tests."""
    root = tmp_path_factory.mktemp("auto_text")
    data = write_csv(root / "train.csv", make_rows(TOPICS, 150, seed=1))
    test = write_csv(root / "test.csv", make_rows(TOPICS, 60, seed=2))
    out = root / "run"
    assert main(["train", "text", str(data), "--test", str(test), *TEXT, "--out", str(out)]) == 0
    return out, test


def test_text_auto_is_the_default_and_trains_every_candidate_as_a_whole_run(text_run):
    out, _ = text_run
    metrics = metrics_of(out)
    names = [c.model for c in CANDIDATES["text"]]
    assert metrics["model"] == "auto"
    assert [row["model"] for row in metrics["candidates"]][: len(names)] == names
    for name in names:
        sub = out / "candidates" / name
        own = metrics_of(sub)
        assert own["candidate_of"] == str(out) and own["model"] == name
        config = json.loads((sub / "config.json").read_text())["config"]
        assert config["train"]["epochs"] == 2  # the user's --epochs, for every candidate
        assert config["shaping"]["max_len"] == 32
    region = json.loads((out / "candidates/text-region-cnn/config.json").read_text())["config"]
    assert region["train"]["optimizer"] == "adam"  # the rest of its recipe is its own
    chosen_val = max(row["val_acc"] for row in metrics["candidates"])
    assert metrics["best_val_acc"] == pytest.approx(chosen_val)
    assert metrics["chosen"] in {row["model"] for row in metrics["candidates"]}


def test_text_auto_choice_predicts_its_recorded_test_accuracy(text_run, tmp_path):
    out, test = text_run
    classifier = load_run(out)
    rows = [line.split(",") for line in test.read_text().splitlines()[1:]]
    predicted = classifier.predict([text for text, _ in rows])
    accuracy = np.mean([p.label == label for p, (_, label) in zip(predicted, rows, strict=True)])
    assert accuracy == pytest.approx(metrics_of(out)["test_acc"])
    assert main(["export", str(out), "--out", str(tmp_path / "onnx")]) == 0
    assert (tmp_path / "onnx" / "model.onnx").is_file()


def test_compare_lists_the_auto_run_not_its_candidates(text_run):
    out, _ = text_run
    found = [path for path, _ in find_runs(out.parent)]
    assert found == [out]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("auto_series")
    data = write_series(root / "series.csv", rows=700)
    out = root / "run"
    argv = ["train", "forecast", str(data), "--time-column", "time", "--target", "load",
            *WINDOW, "--epochs", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out


def test_forecast_auto_reports_each_candidate_and_the_ridge_and_keeps_the_better(series_run):
    metrics = metrics_of(series_run)
    names = [c.model for c in CANDIDATES["forecast"]]
    assert names[-1] == "series-cnn"  # needs 61 steps, these windows have 24: skipped, said why
    assert [row["model"] for row in metrics["candidates"]][:2] == names[:2]
    assert "too short for series-cnn" in metrics["skipped"]["series-cnn"]
    assert not (series_run / "candidates" / "series-cnn").exists()
    config = json.loads((series_run / "config.json").read_text())["config"]
    assert config["shaping"]["calendar"] is True  # a time column: calendar columns on
    best = min(row["val_mae"] for row in metrics["candidates"])
    ridge = metrics["ridge_baseline_val_mae"]
    assert metrics["best_val_mae"] == pytest.approx(min(best, ridge))
    assert ("ridge" in metrics["chosen"]) == (ridge <= best)
    assert "ridge_baseline_test_mae" in metrics and "baseline_test_mae" in metrics


def test_forecast_auto_choice_predicts_and_exports(series_run, tmp_path):
    data = series_run.parent / "series.csv"
    assert main(["predict", str(series_run), str(data), "--output", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().startswith("window_end,time,forecast\n2020-01-30")
    assert main(["export", str(series_run), "--out", str(tmp_path / "onnx")]) == 0


# ------------------------------------------------------------------ choosing
def fake(name: str, forecasts: torch.Tensor, truth: torch.Tensor, folder: Path) -> auto.Trained:
    folder.mkdir(parents=True)
    (folder / "normalization.json").write_text("{}")

    class Folder:  # what choose() reads of a run folder
        path = folder
        config = type("C", (), {"task": "forecast"})

    outputs = {"val": (forecasts, truth)}
    return auto.Trained(name, None, Folder, {}, outputs, auto.forecast_score(outputs, "val"), 1.0)


def test_the_average_is_chosen_only_when_it_is_better_on_validation(tmp_path):
    truth = torch.zeros(100)
    noise = torch.randn(100)
    a = fake("a", truth + noise, truth, tmp_path / "a")  # errors cancel in the mean
    b = fake("b", truth - noise, truth, tmp_path / "b")
    c = fake("c", truth + 5, truth, tmp_path / "c")  # far off: would spoil any average
    chosen, val = auto.choose([c, b, a], auto.forecast_score)
    assert sorted(t.model for t in chosen) == ["a", "b"]
    assert val["mae"] == pytest.approx(0.0, abs=1e-6)
    e = fake("e", truth + noise * 1.01, truth, tmp_path / "e")  # a near copy of a: no help
    f = fake("f", truth - noise * 1.02, truth, tmp_path / "f")  # ranked below e, but opposite a
    chosen, _ = auto.choose([a, e, f], auto.forecast_score)
    assert sorted(t.model for t in chosen) == ["a", "f"]  # f joins; e would not help after it
    d = fake("d", truth + 0.1, truth, tmp_path / "d")
    chosen, _ = auto.choose([d, c], auto.forecast_score)
    assert [t.model for t in chosen] == ["d"]  # the mean with c is worse: d alone


def test_the_saved_average_predicts_the_mean_of_its_members(series_run, tmp_path):
    names = ["series-tcn", "series-cnn-gru"]
    folders = [RunFolder(series_run / "candidates" / name) for name in names]
    trained = [
        auto.Trained(n, None, f, {}, {}, {}, 0.0) for n, f in zip(names, folders, strict=True)
    ]
    target = RunFolder(tmp_path / "avg", load_run(series_run).config)
    auto.save_choice(target, trained)
    with safe_open(str(target.path / "model.safetensors"), framework="pt") as f:
        meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()
                if k not in ("convseq", "run_format")}  # fmt: skip
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    assert meta["model"] == "average" and [m["model"] for m in meta["members"]] == names
    average = rebuild(meta)
    average.load_state_dict(tensors)
    members = [load_run(folder.path).model for folder in folders]
    shape = meta["members"][0]["shape"]
    x = torch.randn(5, shape["window"], shape["num_features"])
    expected = torch.stack([m.eval()(x) for m in members]).mean(dim=0)
    torch.testing.assert_close(average.eval()(x), expected)


def test_the_ridge_model_scores_what_the_ridge_baseline_scores():
    rng = np.random.default_rng(0)
    values = np.zeros(3000, dtype=np.float32)
    for t in range(2, 3000):  # an AR(2) process: linear, which the ridge map can learn
        values[t] = 1.2 * values[t - 1] - 0.5 * values[t - 2] + rng.normal(0, 0.1)
    data = np.stack([values, rng.normal(size=3000).astype(np.float32)], axis=1)

    def windows(start, end):
        return Windows(data, data[:, 0], 24, 1, 2, start, end, batch_size=256)

    train, val, test = windows(0, 2000), windows(2000, 2500), windows(2500, 3000)
    ridge = ridge_baseline(train, val, test, 0)
    shape = SeriesShape(num_features=2, window=24, target_index=0)
    model = auto.ridge_model(shape, ridge["weights"])
    task = make_task("regression")
    assert evaluate(model, task, val)["mae"] == pytest.approx(ridge["val_mae"], rel=1e-4)
    assert evaluate(model, task, test)["mae"] == pytest.approx(ridge["test_mae"], rel=1e-4)


# ------------------------------------------------------------------ refusals
def test_auto_refuses_model_settings_and_budget_without_auto(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", make_rows(TOPICS, 30))
    with pytest.raises(
        UserError, match="--channels is a setting of .*text-region-cnn.*--model NAME"
    ):
        get_preset("train-text").make_run({"data": str(data), "channels": 8}, "auto")
    refused(
        ["train", "text", str(data), "--model", "text-cnn", "--budget", "3"], capsys, "--budget"
    )
    with pytest.raises(UserError, match="not classify"):
        get_preset("train-classify").make_run({}, "auto")


def test_a_trainer_stops_at_its_deadline_after_an_epoch(capsys):
    model = torch.nn.Linear(3, 1)

    class Data:
        def __len__(self):
            return 2

        def epoch(self, _epoch):
            for _ in range(2):
                time.sleep(0.02)
                yield torch.randn(8, 3), torch.randn(8)

    settings = Training(epochs=5, optimizer="sgd", monitor="val_loss")
    trainer = Trainer(
        model, make_task("regression"), settings, progress=False, deadline=time.monotonic()
    )
    trainer.fit(Data(), Data())
    assert len(trainer.history) == 1
    assert "time budget: stopping after epoch 1 of 5" in capsys.readouterr().out
