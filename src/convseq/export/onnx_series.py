"""ONNX export of a forecaster, with the normalization and window settings needed to use it.

``model.onnx`` takes windows in the CSV's own units, ``(batch, length,
columns)``, and returns the forecast in the target's units (plus the model's
normalized output): the training statistics are built into the graph, so the
caller only cuts the window. ``normalization.json`` holds those statistics
and ``signature.json`` says how to cut a window and when its forecast is for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from convseq.atomic import write_json
from convseq.export.onnx import (
    MAX_ABS_DIFF,
    NOT_CHECKED,
    SIGNATURE_FORMAT,
    not_written,
    onnxruntime_gaps,
    staged_export,
    to_onnx,
)
from convseq.models.forecast import final_horizon
from convseq.version import __version__
from convseq.wording import every, plural


class InUnits(torch.nn.Module):
    """The forecaster on raw windows: normalize, run the model, map the forecast back to units.

    A model trained on paths gives its final horizon, the forecast, as the others do.
    """

    def __init__(self, model: torch.nn.Module, mean, std, target_index: int):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.target_index = target_index

    def forward(self, window: torch.Tensor):
        normalized = final_horizon(self.model((window - self.mean) / self.std))
        t = self.target_index
        return normalized * self.std[t] + self.mean[t], normalized


def export_series_forecaster(forecaster, out: str | Path | None = None) -> Path:
    return staged_export(
        out, forecaster.path / "export", lambda folder: _write_export(forecaster, folder)
    )


def example_windows(forecaster, batch: int, seed: int = 0) -> np.ndarray:
    """Windows in units, spread like the training data (mean +- 2 std)."""
    rng = np.random.default_rng(seed)
    shape = (batch, forecaster.length, len(forecaster.columns))
    return (forecaster.mean + 2 * forecaster.std * rng.standard_normal(shape)).astype(np.float32)


def _write_export(forecaster, folder: Path) -> None:
    wrapper = InUnits(
        forecaster.model, forecaster.mean, forecaster.std, forecaster.target_index
    ).eval()
    onnx_path = folder / "model.onnx"
    example = torch.from_numpy(example_windows(forecaster, 2))
    opset = to_onnx(
        wrapper,
        example,
        onnx_path,
        "window",
        ["forecast", "forecast_normalized"],
        forecaster.model_name,
    )
    stats = {
        "columns": forecaster.columns,
        "mean": forecaster.mean.tolist(),
        "std": forecaster.std.tolist(),
        "target": forecaster.target,
        "target_index": forecaster.target_index,
    }
    write_json(folder / "normalization.json", stats)
    units = forecaster.units
    signature = {
        "format": "convseq-onnx-series-forecaster",
        "format_version": SIGNATURE_FORMAT,
        "convseq": __version__,
        "model": forecaster.model_name,
        "onnx_file": "model.onnx",
        "opset": opset,
        "inputs": [
            {
                "name": "window",
                "dtype": "float32",
                "shape": ["batch", forecaster.length, len(forecaster.columns)],
                "columns": forecaster.columns,
                "from": f"the last {plural(forecaster.span, 'row')} of the series, "
                f"{every(forecaster.step)} (rows[-{forecaster.span}::{forecaster.step}]), "
                "oldest first, these columns, in the CSV's units (not normalized)",
            }
        ],
        "outputs": [
            {
                "name": "forecast",
                "dtype": "float32",
                "shape": ["batch"],
                "meaning": f"{forecaster.target} {plural(forecaster.horizon, 'row')} after "
                f"the window's last row{f', in {units}' if units else ''}",
            },
            {
                "name": "forecast_normalized",
                "dtype": "float32",
                "shape": ["batch"],
                "meaning": "the same forecast before un-normalizing: (forecast - mean) / std "
                "of the target, with normalization.json's statistics",
            },
        ],
        "window": forecaster.window,
        "normalization": {"file": "normalization.json", "built_into_model": True},
        "check": _check_with_onnxruntime(onnx_path, wrapper, forecaster),
    }
    write_json(folder / "signature.json", signature)


def _check_with_onnxruntime(onnx_path: Path, wrapper, forecaster) -> dict:
    """Largest difference from PyTorch on random windows (skipped without onnxruntime)."""
    gaps = onnxruntime_gaps(onnx_path, wrapper, "window", example_windows(forecaster, 64, seed=1))
    if gaps is None:
        return NOT_CHECKED
    version, diffs = gaps
    # the units output is compared relative to the target's scale, so large units stay fair
    scale = max(1.0, abs(float(forecaster.mean[forecaster.target_index])))
    if diffs[1] > MAX_ABS_DIFF or diffs[0] > MAX_ABS_DIFF * scale:
        raise not_written(forecaster.model_name, max(diffs))
    return {
        "onnxruntime": version,
        "max_abs_diff_vs_pytorch": diffs[1],
        "max_abs_diff_vs_pytorch_units": diffs[0],
    }
