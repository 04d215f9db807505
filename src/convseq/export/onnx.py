"""ONNX export of a text classifier, with everything needed to use it without convseq.

(Series forecasters: ``onnx_series.py``, on the same staging and export helpers.)

The export folder holds ``model.onnx`` (input: token ids; outputs: logits and
class probabilities, any batch size), ``tokenizer.json`` set to cut and pad
exactly as in training (so ``Tokenizer.from_file(...).encode_batch(texts)``
gives the model's input), ``labels.json`` and ``signature.json`` describing
inputs, outputs and labels. When onnxruntime is installed, the export is run
once and its largest difference from PyTorch is recorded in ``signature.json``.
The folder is assembled aside and swapped in whole, so a failed export leaves
the previous one intact.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from convseq.atomic import write_json, write_with
from convseq.data.tokenize import PAD
from convseq.errors import UserError
from convseq.version import __version__

SIGNATURE_FORMAT = 1


def require_onnx() -> None:
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            raise UserError(
                f"ONNX export needs the {module} package; install it with: pip install 'convseq[onnx]'"
            ) from None


class WithProbabilities(torch.nn.Module):
    """The classifier with its probabilities as a second output, columns in label order."""

    def __init__(self, model: torch.nn.Module, binary: bool):
        super().__init__()
        self.model, self.binary = model, binary

    def forward(self, ids: torch.Tensor):
        logits = self.model(ids)
        if self.binary:
            positive = torch.sigmoid(logits)
            return logits, torch.stack([1 - positive, positive], dim=-1)
        return logits, torch.softmax(logits, dim=-1)


@contextlib.contextmanager
def quiet_exporter():
    """The exporter logs progress and warnings about optional packages; keep the CLI's output clean."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def staged_export(out: str | Path | None, default: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(folder)`` on a fresh folder beside ``out``, then swap it in whole."""
    require_onnx()
    out = Path(out) if out else default
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; pass a folder with --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}"
    staging.mkdir()  # the umask's mode, as a plain mkdir gives (mkdtemp's is private)
    try:
        write(staging)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def to_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_names: list[str],
    model_name: str,
) -> int | None:
    """Export ``module`` (any batch size) to one self-contained file; return its opset."""
    with quiet_exporter(), torch.inference_mode(False), torch.no_grad():
        try:
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=[input_name],
                output_names=output_names,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                external_data=False,  # one self-contained file (models here are far below 2 GB)
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many error types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"model {model_name!r} could not be exported to ONNX ({first})"
            ) from None
    import onnx  # an optional package (the onnx extra), needed only here

    return next((o.version for o in onnx.load(str(path)).opset_import if o.domain == ""), None)


def export_text_classifier(classifier, out: str | Path | None = None) -> Path:
    return staged_export(
        out, classifier.path / "export", lambda folder: _write_export(classifier, folder)
    )


def _write_export(classifier, folder: Path) -> None:
    binary = len(classifier.labels) == 2
    wrapper = WithProbabilities(classifier.model, binary).eval()
    example = torch.from_numpy(classifier.encode(["an example text", "another one"]))
    onnx_path = folder / "model.onnx"
    opset = to_onnx(
        wrapper, example, onnx_path, "ids", ["logits", "probabilities"], classifier.model_name
    )

    tokenizer = classifier.tokenizer
    side = {"pre": "left", "post": "right"}
    tokenizer.enable_truncation(classifier.max_len, direction=side[classifier.truncating])
    tokenizer.enable_padding(
        direction=side[classifier.padding],
        pad_id=tokenizer.token_to_id(PAD),
        pad_token=PAD,
        length=classifier.max_len,
    )
    try:
        write_with(folder / "tokenizer.json", lambda tmp: tokenizer.save(tmp))
    finally:
        tokenizer.no_truncation()
        tokenizer.no_padding()
    write_json(folder / "labels.json", {"labels": classifier.labels})
    n = len(classifier.labels)
    signature = {
        "format": "convseq-onnx-text-classifier",
        "format_version": SIGNATURE_FORMAT,
        "convseq": __version__,
        "model": classifier.model_name,
        "onnx_file": "model.onnx",
        "opset": opset,
        "inputs": [
            {
                "name": "ids",
                "dtype": "int64",
                "shape": ["batch", classifier.max_len],
                "from": "tokenizer.json: ids of Tokenizer.from_file('tokenizer.json').encode_batch(texts)",
            }
        ],
        "outputs": [
            {
                "name": "logits",
                "dtype": "float32",
                "shape": ["batch"] if binary else ["batch", n],
                "meaning": "sigmoid gives the probability of labels[1]"
                if binary
                else "softmax gives the class probabilities",
            },
            {
                "name": "probabilities",
                "dtype": "float32",
                "shape": ["batch", n],
                "columns": classifier.labels,
            },
        ],
        "labels": classifier.labels,
        "tokenizer": {
            "file": "tokenizer.json",
            "max_len": classifier.max_len,
            "truncation_side": side[classifier.truncating],
            "padding_side": side[classifier.padding],
            "pad_id": tokenizer.token_to_id(PAD),
        },
        "check": _check_with_onnxruntime(onnx_path, wrapper, classifier),
    }
    write_json(folder / "signature.json", signature)


def _check_with_onnxruntime(onnx_path: Path, wrapper, classifier) -> dict:
    """Largest output difference from PyTorch on a few encoded texts (skipped without onnxruntime)."""
    texts = ["a short text", "", "another, longer text to encode " * 40, "one more"]
    gaps = onnxruntime_gaps(
        onnx_path, wrapper, "ids", classifier.encode(texts), classifier.model_name
    )
    if gaps is None:
        return NOT_CHECKED
    version, diffs = gaps
    if max(diffs) > MAX_ABS_DIFF:
        raise not_written(classifier.model_name, max(diffs))
    return {"onnxruntime": version, "max_abs_diff_vs_pytorch": max(diffs)}


MAX_ABS_DIFF = 1e-4  # an export further than this from PyTorch is refused
NOT_CHECKED = {"onnxruntime": None, "note": "install onnxruntime to check the export"}


def onnxruntime_outputs(onnx_path: Path, wrapper, name: str, inputs: np.ndarray, model_name: str):
    """onnxruntime's version, its outputs on ``inputs`` (fed as input ``name``) and
    ``wrapper``'s; None when onnxruntime is not installed. A graph that does not run on them
    is refused in one line."""
    try:
        import onnxruntime  # optional: the export is checked when it is installed
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    try:
        got = session.run(None, {name: inputs})
    except Exception as exc:  # onnxruntime raises its own error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"the ONNX export of {model_name!r} does not run on a batch of {len(inputs)} in "
            f"onnxruntime ({first}); it was not written"
        ) from None
    with torch.no_grad():
        expected = [t.numpy() for t in wrapper(torch.from_numpy(inputs))]
    return onnxruntime.__version__, got, expected


def onnxruntime_gaps(onnx_path: Path, wrapper, name: str, inputs: np.ndarray, model_name: str):
    """onnxruntime's version and, per output, the largest difference from ``wrapper`` on
    ``inputs`` (fed as input ``name``); None when onnxruntime is not installed."""
    found = onnxruntime_outputs(onnx_path, wrapper, name, inputs, model_name)
    if found is None:
        return None
    version, got, expected = found
    return version, [float(np.abs(g - e).max()) for g, e in zip(got, expected, strict=True)]


def not_written(model_name: str, diff: float) -> UserError:
    return UserError(
        f"the ONNX export of {model_name!r} differs from PyTorch by {diff:.2e}; it was not written"
    )


def _swap_in(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
