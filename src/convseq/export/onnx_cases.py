"""ONNX export of a classifier of cases, with the scaling and labels needed to use it.

``model.onnx`` takes ``cases`` of shape ``(batch, time, channels)``: the
cases scaled as ``normalization.json`` says (gaps filled), padded with NaN
after each case's end to a common length of at least the training length.
It returns the logits and the class probabilities. ``signature.json`` says
so; when onnxruntime is installed the export is checked against PyTorch
(largest difference at most 1e-4) on cases of several lengths.
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
    WithProbabilities,
    not_written,
    onnxruntime_gaps,
    staged_export,
    to_onnx,
)
from convseq.version import __version__


def export_case_classifier(classifier, out: str | Path | None = None) -> Path:
    return staged_export(
        out, classifier.path / "export", lambda folder: _write_export(classifier, folder)
    )


def example_cases(classifier, seed: int = 0) -> np.ndarray:
    """Four cases of normal noise, the last two ending early (NaN padding)."""
    rng = np.random.default_rng(seed)
    cases = rng.standard_normal((4, classifier.length, classifier.channels)).astype(np.float32)
    cases[2, classifier.length // 2 :] = np.nan
    cases[3, max(1, classifier.length // 5) :] = np.nan
    return cases


def _write_export(classifier, folder: Path) -> None:
    binary = len(classifier.labels) == 2
    wrapper = WithProbabilities(classifier.model, binary).eval()
    example = torch.from_numpy(example_cases(classifier))
    onnx_path = folder / "model.onnx"
    opset = to_onnx(wrapper, example, onnx_path, "cases", ["logits", "probabilities"],
                    classifier.model_name)  # fmt: skip
    write_json(folder / "normalization.json", {"scaling": classifier.scaling.to_dict(),
                                                "labels": classifier.labels})  # fmt: skip
    n = len(classifier.labels)
    signature = {
        "format": "convseq-onnx-case-classifier",
        "format_version": SIGNATURE_FORMAT,
        "convseq": __version__,
        "model": classifier.model_name,
        "onnx_file": "model.onnx",
        "opset": opset,
        "inputs": [
            {
                "name": "cases",
                "dtype": "float32",
                "shape": ["batch", classifier.length, classifier.channels],
                "from": "each case (time, channels) scaled as normalization.json says (missing "
                "values interpolated), NaN after its end; cases longer than the training length "
                "need the PyTorch model (convseq predict)",
            }
        ],
        "outputs": [
            {"name": "logits", "dtype": "float32", "shape": ["batch"] if binary else ["batch", n]},
            {
                "name": "probabilities",
                "dtype": "float32",
                "shape": ["batch", n],
                "columns": classifier.labels,
            },
        ],  # fmt: skip
        "labels": classifier.labels,
        "scaling": classifier.scaling.to_dict(),
        "check": _check(onnx_path, wrapper, classifier),
    }
    write_json(folder / "signature.json", signature)


def _check(onnx_path: Path, wrapper, classifier) -> dict:
    gaps = onnxruntime_gaps(
        onnx_path, wrapper, "cases", example_cases(classifier, seed=1), classifier.model_name
    )
    if gaps is None:
        return NOT_CHECKED
    version, diffs = gaps
    if max(diffs) > MAX_ABS_DIFF:
        raise not_written(classifier.model_name, max(diffs))
    return {"onnxruntime": version, "max_abs_diff_vs_pytorch": max(diffs)}
