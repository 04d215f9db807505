"""Export a finished run to ONNX and read how far onnxruntime lands from PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convseq.cli import main


def exported_max_diff(run: Path) -> float:
    """``convseq export RUN --format onnx`` must succeed; the export's own check of the
    largest difference against PyTorch. Skips when the [onnx] extra is missing."""
    for package in ("onnxruntime", "onnxscript"):
        pytest.importorskip(
            package, reason=f"{package} not installed (pip install 'convseq[onnx]')"
        )
    assert main(["export", str(run), "--format", "onnx"]) == 0
    signature = json.loads((Path(run) / "export" / "signature.json").read_text())
    return signature["check"]["max_abs_diff_vs_pytorch"]
