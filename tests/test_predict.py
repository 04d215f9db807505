"""Loading runs and predicting: exact fast paths, the predict/evaluate CLI, refusing bad folders."""

import io
import json
import random
import shutil
import sys

import numpy as np
import pytest
import torch
from tokenizers import normalizers

import convseq
from convseq.cli import main
from convseq.data.tokenize import encode, fit_tokenizer
from convseq.inference.encode import TextEncoder
from convseq.inference.fold import FoldedTextCNN
from convseq.models import TextShape, build_model
from tests.text_helpers import SENTIMENT, TOPICS, make_rows, train, write_csv

TRICKY = [
    "",
    "A GREAT film<br />loved it",
    "<BR/>upper<br   />tag<br\x1c/>odd space<br\t/>tab",
    "don't stop_me now 42 times!!",
    "tabs\tnew\nlines\rform\x0cfeed\x0bvt\x1cfs\x1fus",
    "caf\u00e9 na\u00efve STRASSE stra\u00dfe \u0130stanbul \u03a3\u039f\u03a3",
    "emoji \U0001f600 and \u2028 line sep \u00a0 nbsp \u200d zwj",
    "\u0939\u093f\u0928\u094d\u0926\u0940 combining marks \uff21\uff22 fullwidth",
    "special [PAD] and [UNK] tokens, [pad] lower",
    "x " * 200,
]


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(128)] + list("\u00e9\u00df\u0130\u03a3\u2028\u00a0")
    words = "great film awful plot the a of don't it's <br /> [PAD]".split()
    texts = []
    for _ in range(n):
        parts = [
            rng.choice(words) if rng.random() < 0.6 else rng.choice(alphabet)
            for _ in range(rng.randint(0, 40))
        ]
        texts.append(rng.choice(["", " ", "\t"]).join(parts))
    return texts


@pytest.mark.parametrize("truncating, padding", [("pre", "pre"), ("post", "post"), ("pre", "post")])
def test_fast_encoding_equals_the_tokenizer(truncating, padding):
    corpus = make_rows(SENTIMENT, 50) + [(t, "x") for t in TRICKY]
    tokenizer = fit_tokenizer([text for text, _ in corpus], vocab_size=40)
    texts = TRICKY + random_texts(300, seed=1)
    encoder = TextEncoder(tokenizer, 12, truncating, padding)
    assert encoder.fast
    expected = encode(tokenizer, texts, 12, truncating, padding)
    assert np.array_equal(encoder(texts), expected)


def test_other_tokenizers_use_the_full_tokenizer():
    tokenizer = fit_tokenizer(["Some Words here"], vocab_size=10)
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC()])  # keeps case
    encoder = TextEncoder(tokenizer, 5, "pre", "pre")
    assert not encoder.fast
    texts = ["Some words HERE", "some Words"]
    assert np.array_equal(encoder(texts), encode(tokenizer, texts, 5))


@pytest.mark.parametrize("outputs, padding", [(1, "pre"), (3, "pre"), (1, "post")])
def test_folded_reference_convnet_is_the_same_function(outputs, padding):
    torch.manual_seed(0)
    model = build_model("text-cnn", TextShape(vocab_size=50, num_outputs=outputs)).eval()
    folded = FoldedTextCNN.from_model(model, pad_id=0, padding=padding)
    assert folded is not None, "text-cnn should have an exact folded form"
    ids = torch.randint(1, 50, (40, 120))
    for row in range(40):  # every amount of padding, 0 to all of it
        pad = row * 3
        if padding == "pre":
            ids[row, :pad] = 0
        else:
            ids[row, 120 - pad :] = 0
    with torch.no_grad():
        expected = model(ids).numpy()
    got = folded.logits(ids.numpy(), batch_size=7)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("binary")
    data = write_csv(folder / "reviews.csv", make_rows(SENTIMENT, 80))
    assert train(data, folder / "run", "--epochs", "3") == 0
    return folder / "run"


@pytest.fixture(scope="module")
def topic_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topics")
    data = write_csv(folder / "news.csv", make_rows(TOPICS, 120), header=("headline", "topic"))
    args = ["--text-column", "headline", "--label-column", "topic", "--epochs", "3"]
    assert train(data, folder / "run", *args) == 0
    return folder / "run"


def test_api_predictions_equal_the_model_on_plain_encoding(binary_run, monkeypatch):
    import convseq.inference.text as text_module

    classifier = convseq.load(binary_run)
    texts = [text for text, _ in make_rows(SENTIMENT, 30, seed=5)] + TRICKY[1:]
    monkeypatch.setattr(text_module, "PIPELINE_CHUNK", 7)  # exercise the encode/forward pipeline
    probs = classifier.probabilities(texts)
    ids = torch.from_numpy(encode(classifier.tokenizer, texts, 48))
    with torch.no_grad():
        positive = torch.sigmoid(classifier.model(ids)).numpy()
    assert np.abs(probs[:, 1] - positive).max() < 1e-5
    predictions = classifier.predict(texts)
    assert [p.label for p in predictions] == [["neg", "pos"][int(p > 0.5)] for p in positive]
    assert torch.get_num_threads() >= 1 and all(0.5 <= p.probability <= 1 for p in predictions)


def test_predict_cli_csv_json_and_stdin(binary_run, tmp_path, capsys, monkeypatch):
    lines = ["great wonderful superb fun", "", "awful boring terrible dull"]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n")
    assert main(["predict", str(binary_run), str(source)]) == 0
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert rows[0] == "label,probability" and len(rows) == 4
    assert rows[2] == "," and rows[1].split(",")[0] in ("pos", "neg")
    assert "1 empty line got no prediction" in captured.err

    out = tmp_path / "p.json"
    assert (
        main(["predict", str(binary_run), str(source), "--format", "json", "--output", str(out)])
        == 0
    )
    predictions = json.loads(out.read_text())
    assert len(predictions) == 3 and predictions[1] == {"label": None, "probability": None}
    assert 0.5 <= predictions[0]["probability"] <= 1

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(source.read_bytes())))
    assert main(["predict", str(binary_run), "-"]) == 0
    assert capsys.readouterr().out.splitlines() == rows


def test_predict_runs_on_its_threads_and_gives_the_count_back(binary_run, tmp_path, monkeypatch):
    from convseq.inference.text import TextClassifier

    seen = []
    forward = TextClassifier.logits_of_ids

    def recording(self, ids, batch_size=256):
        seen.append(torch.get_num_threads())
        return forward(self, ids, batch_size)

    monkeypatch.setattr(TextClassifier, "logits_of_ids", recording)
    source = tmp_path / "in.txt"
    source.write_text("great fun\n")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main(["predict", str(binary_run), str(source)]) == 0  # default: one thread
        assert main(["predict", str(binary_run), str(source), "--threads", "3"]) == 0
        assert seen == [1, 3] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_predict_reads_a_tables_text_column(topic_run, tmp_path, capsys):
    table = write_csv(tmp_path / "new.csv", make_rows(TOPICS, 6, seed=9), header=("headline", "x"))
    assert main(["predict", str(topic_run), str(table)]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 6 and {r.split(",")[0] for r in rows} <= {"food", "sport", "tech"}


def test_evaluate_cli_reports_scores_and_baseline(topic_run, tmp_path, capsys):
    data = write_csv(
        tmp_path / "test.csv", make_rows(TOPICS, 30, seed=3), header=("headline", "topic")
    )
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(topic_run), str(data), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "majority-class baseline" in printed and "macro-F1" in printed and "sport" in printed
    scores = json.loads(out.read_text())
    assert scores["texts"] == 30 and np.sum(scores["confusion"]) == 30
    assert scores["acc"] > scores["baseline_acc"] == pytest.approx(1 / 3)


def refused(argv, capsys, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate_weights", "is corrupted"),
        ("flip_weights", "is corrupted"),
        ("newer_version", "newer than this convseq"),
        ("other_format", "run-folder format 99"),
        ("unfinished", "unfinished run"),
        ("broken_config", "is corrupted"),
        ("no_tokenizer", "lacks its tokenizer"),
    ],
)
def test_damaged_or_foreign_run_folders_are_refused(damage, message, binary_run, tmp_path, capsys):
    run = shutil.copytree(binary_run, tmp_path / "run")
    weights, config = run / "model.safetensors", run / "config.json"
    if damage == "truncate_weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "flip_weights":
        data = bytearray(weights.read_bytes())
        data[-100] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage in ("newer_version", "other_format"):
        raw = json.loads(config.read_text())
        raw["environment"].update(
            {"convseq": "9.0.0"} if damage == "newer_version" else {"run_format": 99}
        )
        config.write_text(json.dumps(raw))
    elif damage == "unfinished":
        (run / "metrics.json").unlink()
    elif damage == "broken_config":
        config.write_text('{"config": {')
    else:
        (run / "tokenizer.json").unlink()
    source = tmp_path / "in.txt"
    source.write_text("great fun\n")
    refused(["predict", str(run), str(source)], capsys, message)


def test_output_never_overwrites_the_input(binary_run, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("great fun\n")
    refused(
        ["predict", str(binary_run), str(source), "--output", str(source)],
        capsys,
        "is an input file",
    )
    assert source.read_text() == "great fun\n"
    refused(["predict", str(tmp_path / "nope"), str(source)], capsys, "does not exist")
    refused(["predict", str(tmp_path), str(source)], capsys, "not a convseq run folder")
