"""`convseq train classify`, predict, evaluate, export (ONNX parity) and the API on a tiny archive
of unequal lengths; the shared GunPoint archive end to end when it is there."""

import json

import numpy as np
import pytest
import torch

import convseq
from convseq.cli import main
from convseq.errors import UserError
from tests.case_helpers import make_cases, ts_text, write_archive
from tests.conftest import SHARED_DATA

UCR = SHARED_DATA / "ucr"
QUICK = {
    "rocket": ["--kernels", "12"],
    "series-fcn": ["--filters", "8,8,8", "--epochs", "2", "--batch-size", "8"],
}


def train(tmp_path, model: str, channels: int = 1) -> tuple:
    folder = write_archive(tmp_path / "data", "Tiny", channels=channels, unequal=True)
    out = tmp_path / model
    argv = ["train", "classify", str(folder / "Tiny_TRAIN.ts"), "--test", str(folder / "Tiny_TEST.ts"),
            "--model", model, *QUICK[model], "--threads", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return folder, out


@pytest.mark.parametrize("model", sorted(QUICK))
def test_train_predict_evaluate_export_on_a_tiny_archive(tmp_path, capsys, model):
    folder, out = train(tmp_path, model, channels=2)
    shown = capsys.readouterr().out
    assert "1-NN Euclidean: acc" in shown and "majority-class baseline ('up')" in shown
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_acc", "test_macro_f1", "baseline_test_acc", "nn_test_acc", "best_val_acc"):
        assert 0 <= metrics[key] <= 1, key
    assert metrics["baseline_test_acc"] == 0.5
    if model == "rocket":  # the nets train for 2 epochs only
        assert metrics["test_acc"] >= 0.75
    assert (out / "confusion.png").is_file() and (out / "normalization.json").is_file()

    assert (
        main(
            ["predict", str(out), str(folder / "Tiny_TEST.ts"), "--output", str(tmp_path / "p.csv")]
        )
        == 0
    )
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "case,label,probability" and len(rows) == 17
    unlabelled = tmp_path / "new.ts"  # cases without labels: predicted, not scored
    unlabelled.write_text("@dimensions 2\n@classLabel false\n@data\n" + "1,2,3,4:4,3,2,1\n")
    assert main(["predict", str(out), str(unlabelled)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("1,")
    assert main(["evaluate", str(out), str(unlabelled)]) == 2
    assert "has no class labels" in capsys.readouterr().err
    scores_file = tmp_path / "scores.json"
    assert (
        main(["evaluate", str(out), str(folder / "Tiny_TEST.ts"), "--output", str(scores_file)])
        == 0
    )
    scores = json.loads(scores_file.read_text())
    assert scores["acc"] == pytest.approx(metrics["test_acc"]) and scores["cases"] == 16

    assert main(["export", str(out), "--format", "onnx"]) == 0
    signature = json.loads((out / "export" / "signature.json").read_text())
    assert signature["check"]["max_abs_diff_vs_pytorch"] <= 1e-4
    import onnxruntime

    classifier = convseq.load(out)
    series, _ = make_cases(5, channels=2, unequal=True, seed=7)
    cases = classifier.inputs(classifier.cases(series)).numpy()  # NaN-padded to the run's length
    session = onnxruntime.InferenceSession(str(out / "export" / "model.onnx"))
    logits, probabilities = session.run(None, {"cases": cases})
    expected = classifier.logits(series)
    assert np.abs(logits - expected).max() <= 1e-4
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_api_trains_and_predicts_arrays_of_any_length(tmp_path):
    folder = write_archive(tmp_path / "data", "Tiny", unequal=True)
    before = torch.get_num_threads()
    classifier = convseq.train_classify(folder / "Tiny_TRAIN.ts", test=folder / "Tiny_TEST.ts",
                                        model_settings={"kernels": 200}, out=tmp_path / "run")  # fmt: skip
    assert torch.get_num_threads() == before
    long_case = np.linspace(-1, 1, 80)[None, :]  # longer than any training case: kept whole
    predictions = classifier.predict([long_case, -np.linspace(-1, 1, 25)])
    assert [p.label for p in predictions] == ["up", "down"]
    assert classifier.evaluate(folder / "Tiny_TEST.ts")["acc"] >= 0.75


def test_refused_inputs_are_one_line(tmp_path, capsys):
    folder = write_archive(tmp_path / "data", "Tiny")
    series, labels = make_cases(4)
    odd = tmp_path / "odd.ts"
    odd.write_text(ts_text(series, ["sideways"] * 4, classes=("sideways",)))
    argv = ["train", "classify", str(folder / "Tiny_TRAIN.ts"), "--test", str(odd), "--kernels", "50",
            "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(argv) == 2
    assert "has cases of class 'sideways'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert main(["run", "ucr", "--archive", "Nope", "--data-dir", str(folder)]) == 2
    assert "Nope_TRAIN and _TEST" in capsys.readouterr().err
    with pytest.raises(UserError, match="--normalize must be one of"):
        convseq.train_classify(folder / "Tiny_TRAIN.ts", normalize="zscore")


@pytest.mark.skipif(
    not (UCR / "GunPoint_TRAIN.ts").is_file(),
    reason="the shared GunPoint archive (ucr/GunPoint_TRAIN.ts, _TEST.ts) is not in ../shared/data",
)
def test_rocket_on_the_shared_gunpoint_archive(tmp_path):
    out = tmp_path / "gunpoint"
    argv = ["run", "ucr-gunpoint", "--data-dir", str(UCR), "--threads", "1", "--out", str(out)]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "GunPoint" and metrics["collection"] == "ucr"
    assert metrics["test_acc"] >= 0.99  # InceptionTime's published figure is 1.000
    assert metrics["nn_test_acc"] == pytest.approx(0.9133, abs=1e-3)  # the archive's 1-NN ED
    assert metrics["baseline_test_acc"] == pytest.approx(0.4933, abs=1e-3)


def test_compare_ucr_tabulates_every_archive_run(tmp_path, capsys):
    folder = write_archive(tmp_path / "data", "Tiny", unequal=True)
    for seed in (0, 1):
        argv = ["run", "ucr", "--archive", "Tiny", "--data-dir", str(folder), "--kernels", "12",
                "--kernel-seed", str(seed), "--out", str(tmp_path / "runs" / f"s{seed}")]  # fmt: skip
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["compare", "ucr", "--runs", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert "1-NN Euclidean" in table and "0 (kernels 1)" in table
    assert table.count("| Tiny | rocket |") == 2
