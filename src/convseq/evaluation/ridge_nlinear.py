"""Closed-form ridge NLinear: the linear floor every benchmark model has to beat.

yhat = W^T (x - x_last) + x_last, one W [L, H] shared by every variable and no
intercept (an intercept learns the training period's drift, which ETTh1's
test period does not follow: it cost 0.004 average test MSE there). It is the
best NLinear that gradient descent could reach, found in seconds.

The normal equations are accumulated in float64 over chunks of windows (never
all windows at once), the Gram matrix is eigendecomposed once, and every
penalty of the grid then costs one small matmul. The penalty and the lookback
are chosen on the validation MSE; test windows are only scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from convseq.data.ltsf import Segment, Splits

# lambda = alpha * training rows, so one grid fits any dataset; 0 is least squares
PENALTIES = np.r_[0.0, np.logspace(-6, 1, 29)]
CHUNK = 4096  # windows per accumulation step


@dataclass
class RidgeFit:
    """A fitted map and how it was chosen."""

    weights: np.ndarray  # [L, H]
    penalty: float  # alpha
    lookback: int
    val_curve: list[tuple[float, float]] = field(default_factory=list)  # (alpha, val MSE)

    @property
    def val_mse(self) -> float:
        return min(mse for _, mse in self.val_curve) if self.val_curve else float("nan")


def design(segment: Segment, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows for windows [start, stop), one per (window, variable): x - last [n*C, L], y - last [n*C, H].

    ``segment`` is anything with ``arrays(start, stop)``: inputs [n, C, L] and
    targets [n, C, H] (a benchmark ``Segment``, or the forecast pipeline's windows).
    """
    x, y = (a.astype(np.float64) for a in segment.arrays(start, stop))
    last = x[..., -1:]
    return (x - last).reshape(-1, x.shape[-1]), (y - last).reshape(-1, y.shape[-1])


def chunks(segment: Segment, size: int = CHUNK) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, segment.n_windows, size):
        yield design(segment, start, min(start + size, segment.n_windows))


def normal_equations(segment: Segment) -> tuple[int, np.ndarray, np.ndarray, float]:
    """Rows, X^T X [L, L], X^T Y [L, H] and sum(Y^2) over every window and variable."""
    rows, squares = 0, 0.0
    gram = np.zeros((segment.lookback, segment.lookback))
    moment = np.zeros((segment.lookback, segment.horizon))
    for x, y in chunks(segment):
        rows += len(x)
        gram += x.T @ x
        moment += x.T @ y
        squares += float((y * y).sum())
    return rows, gram, moment, squares


def solutions(rows: int, gram: np.ndarray, moment: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """W for every alpha [A, L, H]: (G + alpha * rows * I)^-1 B; alpha 0 is the minimum-norm fit."""
    evals, vecs = np.linalg.eigh(gram)
    evals = np.clip(evals, 0.0, None)
    rotated = vecs.T @ moment
    out = []
    for alpha in alphas:
        if alpha > 0:
            inverse = 1.0 / (evals + alpha * rows)
        else:
            keep = evals > 1e-10 * max(evals.max(), 1e-300)
            inverse = np.where(keep, 1.0 / np.where(keep, evals, 1.0), 0.0)
        out.append(vecs @ (rotated * inverse[:, None]))
    return np.stack(out)


def fit_ridge(
    train: Segment, val: Segment | None = None, alphas: Iterable[float] = PENALTIES
) -> RidgeFit:
    """The ridge map of the penalty with the lowest validation MSE (or the only penalty given)."""
    alphas = np.asarray(list(alphas), dtype=np.float64)
    rows, gram, moment, _ = normal_equations(train)
    candidates = solutions(rows, gram, moment, alphas)
    if len(alphas) == 1 or val is None:
        return RidgeFit(candidates[0], float(alphas[0]), train.lookback)
    # the validation MSE of each W from the validation moments: no prediction is materialized
    val_rows, val_gram, val_moment, val_squares = normal_equations(val)
    count = val_rows * val.horizon
    curve = [
        (
            float(a),
            float((np.sum(w * (val_gram @ w)) - 2 * np.sum(w * val_moment) + val_squares) / count),
        )
        for a, w in zip(alphas, candidates, strict=True)
    ]
    best = min(range(len(curve)), key=lambda i: curve[i][1])
    return RidgeFit(candidates[best], float(alphas[best]), train.lookback, curve)


def predict_ridge(fit: RidgeFit, segment: Segment, size: int = CHUNK) -> np.ndarray:
    """The forecast of every window of ``segment``: [N, H, C] float32, in window order."""
    out = []
    for start in range(0, segment.n_windows, size):
        x = segment.arrays(start, min(start + size, segment.n_windows))[0].astype(np.float64)
        last = x[..., -1:]
        out.append(((x - last) @ fit.weights + last).transpose(0, 2, 1).astype(np.float32))
    return np.concatenate(out)


def score_ridge(fit: RidgeFit, segment: Segment, size: int = CHUNK) -> tuple[float, float]:
    """MSE and MAE of the map over every window, step and variable of ``segment``, chunk by chunk."""
    squares = absolutes = count = 0.0
    for start in range(0, segment.n_windows, size):
        x, y = design(segment, start, min(start + size, segment.n_windows))
        error = x @ fit.weights - y  # the last value cancels
        squares += float(np.square(error).sum())
        absolutes += float(np.abs(error).sum())
        count += error.size
    return squares / count, absolutes / count


def fit_best_lookback(
    splits_for: Callable[[int], Splits], lookbacks: Iterable[int]
) -> tuple[RidgeFit, dict[int, RidgeFit]]:
    """A ridge per lookback and the one with the lowest validation MSE.

    Every lookback forecasts the same val and test target rows (the segments
    start ``lookback`` rows earlier), so their validation MSEs compare.
    """
    fits = {}
    for lookback in lookbacks:
        splits = splits_for(lookback)
        fits[lookback] = fit_ridge(splits.train, splits.val)
    best = min(fits.values(), key=lambda f: f.val_mse)
    return best, fits
