"""Cases made ready for a classifier: gaps filled, scaled, padded with NaN, split.

Missing values inside a case are filled by linear interpolation (at its
ends, the nearest value). Scaling is per series (each channel of each case
z-normalized on its own: the UCR convention), per channel (one mean and
standard deviation per channel over the training part's steps, which keeps
the amplitude differences between cases), or none. ``auto`` takes per
series for univariate cases of equal length, per channel otherwise.

A batch is ``(cases, time, channels)`` float32 with NaN after each case's
end: the models read the padding mask from the NaNs, so unequal lengths are
padded and masked, never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convseq.data.case_files import Cases
from convseq.errors import UserError

NORMALIZATIONS = ("auto", "series", "channel", "none")


def fill_missing(series: list[np.ndarray]) -> list[np.ndarray]:
    """NaNs inside each channel interpolated linearly, at its ends the nearest value; a channel
    with no value at all becomes zeros."""
    filled = []
    for case in series:
        if not np.isnan(case).any():
            filled.append(case)
            continue
        case = case.copy()
        steps = np.arange(case.shape[1])
        for channel in case:
            gap = np.isnan(channel)
            channel[gap] = np.interp(steps[gap], steps[~gap], channel[~gap]) if (~gap).any() else 0
        filled.append(case)
    return filled


@dataclass
class Scaling:
    """How cases are scaled; ``mean``/``std`` per channel for ``channel``, fitted on training."""

    how: str
    mean: list[float] | None = None
    std: list[float] | None = None

    @classmethod
    def fit(cls, how: str, train: Cases) -> Scaling:
        if how == "auto":
            equal = len(set(train.lengths.tolist())) == 1
            how = "series" if train.channels == 1 and equal else "channel"
        if how != "channel":
            return cls(how)
        steps = np.concatenate(fill_missing(train.series), axis=1)
        std = steps.std(axis=1)
        return cls(how, steps.mean(axis=1).tolist(), np.where(std < 1e-8, 1.0, std).tolist())

    def apply(self, series: list[np.ndarray]) -> list[np.ndarray]:
        series = fill_missing(series)
        if self.how == "series":
            scaled = []
            for case in series:
                std = case.std(axis=1, keepdims=True)
                scaled.append(
                    (case - case.mean(axis=1, keepdims=True)) / np.where(std < 1e-8, 1, std)
                )
            return scaled
        if self.how == "channel":
            mean, std = np.asarray(self.mean)[:, None], np.asarray(self.std)[:, None]
            return [(case - mean) / std for case in series]
        return series

    def to_dict(self) -> dict:
        return {"how": self.how, "mean": self.mean, "std": self.std}


def padded(series: list[np.ndarray], length: int = 0) -> np.ndarray:
    """``(cases, time, channels)`` float32, NaN after each case's end; time is the longest case,
    at least ``length``."""
    width = max([length, *(case.shape[1] for case in series)])
    batch = np.full((len(series), width, series[0].shape[0]), np.nan, dtype=np.float32)
    for i, case in enumerate(series):
        batch[i, : case.shape[1]] = case.T
    return batch


def check_channels(cases: Cases, channels: int) -> None:
    if cases.channels != channels or any(c.shape[0] != channels for c in cases.series):
        found = sorted({c.shape[0] for c in cases.series})
        raise UserError(
            f"{cases.source} has cases of {'/'.join(map(str, found))} channels; the model reads "
            f"{channels}"
        )


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded training and validation indices: ``fraction`` of each class (at least one)
    held out, at least one of each class kept for training."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        cut = min(max(1, round(fraction * len(members))), len(members) - 1)
        val.extend(members[:cut].tolist())
        train.extend(members[cut:].tolist())
    if not val:
        raise UserError(
            f"{len(labels)} cases are too few for a validation split (each class needs two); "
            "add cases or pass a validation file with --val"
        )
    return np.sort(train), np.sort(val)


def resampled(series: list[np.ndarray], length: int) -> np.ndarray:
    """Every case stretched linearly to ``length`` steps: ``(cases, channels * length)``."""
    out = np.empty((len(series), series[0].shape[0], length))
    target = np.linspace(0.0, 1.0, length)
    for i, case in enumerate(series):
        source = np.linspace(0.0, 1.0, case.shape[1]) if case.shape[1] > 1 else np.zeros(1)
        for c, channel in enumerate(case):
            out[i, c] = np.interp(target, source, channel)
    return out.reshape(len(series), -1)
