"""Scores of the long-horizon benchmark, on standardized values, computed in chunks.

MSE and MAE average over every test window, step and variable. The
benchmark's own test loop drops the last incomplete batch (``drop_last``), so
its figure leaves out up to batch - 1 windows; both are reported. Forecasts of
Weather at H=720 are 600 MB each, hence the chunks and the closed-form blend.
"""

from __future__ import annotations

import numpy as np

CHUNK = 256  # windows per step
BLEND_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)  # the convnet's weight, step 0.05


def mse_mae(pred: np.ndarray, true: np.ndarray, drop_last_batch: int = 0) -> tuple[float, float]:
    """MSE and MAE over all windows, or over the first floor(N / b) * b of them (drop_last)."""
    n = len(pred) if not drop_last_batch else (len(pred) // drop_last_batch) * drop_last_batch
    if n == 0:
        return float("nan"), float("nan")
    squares = absolute = 0.0
    for start in range(0, n, CHUNK):
        err = (
            pred[start : min(start + CHUNK, n)].astype(np.float64)
            - true[start : min(start + CHUNK, n)]
        )
        squares += float(np.square(err).sum())
        absolute += float(np.abs(err).sum())
    count = n * int(np.prod(pred.shape[1:]))
    return squares / count, absolute / count


def blend_weight(a: np.ndarray, b: np.ndarray, true: np.ndarray, grid=BLEND_GRID) -> float:
    """The w of the grid minimizing the MSE of w * a + (1 - w) * b, from three sums.

    MSE(w) = (w^2 S_dd + 2 w S_de + S_ee) / n with d = a - b and e = b - true.
    Ties go to the smaller w (the simpler, linear member).
    """
    s_dd = s_de = s_ee = 0.0
    for start in range(0, len(a), CHUNK):
        stop = start + CHUNK
        d = a[start:stop].astype(np.float64) - b[start:stop]
        e = b[start:stop].astype(np.float64) - true[start:stop]
        s_dd += float((d * d).sum())
        s_de += float((d * e).sum())
        s_ee += float((e * e).sum())
    errors = [w * w * s_dd + 2 * w * s_de + s_ee for w in grid]
    return float(grid[int(np.argmin(errors))])


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    return (weight * a + (1 - weight) * b).astype(np.float32)


def quantile_scores(pred: np.ndarray, true: np.ndarray, levels: tuple[float, ...]) -> dict:
    """Each level's pinball loss, and the coverage and mean width of [lowest, highest] level.

    ``pred`` [N, H, C, Q] must be sorted along Q (so the interval never crosses).
    """
    levels_arr = np.asarray(levels, dtype=np.float64)
    losses = np.zeros(len(levels))
    covered = width = 0.0
    for start in range(0, len(pred), CHUNK):
        q = pred[start : start + CHUNK].astype(np.float64)
        y = true[start : start + CHUNK].astype(np.float64)
        diff = y[..., None] - q
        losses += np.maximum(levels_arr * diff, (levels_arr - 1) * diff).sum(axis=(0, 1, 2))
        covered += float(((y >= q[..., 0]) & (y <= q[..., -1])).sum())
        width += float((q[..., -1] - q[..., 0]).sum())
    count = true.size
    return {
        "pinball": {f"{lv:g}": float(v / count) for lv, v in zip(levels, losses, strict=True)},
        "interval": [levels[0], levels[-1]],
        "nominal_coverage": round(levels[-1] - levels[0], 6),
        "coverage": covered / count,
        "mean_width": width / count,
    }
