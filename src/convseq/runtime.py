"""Process settings that make small-batch CPU training fast.

``torch_threads`` applies a run's ``--threads`` for the run's duration.

A training step allocates and frees the same few megabytes of tensors every
time. glibc hands blocks that large back to the kernel when they are freed,
so the next step takes page faults and the kernel zero-fills every page
again: about a tenth of an IMDB step went there. Raising glibc's mmap and
trim thresholds keeps that memory in the process for reuse.
"""

from __future__ import annotations

import ctypes
import platform
from contextlib import contextmanager

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc reuse freed blocks below ``mmap_threshold``; True when the setting took."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        and libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )


@contextmanager
def torch_threads(threads: int):
    """Run the block with ``threads`` PyTorch threads (0: leave them), then restore the count."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
