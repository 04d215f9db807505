"""ONNX export of a forecaster: onnxruntime matches PyTorch within 1e-4, and the export folder
holds everything needed to forecast without convseq."""

import json

import numpy as np
import pytest
import torch

import convseq
from convseq.cli import main
from tests.forecast_helpers import hourly_values, refused, train_forecast, write_series

ort = pytest.importorskip(
    "onnxruntime", reason="onnxruntime not installed (pip install 'convseq[onnx]')"
)
pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'convseq[onnx]')")

ROWS = 400


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """series-cnn-gru trained with recurrent dropout (its own GRU loop), exported in eval mode."""
    folder = tmp_path_factory.mktemp("export-series")
    data = write_series(folder / "plant.csv", rows=ROWS)
    run = folder / "run"
    assert train_forecast(data, run, "--epochs", "1", "--units", "kW") == 0
    assert main(["export", str(run), "--format", "onnx"]) == 0
    return data, run, run / "export"


def test_onnxruntime_matches_pytorch(exported):
    data, run, export = exported
    assert {p.name for p in export.iterdir()} == {
        "model.onnx",
        "normalization.json",
        "signature.json",
    }
    signature = json.loads((export / "signature.json").read_text())
    assert signature["format"] == "convseq-onnx-series-forecaster"
    assert signature["check"]["max_abs_diff_vs_pytorch"] <= 1e-4

    forecaster = convseq.load(run)
    stats = json.loads((export / "normalization.json").read_text())
    values = hourly_values(ROWS)
    normalized = ((values - stats["mean"]) / stats["std"]).astype(np.float32)
    starts = np.arange(0, ROWS - forecaster.span + 1, 7)
    windows = forecaster.window_inputs(normalized, starts)  # (n, 24, 2), normalized
    raw = forecaster.window_inputs(values.astype(np.float32), starts)  # the same, in units
    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    forecast, forecast_normalized = session.run(None, {"window": raw})
    with torch.no_grad():
        expected = forecaster.model(torch.from_numpy(windows)).numpy()
    assert forecast_normalized.shape == expected.shape == (len(starts),)
    assert np.abs(forecast_normalized - expected).max() <= 1e-4
    std, mean = forecaster.target_scale
    assert np.abs(forecast - (expected * std + mean)).max() <= 1e-4
    for batch in (1, 3):  # any batch size
        assert session.run(["forecast"], {"window": raw[:batch]})[0].shape == (batch,)


def test_the_signature_is_enough_to_forecast_without_convseq(exported):
    data, run, export = exported
    signature = json.loads((export / "signature.json").read_text())
    window = signature["window"]
    assert (window["lookback"], window["step"], window["delay"]) == (48, 2, 4)
    assert window["horizon"] == 6 and window["time_column"] == "time" and window["units"] == "kW"
    (inputs,) = signature["inputs"]
    assert inputs["shape"] == ["batch", 24, 2] and inputs["columns"] == ["load", "temp"]
    # cut the last window as the signature says, straight from the CSV's columns
    table = np.genfromtxt(data, delimiter=",", names=True, dtype=None, encoding="utf-8")
    rows = np.stack([table[c] for c in inputs["columns"]], axis=1).astype(np.float32)
    latest = rows[-window["span"] :: window["step"]][None]
    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    (forecast,) = session.run(["forecast"], {"window": latest})
    assert forecast[0] == pytest.approx(convseq.load(run).predict(data).value, abs=1e-4)


def test_a_failed_export_keeps_the_previous_one(exported, capsys, monkeypatch):
    _, run, export = exported
    before = (export / "model.onnx").read_bytes()

    def failing_export(*args, **kwargs):
        raise RuntimeError("no luck")

    monkeypatch.setattr("torch.onnx.export", failing_export)
    refused(["export", str(run)], capsys, "could not be exported to ONNX (no luck)")
    assert (export / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
