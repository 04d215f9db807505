"""The Python API example of docs/own-data.md runs as written, and the API refuses bad calls."""

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


def test_api_refuses_bad_calls(tmp_path):
    with pytest.raises(UserError, match="needs a data file"):
        convseq.train_text()
    data = write_csv(tmp_path / "d.csv", make_rows(SENTIMENT, 10))
    with pytest.raises(UserError, match="unknown settings for train-text: epoch"):
        convseq.train_text(data, epoch=3)
    with pytest.raises(UserError, match="does not exist"):
        convseq.load(tmp_path / "no-run")
    with pytest.raises(AttributeError):
        convseq.no_such_function  # noqa: B018


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    import convseq.cli.run as run_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_module.time, "strftime", lambda fmt: "20260101-120000")
    first = run_module.unused_default_folder("train-text")
    first.mkdir(parents=True)
    assert run_module.unused_default_folder("train-text").name == "20260101-120000-2"
