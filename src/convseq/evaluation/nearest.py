"""The classic reference of the time-series archives: 1-nearest neighbour, Euclidean distance.

Cases of unequal lengths are first stretched linearly to the longest
training case's length, so that every pair compares step by step. Ties go
to the first training case.
"""

from __future__ import annotations

import numpy as np

from convseq.data.cases import resampled


def nearest_neighbour(
    train: list[np.ndarray], train_ids: np.ndarray, cases: list[np.ndarray]
) -> np.ndarray:
    """The class of each case's nearest training case (squared Euclidean distance)."""
    length = max(case.shape[1] for case in train)
    reference, query = resampled(train, length), resampled(cases, length)
    distances = (
        (query**2).sum(axis=1)[:, None]
        - 2 * query @ reference.T
        + (reference**2).sum(axis=1)[None, :]
    )
    return np.asarray(train_ids)[distances.argmin(axis=1)]
