"""The ridge baseline: a closed-form linear map of the target's window, penalty chosen on validation."""

import numpy as np

from convseq.data.windows import Windows
from convseq.evaluation.ridge import PENALTIES, ridge_baseline


def _windows(series: np.ndarray, lookback: int, delay: int):
    data = series[:, None].astype(np.float32)
    n = len(series)
    cuts = [(0, n // 2), (n // 2, 3 * n // 4), (3 * n // 4, n)]
    return [Windows(data, series, lookback, 1, delay, a, b) for a, b in cuts]


def _ar2(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(rows)
    for t in range(2, rows):
        x[t] = 1.6 * x[t - 1] - 0.8 * x[t - 2] + rng.normal()
    return (x / x.std()).astype(np.float32)


def _common_sense_mae(windows: Windows) -> float:
    inputs, targets = windows.gather(np.arange(windows.num_windows))
    return float((inputs[:, -1, 0] - targets).abs().mean())


def test_ridge_learns_a_linear_process_that_common_sense_cannot():
    train, val, test = _windows(_ar2(4000), lookback=12, delay=2)
    scores = ridge_baseline(train, val, test, target_index=0)
    assert scores["penalty"] in PENALTIES
    assert scores["test_mae"] < 0.8 * _common_sense_mae(test)
    assert scores["val_mae"] < 0.8 * _common_sense_mae(val)


def test_ridge_matches_a_direct_solution_at_the_chosen_penalty():
    train, val, test = _windows(_ar2(1500, seed=1), lookback=6, delay=0)
    scores = ridge_baseline(train, val, test, target_index=0)

    def design(w):
        x, y = w.gather(np.arange(w.num_windows))
        x, y = x[:, :, 0].double().numpy(), y.double().numpy()
        return x - x[:, -1:], y - x[:, -1]

    x, y = design(train)
    maes = []
    for penalty in PENALTIES:  # the grid, solved directly, each scored on validation
        w = np.linalg.solve(x.T @ x + penalty * len(x) * np.eye(x.shape[1]), x.T @ y)
        xv, yv = design(val)
        xt, yt = design(test)
        maes.append((np.abs(xv @ w - yv).mean(), np.abs(xt @ w - yt).mean(), penalty))
    best = min(maes)
    np.testing.assert_allclose([scores["val_mae"], scores["test_mae"]], best[:2], rtol=1e-6)
    assert scores["penalty"] == best[2]
