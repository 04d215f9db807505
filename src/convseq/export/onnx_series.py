"""ONNX export of a forecaster, with the normalization and window settings needed to use it.

``model.onnx`` takes windows in the CSV's own units, ``(batch, length,
columns)``, and returns the forecast in the target's units (plus the model's
normalized output): the training statistics are built into the graph, so the
caller only cuts the window. A ``--horizon`` run's forecast is its whole
output, each target in its own units: ``(batch, H, targets)``, or
``(batch, H, targets, quantiles)``. ``normalization.json`` holds those statistics
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
    onnxruntime_outputs,
    staged_export,
    to_onnx,
)
from convseq.models.forecast import final_horizon
from convseq.version import __version__
from convseq.wording import every, plural


class InUnits(torch.nn.Module):
    """The forecaster on raw windows: normalize, run the model, map the forecast back to units.

    A model trained on paths (``--horizons all``) gives its final horizon, the
    forecast, as the others do; one trained with ``--horizon`` (``paths``) its
    whole output, each target by its own statistics (``scale`` and ``offset``
    shaped to broadcast over it, ``SeriesForecaster.units_scale``).
    """

    def __init__(self, model: torch.nn.Module, mean, std, scale, offset, paths: bool = False):
        super().__init__()
        self.model, self.paths = model, paths
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32))

    def forward(self, window: torch.Tensor):
        output = self.model((window - self.mean) / self.std)
        normalized = output if self.paths else final_horizon(output)
        return normalized * self.scale + self.offset, normalized


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
    scale, offset = forecaster.units_scale()
    wrapper = InUnits(
        forecaster.model, forecaster.mean, forecaster.std, scale, offset, bool(forecaster.steps)
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
    if forecaster.steps:
        stats.update(targets=forecaster.targets, target_indices=forecaster.target_indices)
    write_json(folder / "normalization.json", stats)
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
        "outputs": path_outputs(forecaster) if forecaster.steps else value_outputs(forecaster),
        "window": forecaster.window,
        "normalization": {"file": "normalization.json", "built_into_model": True},
        "check": _check_with_onnxruntime(onnx_path, wrapper, forecaster),
    }
    write_json(folder / "signature.json", signature)


def value_outputs(forecaster) -> list[dict]:
    """The outputs of a run that forecasts one value: the target in its units, and normalized."""
    units = forecaster.units
    return [
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
    ]


def path_outputs(forecaster) -> list[dict]:
    """The outputs of a ``--horizon`` run: each target's path in its units, and normalized."""
    axes = ["batch", "step", "target", *(["quantile"] if forecaster.quantiles else [])]
    shape = ["batch", *forecaster.output_shape]
    layout = {
        "dtype": "float32",
        "shape": shape,
        "axes": axes,
        "steps": list(range(1, forecaster.steps + 1)),
        "rows_ahead": forecaster.rows_ahead,
        "targets": forecaster.targets,
        **({"quantiles": forecaster.quantiles} if forecaster.quantiles else {}),
    }
    levels = (
        f"; the last axis is the quantile levels {', '.join(f'{q:g}' for q in forecaster.quantiles)}"
        f" (the 0.5 level is the forecast)"
        if forecaster.quantiles
        else ""
    )
    units = f" ({forecaster.units})" if forecaster.units else ""
    return [
        {
            "name": "forecast",
            **layout,
            "meaning": f"[b, s - 1, t]: target t at step s, {forecaster.rows_ahead[0]} + s - 1 rows "
            f"after the window's last row, in that target's units{units}{levels}",
        },
        {
            "name": "forecast_normalized",
            **layout,
            "meaning": "the same forecast before un-normalizing: (forecast - mean) / std of "
            "each target, with normalization.json's statistics",
        },
    ]


def _check_with_onnxruntime(onnx_path: Path, wrapper, forecaster) -> dict:
    """Largest difference from PyTorch on random windows (skipped without onnxruntime)."""
    if forecaster.steps:
        return _check_paths(onnx_path, wrapper, forecaster)
    gaps = onnxruntime_gaps(
        onnx_path, wrapper, "window", example_windows(forecaster, 64, seed=1),
        forecaster.model_name,
    )  # fmt: skip
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


def _check_paths(onnx_path: Path, wrapper, forecaster) -> dict:
    """As ``_check_with_onnxruntime``, each target's units output compared relative to its
    scale (the larger of 1, its mean's size and its std), so that large units stay fair."""
    inputs = example_windows(forecaster, 64, seed=1)
    found = onnxruntime_outputs(onnx_path, wrapper, "window", inputs, forecaster.model_name)
    if found is None:
        return NOT_CHECKED
    version, got, expected = found
    units, normalized = (np.abs(g - e) for g, e in zip(got, expected, strict=True))
    columns = forecaster.target_indices
    scale = np.maximum(1.0, np.maximum(np.abs(forecaster.mean[columns]), forecaster.std[columns]))
    relative = units / scale.reshape(wrapper.scale.shape)
    worst = max(float(normalized.max()), float(relative.max()))
    if worst > MAX_ABS_DIFF:
        raise not_written(forecaster.model_name, worst)
    return {
        "onnxruntime": version,
        "max_abs_diff_vs_pytorch": float(normalized.max()),
        "max_abs_diff_vs_pytorch_units": float(units.max()),
        "max_diff_vs_pytorch_units_relative": float(relative.max()),
        "units_scale": dict(zip(forecaster.targets, scale.tolist(), strict=True)),
    }
