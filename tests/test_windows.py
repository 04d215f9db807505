"""Vectorized windows against a slow, obviously-correct reference of the chapter's generator."""

import numpy as np
import pytest
import torch

from convseq.data.windows import Windows, check_window_settings
from convseq.errors import UserError


def reference(data, target, lookback, step, delay, min_index, max_index):
    """Row by row: rows i-lookback, i-lookback+step, ... < i; target at i+delay."""
    if max_index is None:
        max_index = len(data)
    samples, targets = [], []
    for i in range(min_index + lookback, max_index):
        if i + delay >= len(data):
            break
        samples.append([data[row] for row in range(i - lookback, i, step)])
        targets.append(target[i + delay])
    return np.array(samples, dtype=np.float32), np.array(targets, dtype=np.float32)


def toy(rows=97, features=3, seed=0):
    data = np.random.default_rng(seed).normal(size=(rows, features)).astype(np.float32)
    return data, data[:, 1].copy()


COMBOS = [
    # lookback, step, delay, min_index, max_index
    (10, 1, 0, 0, None),
    (12, 3, 5, 4, 60),
    (10, 3, 2, 0, 50),  # lookback not a multiple of step: rows i-10, i-7, i-4, i-1
    (7, 7, 1, 3, 40),
    (20, 6, 4, 10, None),
    (5, 2, 0, 0, 6),  # exactly one window
    (8, 2, 30, 0, 90),  # targets run out before max_index
]


@pytest.mark.parametrize("lookback, step, delay, lo, hi", COMBOS)
def test_every_window_and_target_matches_reference(lookback, step, delay, lo, hi):
    data, target = toy()
    expected_x, expected_y = reference(data, target, lookback, step, delay, lo, hi)
    windows = Windows(data, target, lookback, step, delay, lo, hi, batch_size=4)
    x, y = windows.gather(np.arange(windows.num_windows))
    assert x.shape == (len(expected_y), len(range(0, lookback, step)), 3)
    np.testing.assert_array_equal(x.numpy(), expected_x)
    np.testing.assert_array_equal(y.numpy(), expected_y)
    # the sequential epoch walks the same windows in order, in batches of 4
    batches = list(windows.epoch(0))
    assert len(batches) == len(windows) == -(-len(expected_y) // 4)
    assert all(len(b[1]) == 4 for b in batches[:-1])
    np.testing.assert_array_equal(torch.cat([b[0] for b in batches]).numpy(), expected_x)
    np.testing.assert_array_equal(torch.cat([b[1] for b in batches]).numpy(), expected_y)


def test_window_rows_follow_the_row_after_the_window():
    data = np.arange(30, dtype=np.float32)[:, None].repeat(2, 1)
    windows = Windows(data, data[:, 0], lookback=6, step=2, delay=3, min_index=0, max_index=10)
    x, y = windows.gather([0])
    assert windows.rows()[0] == 6
    assert x[0, :, 0].tolist() == [0.0, 2.0, 4.0] and y.item() == 9.0


def test_shuffled_epochs_depend_only_on_seed_and_epoch():
    data, target = toy(200)

    def targets_of(seed, epoch, steps=0):
        source = Windows(
            data, target, 10, 2, 3, 0, 150, 16, shuffle=True, steps_per_epoch=steps, seed=seed
        )
        return torch.cat([y for _, y in source.epoch(epoch)]).numpy()

    np.testing.assert_array_equal(targets_of(1, 3), targets_of(1, 3))
    assert not np.array_equal(targets_of(1, 3), targets_of(1, 4))
    assert not np.array_equal(targets_of(1, 3), targets_of(2, 3))
    # one full pass visits every window exactly once
    _, all_targets = reference(data, target, 10, 2, 3, 0, 150)
    np.testing.assert_array_equal(np.sort(targets_of(1, 3)), np.sort(all_targets))
    # a fixed number of batches draws rows with replacement, as the reference generator does
    drawn = targets_of(1, 3, steps=5)
    assert len(drawn) == 5 * 16 and np.isin(drawn, all_targets).all()


def test_steps_per_epoch_sets_the_epoch_length_only_when_shuffled():
    data, target = toy(200)
    shuffled = Windows(data, target, 10, 1, 0, 0, 150, 32, shuffle=True, steps_per_epoch=7)
    assert len(shuffled) == 7 and len(list(shuffled.epoch(1))) == 7
    inputs, targets = next(iter(shuffled.epoch(1)))
    assert inputs.shape == (32, 10, 3) and inputs.dtype == torch.float32 and targets.shape == (32,)
    sequential = Windows(data, target, 10, 1, 0, 0, 150, 32, steps_per_epoch=7)
    assert len(sequential) == -(-140 // 32)


@pytest.mark.parametrize(
    "lookback, step, delay, message",
    [
        (0, 1, 1, "--lookback must be at least 1"),
        (10, 0, 1, "--step must be at least 1"),
        (4, 5, 1, "--step 5 is larger than --lookback 4"),
        (10, 1, -1, "--delay must be 0 or more"),
    ],
)
def test_settings_that_make_no_window_are_refused(lookback, step, delay, message):
    with pytest.raises(UserError, match=message):
        check_window_settings(lookback, step, delay)


def test_a_split_too_short_for_one_window_is_refused():
    data, target = toy(50)
    with pytest.raises(UserError, match="hold no window"):
        Windows(data, target, lookback=20, step=1, delay=0, min_index=10, max_index=30)
    with pytest.raises(UserError, match="hold no window"):
        Windows(data, target, lookback=20, step=1, delay=40, min_index=0, max_index=None)
