"""A run killed with SIGKILL resumes to exactly the uninterrupted result; bad folders are refused."""

import csv
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from convseq.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
RUN_ARGS = ["--epochs", "4", "--batch-size", "4", "--max-len", "60", "--vocab-size", "40"]

# Runs convseq in a child process that SIGKILLs itself at a chosen point: after
# N batches of an epoch, or halfway through writing that epoch's checkpoint.
KILLER = """
import os, signal, sys
import convseq.data.batches as batches
import convseq.training.trainer as trainer
where, epoch_to_kill, batches_before = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
original_epoch, original_save = batches.ArrayBatches.epoch, trainer.torch.save

def epoch(self, n):
    for i, batch in enumerate(original_epoch(self, n)):
        if where == "mid-epoch" and self.shuffle and n == epoch_to_kill and i == batches_before:
            os.kill(os.getpid(), signal.SIGKILL)
        yield batch

def save(state, path):
    if where == "mid-checkpoint" and state["epoch"] == epoch_to_kill:
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    original_save(state, path)

batches.ArrayBatches.epoch = epoch
trainer.torch.save = save
from convseq.cli import main
sys.exit(main(sys.argv[4:]))
"""


def run_and_kill(argv, where, epoch, batches_before=2):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, where, str(epoch), str(batches_before), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr[-2000:]  # died by SIGKILL, not by an error


def history_without_timings(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as f:
        return [
            {k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")}
            for row in csv.DictReader(f)
        ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from tests.conftest import write_imdb_tarball

    data = tmp_path_factory.mktemp("imdb")
    write_imdb_tarball(data / "aclImdb_v1.tar.gz")
    out = tmp_path_factory.mktemp("runs") / "uninterrupted"
    assert main(["run", "imdb-cnn", "--data-dir", str(data), *RUN_ARGS, "--out", str(out)]) == 0
    return data, out


@pytest.mark.parametrize("where", ["mid-epoch", "mid-checkpoint"])
def test_killed_run_resumes_to_the_uninterrupted_result(where, uninterrupted, tmp_path):
    data, reference = uninterrupted
    out = tmp_path / "killed"
    run_and_kill(
        ["run", "imdb-cnn", "--data-dir", str(data), *RUN_ARGS, "--out", str(out)], where, 3
    )
    assert not (out / "metrics.json").exists()
    assert len(history_without_timings(out)) == (2 if where == "mid-epoch" else 3)
    if where == "mid-checkpoint":
        assert list(out.glob(".checkpoint.pt.*.tmp")), "the half-written checkpoint stays aside"
        assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2

    assert main(["run", "imdb-cnn", "--resume", str(out)]) == 0

    assert history_without_timings(out) == history_without_timings(reference)
    resumed, expected = (
        load_file(out / "model.safetensors"),
        load_file(reference / "model.safetensors"),
    )
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    metrics = json.loads((out / "metrics.json").read_text())
    reference_metrics = json.loads((reference / "metrics.json").read_text())
    for key in ("best_epoch", "best_val_acc", "test_acc", "test_loss"):
        assert metrics[key] == reference_metrics[key]
    assert not list(out.glob(".*.tmp")) and not (out / "checkpoint.pt").exists()


def test_train_text_resumes_too(tmp_path):
    from tests.text_helpers import QUICK, SENTIMENT, make_rows, write_csv

    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 60))
    argv = ["train", "text", str(data), "--model", "text-cnn", *QUICK, "--epochs", "3"]
    assert main([*argv, "--out", str(tmp_path / "full")]) == 0
    run_and_kill([*argv, "--out", str(tmp_path / "killed")], "mid-epoch", 2, batches_before=1)
    assert main(["train", "text", "--resume", str(tmp_path / "killed")]) == 0
    assert history_without_timings(tmp_path / "killed") == history_without_timings(
        tmp_path / "full"
    )
    assert (tmp_path / "killed" / "confusion.png").exists()


def make_unfinished(tmp_path, uninterrupted) -> Path:
    data, reference = uninterrupted
    out = tmp_path / "unfinished"
    out.mkdir()
    (out / "config.json").write_text((reference / "config.json").read_text())
    return out


def refused(argv, capsys, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_a_checkpoint_never_executes_code(uninterrupted, tmp_path, capsys):
    out = make_unfinished(tmp_path, uninterrupted)
    marker = tmp_path / "code-was-executed"
    with open(out / "checkpoint.pt", "wb") as f:
        pickle.dump({"epoch": 1, "model": _RunsCodeWhenUnpickled(str(marker))}, f, protocol=2)
    refused(["run", "imdb-cnn", "--resume", str(out)], capsys, "checkpoint")
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        ({"run_format": 99}, "format 99"),
        ({"convseq": "9.1.0"}, "newer than this convseq"),
        (None, "is corrupted"),
    ],
)
def test_foreign_or_corrupted_folders_are_not_resumed(
    damage, message, uninterrupted, tmp_path, capsys
):
    out = make_unfinished(tmp_path, uninterrupted)
    if damage is None:
        (out / "config.json").write_text("{not json")
    else:
        raw = json.loads((out / "config.json").read_text())
        raw["environment"].update(damage)
        (out / "config.json").write_text(json.dumps(raw))
    before = sorted(p.name for p in out.iterdir())
    refused(["run", "imdb-cnn", "--resume", str(out)], capsys, message)
    assert sorted(p.name for p in out.iterdir()) == before


def test_finished_and_foreign_runs_are_not_resumed(uninterrupted, tmp_path, capsys):
    _, reference = uninterrupted
    refused(["run", "imdb-cnn", "--resume", str(reference)], capsys, "already finished")
    refused(
        ["train", "text", "--resume", str(make_unfinished(tmp_path, uninterrupted))],
        capsys,
        "resume it with 'convseq run imdb-cnn --resume",
    )


def test_ctrl_c_names_the_resume_command_and_the_resumed_run_matches(
    uninterrupted, tmp_path, capsys, monkeypatch
):
    import convseq.pipelines.text as text_pipeline

    data, reference = uninterrupted
    out = tmp_path / "interrupted"
    plot, calls = text_pipeline.plot_curves, []

    def interrupt_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # history.csv holds 2 epochs, the checkpoint 1
            raise KeyboardInterrupt
        plot(*args, **kwargs)

    monkeypatch.setattr(text_pipeline, "plot_curves", interrupt_in_epoch_2)
    argv = ["run", "imdb-cnn", "--data-dir", str(data), *RUN_ARGS, "--out", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err == f"convseq: interrupted; resume with: convseq run imdb-cnn --resume {out}\n"
    assert not (out / "metrics.json").exists() and (out / "checkpoint.pt").exists()
    monkeypatch.setattr(text_pipeline, "plot_curves", plot)
    assert main(["run", "imdb-cnn", "--resume", str(out)]) == 0
    assert history_without_timings(out) == history_without_timings(reference)
    assert (
        json.loads((out / "metrics.json").read_text())["test_acc"]
        == json.loads((reference / "metrics.json").read_text())["test_acc"]
    )


def test_ctrl_c_before_any_epoch_leaves_nothing_behind(
    uninterrupted, tmp_path, capsys, monkeypatch
):
    import convseq.pipelines.text as text_pipeline

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(text_pipeline, "summarize", interrupt)  # after the folder was made
    out = tmp_path / "deep" / "interrupted"
    argv = ["run", "imdb-cnn", "--data-dir", str(uninterrupted[0]), *RUN_ARGS, "--out", str(out)]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert f"run folder: {out}" in captured.out
    assert captured.err == "convseq: interrupted; no epoch had finished, nothing to resume\n"
    assert not (tmp_path / "deep").exists()  # the folders this run made are gone


def test_resume_refuses_changed_options_but_takes_more_epochs(uninterrupted, tmp_path, capsys):
    out = make_unfinished(tmp_path, uninterrupted)
    refused(
        ["run", "imdb-cnn", "--resume", str(out), "--max-len", "80"],
        capsys,
        "--max-len 80 conflicts with the run being resumed, which has 60",
    )
    refused(
        ["run", "imdb-cnn", "--resume", str(out), "--out", str(tmp_path / "other")],
        capsys,
        "--out and --resume name two folders",
    )
    # the run's own values may be given again; --epochs may change
    argv = ["run", "imdb-cnn", "--resume", str(out), "--max-len", "60", "--epochs", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "has no checkpoint yet; starting it from the first epoch" in printed
    assert "resuming with --epochs 2 (the run had 4)" in printed
    assert len(history_without_timings(out)) == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["resumed_with"] == {"epochs": 2}
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["train"]["epochs"] == 2 and config["shaping"]["max_len"] == 60


def test_epochs_of_a_laid_out_schedule_cannot_change_on_resume(imdb_dir, tmp_path, capsys):
    from convseq.presets import get_preset
    from convseq.runs import RunFolder

    out = tmp_path / "tcn"
    config = get_preset("imdb-tcn").make_run({"data_dir": str(imdb_dir), "epochs": 2})
    RunFolder(out, config).file("config.json")  # an unfinished run: its config.json only
    refused(
        ["run", "imdb-tcn", "--resume", str(out), "--epochs", "3"],
        capsys,
        "the run's onecycle schedule was laid out for 2 epochs",
    )
    assert json.loads((out / "config.json").read_text())["config"]["train"]["epochs"] == 2
