import json
import subprocess
import sys

import pytest

from convseq.cli import main

RUN_FILES = {
    "config.json",
    "history.csv",
    "curves.png",
    "model.safetensors",
    "tokenizer.json",
    "metrics.json",
}


def test_list_shows_experiments(capsys):
    assert main(["list"]) == 0
    assert "imdb-cnn" in capsys.readouterr().out


def test_imdb_cnn_end_to_end_on_tiny_data(imdb_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "imdb-cnn",
            "--data-dir",
            str(imdb_dir),
            "--epochs",
            "2",
            "--max-len",
            "60",
            "--vocab-size",
            "40",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES
    printed = capsys.readouterr().out
    assert "Total params" in printed and "Epoch 2/2" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_epoch"] in (1, 2) and 0 <= metrics["test_acc"] <= 1
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["max_len"] == 60 and config["config"]["seed"] == 0
    assert "torch" in config["environment"]
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,loss,acc,val_loss,val_acc")
    # a finished run folder is never overwritten
    assert main(["run", "imdb-cnn", "--data-dir", str(imdb_dir), "--out", str(out)]) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "imdb-cnnn"], "did you mean 'imdb-cnn'"),
        (["run", "imdb-cnn", "--max-len", "0"], "--max-len must be a positive"),
        (["run", "imdb-cnn", "--epochs", "0"], "--epochs must be at least 1"),
        (["run", "imdb-cnn", "--data-dir", "/nonexistent/folder"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.json"))


def test_corrupt_tarball_via_cli(tmp_path, capsys):
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"not a tarball")
    assert main(["run", "imdb-cnn", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "not a readable IMDB tarball" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_module_entry_point_and_bad_option_value():
    done = subprocess.run(
        [sys.executable, "-m", "convseq", "run", "imdb-cnn", "--lr", "fast"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "invalid float value" in done.stderr


def test_too_short_max_len_for_model(imdb_dir, tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "imdb-cnn",
                "--data-dir",
                str(imdb_dir),
                "--max-len",
                "20",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "needs at least 41 tokens" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_every_run_gets_its_threads_setting_and_gives_the_count_back(tmp_path):
    import torch

    from convseq.cli.run import run_in_folder
    from convseq.errors import UserError
    from convseq.experiments.registry import Experiment

    seen = []

    def run(settings, folder):
        seen.append(torch.get_num_threads())
        return {}

    experiment = Experiment("threads-probe", "", "", {"threads": 0, "seed": 0}, run)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        run_in_folder(experiment, {"threads": 1}, out=str(tmp_path / "one"))
        run_in_folder(experiment, {}, out=str(tmp_path / "default"))
        assert seen == [1, 2] and torch.get_num_threads() == 2
        with pytest.raises(UserError, match="--threads must be 0 or positive"):
            run_in_folder(experiment, {"threads": -1}, out=str(tmp_path / "bad"))
    finally:
        torch.set_num_threads(before)


def test_train_text_honours_threads(tmp_path, monkeypatch):
    import torch

    import convseq.workflows.train_text as train_text
    from convseq.errors import UserError

    seen = []

    def record_and_stop(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise UserError("stopped after reading the thread count")

    monkeypatch.setattr(train_text, "train_text_classifier", record_and_stop)
    data = tmp_path / "reviews.csv"
    rows = "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20))
    data.write_text("text,label\n" + rows)
    argv = ["train", "text", str(data), "--threads", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert seen == [1]
