"""The Python API example of docs/own-data.md runs as written, and the API refuses bad calls."""

import json
import re
from pathlib import Path

import pytest

import convseq
from convseq.errors import UserError
from tests.text_helpers import SENTIMENT, make_rows, write_csv

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-data.md"


def example_code() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- example: api -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"{DOC} lost its API example"
    return match.group(1)


def test_readme_api_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "reviews.csv", make_rows(SENTIMENT, 80))
    exec(compile(example_code(), str(DOC), "exec"), {})
    printed = capsys.readouterr().out
    assert "['neg', 'pos']" in printed
    assert (tmp_path / "runs" / "reviews" / "model.safetensors").exists()
    assert convseq.load(tmp_path / "runs" / "reviews").labels == ["neg", "pos"]


def test_api_refuses_bad_calls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="pass the data"):
        convseq.train_text()
    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 10))
    with pytest.raises(UserError, match="has no setting 'epoch' \\(did you mean 'epochs'\\?\\)"):
        convseq.train_text(data, epoch=3)
    with pytest.raises(UserError, match="--embed-dim must be a whole number, got .wide."):
        convseq.train_text(data, model="text-cnn", model_settings={"embed_dim": "wide"})
    with pytest.raises(UserError, match="--embed-dim is a setting of text-cnn.*pass --model NAME"):
        convseq.train_text(data, model_settings={"embed_dim": 64})  # the default, auto
    with pytest.raises(UserError, match="--classes needs at least two different classes"):
        convseq.train_text(data, classes=["neg", "neg"])
    assert not (tmp_path / "runs").exists()  # refused before any folder was made
    with pytest.raises(UserError, match="does not exist"):
        convseq.load(tmp_path / "no-run")
    with pytest.raises(AttributeError):
        convseq.no_such_function  # noqa: B018


def test_model_settings_as_a_dict_or_as_keywords_and_threads_left_alone(tmp_path):
    import torch

    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 40))
    quick = dict(epochs=1, max_len=48, vocab_size=60, batch_size=16)
    before = torch.get_num_threads()
    quick["model"] = "text-cnn"
    as_dict = convseq.train_text(
        data, model_settings={"embed_dim": 8}, channels=4, out=tmp_path / "a", **quick
    )
    as_keywords = convseq.train_text(data, embed_dim=8, channels=4, out=tmp_path / "b", **quick)
    assert torch.get_num_threads() == before  # the API never changes the caller's threads
    for classifier, folder in ((as_dict, "a"), (as_keywords, "b")):
        config = json.loads((tmp_path / folder / "config.json").read_text())["config"]
        settings = config["model"]["settings"]
        assert settings == {"embed_dim": 8, "channels": 4, "kernel_size": 7, "pool": 5}
        assert config["preset"] == "train-text" and config["dataset"] == "d"
        assert classifier.model.embedding.weight.shape[1] == 8
    assert as_dict.predict(["great fun"])[0].label in ("neg", "pos")


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    import convseq.runs as runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runs.time, "strftime", lambda fmt: "20260101-120000")
    first = runs.default_folder("train-text")
    assert first == Path("runs") / "train-text" / "20260101-120000"
    first.mkdir(parents=True)
    assert runs.default_folder("train-text").name == "20260101-120000-2"
