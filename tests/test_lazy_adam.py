"""LazyAdam computes torch's SparseAdam, rows absent from a step keep their moments."""

import torch

from convseq.training.lazy_adam import LazyAdam


def sparse_grad(rows, values, shape):
    return torch.sparse_coo_tensor(torch.tensor([rows]), values, shape, check_invariants=True)


def test_lazy_adam_matches_sparse_adam_with_repeated_and_missing_rows():
    torch.manual_seed(0)
    start = torch.randn(10, 4)
    ours = torch.nn.Parameter(start.clone())
    reference = torch.nn.Parameter(start.clone())
    lazy = LazyAdam([ours], lr=0.05, betas=(0.8, 0.99))
    torch_sparse = torch.optim.SparseAdam([reference], lr=0.05, betas=(0.8, 0.99))
    steps = [[1, 3, 3, 7], [0, 9], [7, 1, 1, 1], [2, 3, 5, 8, 9]]  # duplicates are summed
    for rows in steps:
        values = torch.randn(len(rows), 4)
        ours.grad = sparse_grad(rows, values, ours.shape)
        reference.grad = sparse_grad(rows, values.clone(), reference.shape)
        lazy.step()
        torch_sparse.step()
        assert torch.allclose(ours, reference, atol=1e-6)
    untouched = [4, 6]
    assert torch.equal(ours.detach()[untouched], start[untouched])


def test_lazy_adam_follows_a_schedule_and_refuses_dense_gradients():
    p = torch.nn.Parameter(torch.zeros(3, 2))
    opt = LazyAdam([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.0  # a schedule sets the group's lr
    p.grad = sparse_grad([1], torch.ones(1, 2), p.shape)
    opt.step()
    assert torch.equal(p.detach(), torch.zeros(3, 2))
    p.grad = torch.ones(3, 2)
    try:
        opt.step()
    except RuntimeError as exc:
        assert "sparse gradients" in str(exc)
    else:
        raise AssertionError("a dense gradient was accepted")
