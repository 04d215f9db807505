"""Seeding and determinism, so two runs with one seed give one history."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for one epoch's data order that depends only on (seed, epoch).

    Deriving it this way, rather than from a running stream, lets a resumed
    run replay exactly the epochs it missed.
    """
    return torch.Generator().manual_seed(seed * 100_003 + epoch)
