"""ONNX export: the exported model, run by onnxruntime, matches PyTorch within 1e-4."""

import json

import numpy as np
import pytest
import torch

import convseq
from convseq.cli import main
from tests.text_helpers import SENTIMENT, TOPICS, make_rows, train, write_csv

ort = pytest.importorskip(
    "onnxruntime", reason="onnxruntime not installed (pip install 'convseq[onnx]')"
)
pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'convseq[onnx]')")


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    classes = SENTIMENT if request.param == "binary" else TOPICS
    data = write_csv(folder / "d.csv", make_rows(classes, 60))
    assert train(data, folder / "run", "--epochs", "1") == 0
    return folder / "run"


def test_onnx_export_matches_pytorch(run, capsys):
    from tokenizers import Tokenizer

    assert main(["export", str(run), "--format", "onnx"]) == 0
    export = run / "export"
    assert {p.name for p in export.iterdir()} == {
        "model.onnx",
        "tokenizer.json",
        "labels.json",
        "signature.json",
    }
    signature = json.loads((export / "signature.json").read_text())
    assert signature["check"]["max_abs_diff_vs_pytorch"] <= 1e-4
    classifier = convseq.load(run)
    assert signature["labels"] == classifier.labels

    texts = [t for t, _ in make_rows(SENTIMENT, 5, seed=4) + make_rows(TOPICS, 5, seed=4)]
    texts += ["", "unknown words only", "x " * 300]
    # everything needed comes with the export: its tokenizer gives the model's input directly
    tokenizer = Tokenizer.from_file(str(export / "tokenizer.json"))
    ids = np.array([e.ids for e in tokenizer.encode_batch(texts)], dtype=np.int64)
    assert np.array_equal(ids, classifier.encode(texts))

    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    logits, probabilities = session.run(["logits", "probabilities"], {"ids": ids})
    with torch.no_grad():
        expected = classifier.model(torch.from_numpy(ids)).numpy()
    assert logits.shape == expected.shape
    assert np.abs(logits - expected).max() <= 1e-4
    assert np.abs(probabilities - classifier.probabilities(texts)).max() <= 1e-4
    labels = [signature["labels"][k] for k in probabilities.argmax(axis=1)]
    assert labels == [p.label for p in classifier.predict(texts)]
    for batch in (1, 3):  # any batch size
        assert session.run(["logits"], {"ids": ids[:batch]})[0].shape[0] == batch


def test_export_refuses_folders_that_are_not_runs(run, tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    assert "not a convseq run folder" in capsys.readouterr().err
