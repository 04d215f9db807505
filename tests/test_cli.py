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
    "confusion.png",
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
    assert f"run folder: {out}" in printed
    assert "Total params" in printed and "Epoch 2/2" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_epoch"] in (1, 2) and 0 <= metrics["test_acc"] <= 1
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["preset"] == "imdb-cnn" and config["config"]["task"] == "text"
    assert config["config"]["shaping"]["max_len"] == 60
    assert config["config"]["shaping"]["vocab_size"] == 40
    assert config["config"]["train"]["seed"] == 0 and config["config"]["train"]["epochs"] == 2
    assert config["config"]["source"]["kind"] == "imdb"
    assert config["config"]["model"]["name"] == "text-cnn"
    assert "torch" in config["environment"] and config["environment"]["run_format"] == 2
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,loss,acc,val_loss,val_acc")
    # a finished run folder is never overwritten
    assert main(["run", "imdb-cnn", "--data-dir", str(imdb_dir), "--out", str(out)]) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "imdb-cnnn"], "did you mean 'imdb-cnn'"),
        (["run", "imdb-cnn", "--max-len", "-1"], "--max-len must be at least 0, got -1"),
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


@pytest.fixture
def threads_probe(monkeypatch):
    """The text pipeline replaced by one that records torch's thread count during the run."""
    import torch

    from convseq import pipelines

    seen = []

    def probe(config, folder):
        seen.append(torch.get_num_threads())
        return {}

    monkeypatch.setitem(pipelines.PIPELINES, "text", probe)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield seen
    torch.set_num_threads(before)


def test_threads_apply_during_the_run_and_are_given_back(threads_probe, tmp_path, capsys):
    import torch

    def run(name, *extra):
        out = tmp_path / f"{name}-{len(threads_probe)}"
        return main(["run", name, "--out", str(out), *extra])

    assert run("imdb-cnn", "--threads", "3") == 0  # the option
    assert torch.get_num_threads() == 2
    assert run("imdb-cnn") == 0  # the preset's own default (Preset.threads = 1)
    assert torch.get_num_threads() == 2
    assert run("imdb-tcn") == 0  # threads = 0: the caller's count is left as it is
    assert threads_probe == [3, 1, 2] and torch.get_num_threads() == 2
    assert run("imdb-cnn", "--threads", "-1") == 2
    assert "--threads must be 0 or positive" in capsys.readouterr().err
    assert threads_probe == [3, 1, 2] and torch.get_num_threads() == 2


def test_train_text_honours_threads_and_restores_them_after_an_error(tmp_path, monkeypatch):
    import torch

    import convseq.pipelines.text as text_pipeline
    from convseq.errors import UserError

    seen = []

    def record_and_stop(config):
        seen.append(torch.get_num_threads())
        raise UserError("stopped after reading the thread count")

    monkeypatch.setattr(text_pipeline, "load", record_and_stop)
    data = tmp_path / "reviews.csv"
    rows = "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20))
    data.write_text("text,label\n" + rows)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        argv = [
            "train",
            "text",
            str(data),
            "--model",
            "text-cnn",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "run"),
        ]
        assert main(argv) == 2
        assert seen == [1] and torch.get_num_threads() == 2
        assert not (tmp_path / "run").exists()  # stopped before training: nothing left behind
    finally:
        torch.set_num_threads(before)
