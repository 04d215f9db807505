"""What a new user tripped over in 0.1 (issue 19), each checked on the real behaviour."""

import csv
import json
import os
import stat

import numpy as np
import pytest

from convseq.cli import main
from convseq.evaluation.plots import plot_curves
from tests.forecast_helpers import refused, train_forecast, write_series
from tests.text_helpers import SENTIMENT, make_rows, write_csv


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_written_files_get_the_umasks_modes_and_keep_their_own(tmp_path, umask_022, capsys):
    data = write_series(tmp_path / "load.csv")
    run = tmp_path / "run"
    assert train_forecast(data, run) == 0
    for path in run.iterdir():
        assert mode(path) == 0o644, path.name
    assert mode(run) == 0o755
    assert main(["export", str(run)]) == 0
    assert mode(run / "export") == 0o755 and mode(run / "export" / "model.onnx") == 0o644
    shared = tmp_path / "forecast.csv"
    shared.write_text("old\n")
    os.chmod(shared, 0o640)
    assert main(["predict", str(run), str(data), "--output", str(shared)]) == 0
    assert mode(shared) == 0o640 and "forecast" in shared.read_text()
    fresh = tmp_path / "fresh.csv"
    assert main(["predict", str(run), str(data), "--output", str(fresh)]) == 0
    assert mode(fresh) == 0o644
    assert main(["compare", str(run), "--output", str(tmp_path / "table.md")]) == 0
    assert mode(tmp_path / "table.md") == 0o644


def killed_run(tmp_path, epochs: int = 3):
    """A forecasting run whose folder looks like a kill after epoch 1: checkpoint, no metrics."""
    import convseq.training.trainer as trainer_module

    data = write_series(tmp_path / "load.csv")
    run = tmp_path / "run"
    original = trainer_module.Trainer._save_checkpoint

    def save_then_stop(self, epoch, schedule):
        original(self, epoch, schedule)
        raise KeyboardInterrupt

    trainer_module.Trainer._save_checkpoint = save_then_stop
    try:
        assert train_forecast(data, run, "--epochs", str(epochs)) == 130
    finally:
        trainer_module.Trainer._save_checkpoint = original
    return data, run


def test_ctrl_c_prints_the_real_resume_command(tmp_path, capsys):
    data, run = killed_run(tmp_path)
    err = capsys.readouterr().err
    assert f"resume with: convseq train forecast --resume {run}" in err
    assert "RUN_DIR" not in err and err.count("\n") == 1
    assert (run / "checkpoint.pt").exists() and not (run / "metrics.json").exists()


def test_resume_refuses_a_conflicting_option_and_reports_a_changed_one(tmp_path, capsys):
    data, run = killed_run(tmp_path)
    capsys.readouterr()
    err = refused(
        ["train", "forecast", "--resume", str(run), "--lookback", "100"], capsys, "--lookback 100"
    )
    assert "conflicts with the run being resumed" in err and "48" in err
    same = ["train", "forecast", "--resume", str(run), "--lookback", "48", "--epochs", "4"]
    assert main(same) == 0
    out = capsys.readouterr().out
    assert "resuming with --epochs 4 (the run had 3)" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 4 and metrics["resumed_with"] == {"epochs": 4}
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["train"]["epochs"] == 4 and config["shaping"]["lookback"] == 48


def test_resume_takes_the_same_data_and_lists_again_and_refuses_another_model(tmp_path, capsys):
    """Options given again as they were (a relative DATA path, a list) are not conflicts."""
    data, run = killed_run(tmp_path)
    capsys.readouterr()
    refused(["train", "forecast", "--resume", str(run), "--model", "series-gru"], capsys, "--model")
    refused(
        ["train", "forecast", "--resume", str(run), "--dropout", "0.3"], capsys, "--dropout 0.3"
    )
    os.chdir(tmp_path)
    again = ["train", "forecast", "load.csv", "--resume", str(run), "--time-column", "time",
             "--lookback", "48", "--splits", "0.7,0.15,0.15"]  # fmt: skip
    assert main(again) == 0, capsys.readouterr().err


def test_resume_of_a_cosine_run_refuses_more_epochs(tmp_path, capsys):
    data = write_series(tmp_path / "load.csv")
    run = tmp_path / "run"
    (run).mkdir()
    assert train_forecast(data, run, "--schedule", "cosine", "--epochs", "1") == 0
    (run / "metrics.json").unlink()  # as if killed before the end
    refused(["train", "forecast", "--resume", str(run), "--epochs", "2"], capsys, "cosine schedule")


def test_a_run_folder_of_convseq_0_1_is_refused_in_one_line(tmp_path, capsys):
    """A folder as convseq 0.1 wrote it (run format 1, flat settings) names its version."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(
        json.dumps(
            {
                "config": {"epochs": 10, "max_len": 500, "experiment": "imdb-cnn", "seed": 0},
                "environment": {"convseq": "0.1.0", "run_format": 1},
            }
        )
    )
    (old / "metrics.json").write_text(json.dumps({"test_acc": 0.87}))
    for argv in (["predict", str(old), "-"], ["run", "imdb-cnn", "--resume", str(old)]):
        err = refused(argv, capsys, "written by convseq 0.1.0 (run-folder format 1)")
        assert "reads format 2" in err


def test_compare_on_a_text_data_set_shows_accuracy(tmp_path, capsys):
    data = write_csv(tmp_path / "reviews.csv", make_rows(SENTIMENT, 40))
    runs = tmp_path / "runs"
    for seed in ("0", "1"):
        argv = ["train", "text", str(data), "--model", "text-cnn", "--epochs", "1", "--max-len", "48",
                "--seed", seed, "--out", str(runs / "nested" / f"seed{seed}")]  # fmt: skip
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["compare", "reviews", "--runs", str(runs)]) == 0
    table = capsys.readouterr().out
    assert "test acc" in table or "best val acc" in table
    assert "MAE" not in table and "majority class" in table
    assert table.count("train-text") == 2  # found at any depth, runs written with --out


def test_compare_help_does_not_limit_the_data_sets(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    shown = capsys.readouterr().out
    assert "your file's name" in shown and "imdb, jena or etth1" not in shown


def test_equal_accuracy_keeps_the_epoch_with_the_lower_loss(tmp_path):
    """val_acc reaches 1.0 early; the best epoch is the last one still at 1.0 with a lower loss."""
    rows = [make_rows(SENTIMENT, 60, seed=s) for s in (0, 1)]
    data = write_csv(tmp_path / "easy.csv", rows[0] + rows[1])
    out = tmp_path / "run"
    argv = ["train", "text", str(data), "--model", "text-cnn", "--epochs", "8", "--max-len", "48", "--lr", "0.01",
            "--optimizer", "adam", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    with open(out / "history.csv") as f:
        history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    metrics = json.loads((out / "metrics.json").read_text())
    best = max(h["val_acc"] for h in history)
    at_best = [h for h in history if h["val_acc"] == best]
    assert metrics["best_epoch"] == min(at_best, key=lambda h: h["val_loss"])["epoch"]
    assert len(at_best) > 1  # the data makes the tie happen
    loss_run = tmp_path / "by_loss"
    assert main([*argv[:-2], "--monitor", "val_loss", "--out", str(loss_run)]) == 0
    by_loss = json.loads((loss_run / "metrics.json").read_text())
    with open(loss_run / "history.csv") as f:
        losses = [float(row["val_loss"]) for row in csv.DictReader(f)]
    assert by_loss["monitor"] == "val_loss"
    assert by_loss["best_epoch"] == int(np.argmin(losses)) + 1


def test_a_failed_download_leaves_no_folder_and_prints_none(tmp_path, capsys, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "imdb-cnn", "--epochs", "1"]) == 2
    captured = capsys.readouterr()
    assert "could not download" in captured.err and "run folder" not in captured.out
    assert not (tmp_path / "runs").exists()


def one_epoch_text(data, out) -> int:
    """One epoch of text-cnn at length 48, the vocabulary as the data makes it."""
    argv = ["train", "text", str(data), "--model", "text-cnn", "--epochs", "1", "--max-len", "48"]
    return main([*argv, "--out", str(out)])


def test_the_embedding_is_sized_by_the_fitted_vocabulary(tmp_path):
    data = write_csv(tmp_path / "small.csv", make_rows(SENTIMENT, 40))
    out = tmp_path / "run"
    assert one_epoch_text(data, out) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    words = len({w for text, _ in make_rows(SENTIMENT, 40) for w in text.split()})
    assert metrics["vocabulary"] <= words + 2  # the words, padding and out-of-vocabulary
    assert metrics["params"] < 128 * (words + 2) + 50_000  # not 10,000 x 128


def test_curves_are_titled_and_ticked_by_epoch(tmp_path):
    history = [
        {"epoch": e, "mae": 0.3 - e / 100, "val_mae": 0.25 - e / 200, "loss": 1, "val_loss": 1}
        for e in range(1, 4)
    ]
    fig = plot_curves(
        history,
        ["mae"],
        tmp_path / "curves.png",
        baselines={"mae": {"common-sense": 1.19}},
        title="etth1-tcn on etth1: series-tcn",
        scale={"mae": 10.0},
        units={"mae": "kW"},
    )
    ax = fig.axes[0]
    assert fig._suptitle.get_text() == "etth1-tcn on etth1: series-tcn"
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert ax.get_ylabel() == "MAE (kW)"
    low, high = ax.get_ylim()
    assert high < 11.9 and low > 0  # the curves (2.2-2.9 kW) fill the panel, not the baseline
    notes = [t.get_text() for t in ax.texts]
    assert any("common-sense: 11.9 kW" in n and "above" in n for n in notes)
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_forecast_runs_title_their_curves_with_preset_and_data(tmp_path, monkeypatch):
    import convseq.pipelines.forecast as forecast

    seen = {}
    real = forecast.plot_curves

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(forecast, "plot_curves", spy)
    data = write_series(tmp_path / "load.csv")
    assert train_forecast(data, tmp_path / "run", "--units", "kW") == 0
    assert seen["title"] == "train-forecast on load: series-cnn-gru"
    assert seen["units"] == {"mae": "kW"} and seen["scale"]["mae"] > 1


def test_small_wording(tmp_path, capsys):
    data = write_csv(tmp_path / "t.csv", make_rows(SENTIMENT, 40))
    run = tmp_path / "run"
    assert one_epoch_text(data, run) == 0
    capsys.readouterr()
    refused(["predict", str(run), str(tmp_path / "missing.txt")], capsys, "a .txt")
    lines = tmp_path / "lines.txt"
    lines.write_text("great fun\n\nawful\n")
    assert main(["predict", str(run), str(lines)]) == 0
    assert "1 empty line got no prediction" in capsys.readouterr().err
    err = refused(
        [
            "train",
            "text",
            str(data),
            "--model",
            "text-cnn",
            "--max-len",
            "30",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
        "41",
    )
    assert "5 x 7 + 6" in err  # why 41: the convolutions and the pool need that many tokens
    for argv, flags in (
        (
            ["train", "forecast", "--model", "series-cnn-gru", "--help"],
            ("--calendar", "--residual"),
        ),
        (["run", "etth1-tcn", "--help"], ("--calendar", "--linear-member")),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        shown = " ".join(capsys.readouterr().out.split())
        for flag in flags:
            after = shown.rsplit(flag, 1)[1][:400]  # its entry in the list, not the usage line
            assert "(default: " in after, flag


def test_windows_of_one_step_read_as_english(tmp_path):
    from convseq.wording import every, plural

    assert plural(1, "step") == "1 step" and plural(2, "step") == "2 steps"
    assert every(1) == "every row" and every(6) == "every 6th row" and every(2) == "every 2nd row"
    assert np.all([every(n).endswith("th row") for n in (11, 12, 13)])
