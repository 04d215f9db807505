"""Length-bucketed batches: every sample once, little padding, reproducible order."""

import pytest
import torch

from convseq.data.buckets import LengthBuckets
from convseq.errors import UserError


def padded_ids(lengths, width, padding="pre"):
    rows = torch.zeros(len(lengths), width, dtype=torch.long)
    for i, n in enumerate(lengths):
        values = torch.arange(1, n + 1) + 100 * i
        if padding == "pre":
            rows[i, width - n :] = values
        else:
            rows[i, :n] = values
    return rows


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_every_sample_once_and_only_shared_padding_cut(padding):
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 50, (103,), generator=g).tolist()
    ids = padded_ids(lengths, 60, padding)
    targets = torch.arange(103).float()
    batches = LengthBuckets(ids, targets, 8, padding, shuffle=True, seed=1, pool=4)
    seen = []
    for x, y in batches.epoch(1):
        real = (x != 0).sum(dim=1)
        assert x.shape[1] == int(real.max())  # cut to the longest review in the batch
        for row, target in zip(x, y.long().tolist(), strict=True):
            kept = row[row != 0]
            assert torch.equal(kept, ids[target][ids[target] != 0])  # no real token lost
        seen.extend(y.long().tolist())
    assert sorted(seen) == list(range(103))
    assert len(batches) == 13


def test_batches_are_far_shorter_than_the_padded_width():
    lengths = [5] * 90 + [200] * 10
    ids = padded_ids(lengths, 200)
    batches = LengthBuckets(ids, torch.zeros(100), 10, shuffle=True, seed=0, pool=10)
    cells = sum(x.numel() for x, _ in batches.epoch(1))
    assert cells < 0.3 * ids.numel()


def test_order_depends_only_on_seed_and_epoch():
    ids = padded_ids(list(range(1, 41)), 40)
    targets = torch.arange(40).float()
    order = lambda seed, epoch: [  # noqa: E731
        y.tolist() for _, y in LengthBuckets(ids, targets, 4, seed=seed).epoch(epoch)
    ]
    assert order(0, 3) == order(0, 3)
    assert order(0, 3) != order(0, 4)
    assert order(0, 3) != order(1, 3)


def test_evaluation_order_is_fixed_by_length():
    ids = padded_ids([3, 1, 2], 4)
    batches = LengthBuckets(ids, torch.tensor([0.0, 1.0, 2.0]), 2, shuffle=False)
    assert [y.tolist() for _, y in batches.epoch(0)] == [[1.0, 2.0], [0.0]]


def test_bad_arguments_are_user_errors():
    ids = padded_ids([2], 3)
    with pytest.raises(UserError, match="batch size must be at least 1"):
        LengthBuckets(ids, torch.zeros(1), 0)
    with pytest.raises(UserError, match="padding must be 'pre' or 'post'"):
        LengthBuckets(ids, torch.zeros(1), 1, padding="middle")


def test_an_unshuffled_pass_yields_rows_in_order_so_outputs_can_be_put_back():
    g = torch.Generator().manual_seed(2)
    lengths = torch.randint(1, 30, (41,), generator=g).tolist()
    targets = torch.arange(41).float()
    batches = LengthBuckets(padded_ids(lengths, 32), targets, 8, shuffle=False)
    yielded = torch.cat([y for _, y in batches.epoch(0)])
    assert torch.equal(yielded, targets[batches.order()])
    restored = torch.empty_like(yielded)
    restored[batches.order()] = yielded
    assert torch.equal(restored, targets)
    assert sorted(lengths) == [lengths[i] for i in batches.order().tolist()]
