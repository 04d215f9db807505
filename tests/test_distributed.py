"""torchrun: two processes on the CPU (gloo) train as one process does, and only rank 0 writes.

Each test launches ``python -m torch.distributed.run --standalone
--nproc_per_node 2 -m convseq ...`` and compares the run with one process on
the same global batches. Dropout is off, so both see the same function; the
weights then differ only by the order in which float sums are added (the
all-reduce adds two half-batch gradients): within 1e-5 after a few steps.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from convseq.cli import main
from tests.forecast_helpers import WINDOW, write_series
from tests.text_helpers import TOPICS, make_rows, write_csv

TOLERANCE = 1e-5
SRC = str(Path(__file__).resolve().parents[1] / "src")
ROOT = str(Path(__file__).resolve().parents[1])


def torchrun(args: list[str], cwd: Path, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, ROOT])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def weights_gap(one: Path, two: Path) -> float:
    a, b = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


CASES = {
    "series-cnn-gru": lambda tmp: [
        "train",
        "forecast",
        str(write_series(tmp / "load.csv")),
        "--time-column",
        "time",
        "--target",
        "load",
        *WINDOW,
        "--model",
        "series-cnn-gru",
        "--epochs",
        "2",
        "--batch-size",
        "30",
        "--dropout",
        "0",
        "--recurrent-dropout",
        "0",
    ],  # fmt: skip
    "text-cnn": lambda tmp: [
        "train",
        "text",
        str(write_csv(tmp / "news.csv", make_rows(TOPICS, 90))),
        "--model",
        "text-cnn",
        "--epochs",
        "2",
        "--max-len",
        "48",
        "--batch-size",
        "10",
    ],  # fmt: skip
}


@pytest.mark.parametrize("model", sorted(CASES))
def test_two_processes_end_with_the_weights_of_one(model, tmp_path):
    argv = CASES[model](tmp_path)
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    done = torchrun(["-m", "convseq", *argv, "--out", str(tmp_path / "two")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert weights_gap(tmp_path / "one", tmp_path / "two") <= TOLERANCE
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert one["best_epoch"] == two["best_epoch"]
    key = "test_mae" if "test_mae" in one else "best_val_loss"
    assert two[key] == pytest.approx(one[key], abs=1e-4)  # validation sums reduced over ranks
    # rank 0 alone wrote: the same files as one process, nothing else in the working folder
    assert {p.name for p in (tmp_path / "two").iterdir()} == {
        p.name for p in (tmp_path / "one").iterdir()
    }
    assert not (tmp_path / "runs").exists()
    assert done.stdout.count("run folder:") == 1 and done.stdout.count("metrics:") == 1
    placement = json.loads((tmp_path / "two" / "config.json").read_text())["environment"]
    assert (placement["processes"], placement["device"]) == (2, "cpu")


KILLER = """
import os, sys
import convseq.training.trainer as trainer
original = trainer.Trainer._save_checkpoint

def save_then_die(self, epoch, schedule):
    original(self, epoch, schedule)
    if epoch == 1 and self.ranks.rank == 1:
        os._exit(3)  # rank 1 dies after the first epoch's checkpoint

trainer.Trainer._save_checkpoint = save_then_die
from convseq.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_rank_that_dies_fails_the_job_and_resume_completes_it(tmp_path):
    argv = CASES["series-cnn-gru"](tmp_path)
    script = tmp_path / "die.py"
    script.write_text(KILLER)
    out = tmp_path / "run"
    died = torchrun([str(script), *argv, "--epochs", "3", "--out", str(out)], tmp_path)
    assert died.returncode != 0
    assert "die.py FAILED" in died.stderr and "exitcode  : 3" in died.stderr
    assert (out / "checkpoint.pt").exists() and not (out / "metrics.json").exists()
    resumed = torchrun(["-m", "convseq", "train", "forecast", "--resume", str(out)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3
    assert main([*argv, "--epochs", "3", "--out", str(tmp_path / "one")]) == 0
    assert weights_gap(out, tmp_path / "one") <= TOLERANCE


def test_shards_are_refused_under_torchrun(tmp_path):
    argv = CASES["series-cnn-gru"](tmp_path)
    done = torchrun(
        ["-m", "convseq", *argv, "--shards", "2", "--out", str(tmp_path / "r")], tmp_path
    )
    assert done.returncode != 0
    assert "under torchrun use --shards 1" in done.stderr
