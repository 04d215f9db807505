"""Where a run computes and in what precision: ``--device`` and ``--precision``.

``auto`` takes CUDA, then Apple's MPS, then the CPU; under torchrun each
process takes the GPU of its local rank. Precision ``auto`` is fp32 on the
CPU and MPS, and bf16 on a CUDA GPU that supports it (fp16 with a gradient
scaler on one that does not). Mixed precision runs the forward pass and
the loss under ``torch.autocast``; the weights and the optimizer stay fp32,
so a run saves the same kind of weights on every device.
"""

from __future__ import annotations

import os
import re
from contextlib import nullcontext

import torch

from convseq.errors import UserError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` for ``--device`` (auto, cpu, cuda, cuda:N, mps), refusing absent ones."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise UserError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: this machine has no CUDA GPU; pass --device cpu")
        index = int(name.partition(":")[2] or os.environ.get("LOCAL_RANK", 0))
        if index >= torch.cuda.device_count():
            raise UserError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPUs"
            )
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps: Apple's MPS is not available here; pass --device cpu")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> str:
    """fp32, bf16 or fp16 for ``--precision`` on ``device`` (auto: bf16 on a CUDA GPU that has it)."""
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("--precision bf16: this GPU has no bf16; pass --precision fp16 or fp32")
    if name == "fp16" and device.type == "mps":
        raise UserError("--precision fp16 is not supported on MPS here; pass fp32")
    return name


def autocast(device: torch.device, precision: str):
    """The context that runs a forward pass in ``precision`` (nothing for fp32)."""
    dtype = DTYPES[precision]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU batch on ``device``: pinned and copied asynchronously to a GPU."""
    if device.type == "cpu" or batch.device == device:
        return batch
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)
