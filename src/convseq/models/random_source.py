"""Where a model draws its training-time randomness (dropout masks) from, and how.

Normally that is torch's global generator. A sharded training step
(``training/shards.py``) trains parts of one batch on several threads at
once; each of its threads installs a generator of its own here, seeded by
the step, so the masks do not depend on which thread happens to draw first
and a run stays reproducible.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_local = threading.local()


def generator() -> torch.Generator | None:
    """This thread's generator, or None for torch's global one."""
    return getattr(_local, "generator", None)


@contextmanager
def drawing_from(source: torch.Generator) -> Iterator[None]:
    """Draw this thread's model randomness from ``source`` inside the block."""
    before = generator()
    _local.generator = source
    try:
        yield
    finally:
        _local.generator = before


def dropout_mask(shape, p: float, like: torch.Tensor) -> torch.Tensor:
    """An inverted-dropout mask: zeros with probability ``p``, else ``1 / (1 - p)``.

    Drawn as ``nn.Dropout1d`` draws its own (one Bernoulli tensor of ``shape``),
    from this thread's generator.
    """
    keep = torch.empty(shape, dtype=like.dtype, device=like.device)
    keep.bernoulli_(1 - p, generator=generator())
    return keep.div_(1 - p)
