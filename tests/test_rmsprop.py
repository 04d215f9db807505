"""convseq's RMSprop: torch's arithmetic for dense gradients, Keras's on request,
and sparse row gradients that give the dense result."""

import copy as copy_module

import pytest
import torch

from convseq.training.rmsprop import RMSprop


def random_grads(shapes, steps, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(steps)
    ]


def run(optimizer_cls, params, grads, **kwargs):
    params = [p.clone().requires_grad_() for p in params]
    opt = optimizer_cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        opt.step()
    return params


def test_dense_steps_equal_torch_rmsprop():
    start = [torch.randn(6, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)]
    grads = random_grads([(6, 3), (4,)], steps=15)
    ours = run(RMSprop, start, grads, lr=0.01, rho=0.9, eps=1e-7, weight_decay=0.01)
    torch_ = run(torch.optim.RMSprop, start, grads, lr=0.01, alpha=0.9, eps=1e-7, weight_decay=0.01)
    for a, b in zip(ours, torch_, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-15)


def test_eps_inside_sqrt_is_keras_arithmetic():
    start = torch.zeros(5, dtype=torch.float64)
    grads = [[torch.full((5,), 1e-4, dtype=torch.float64)] for _ in range(3)]
    (ours,) = run(RMSprop, [start], grads, lr=0.1, eps=1e-7, eps_inside_sqrt=True)
    w, v = 0.0, 0.0  # Keras: v = rho v + (1 - rho) g^2 ; w -= lr g / sqrt(v + eps)
    for _ in range(3):
        v = 0.9 * v + 0.1 * 1e-8
        w -= 0.1 * 1e-4 / (v + 1e-7) ** 0.5
    torch.testing.assert_close(ours, torch.full((5,), w, dtype=torch.float64))
    (torch_style,) = run(RMSprop, [start], grads, lr=0.1, eps=1e-7)
    assert torch_style[0] < 5 * ours[0]  # torch's placement steps much further here


def sparse(rows, values, shape):
    return torch.sparse_coo_tensor(rows.unsqueeze(0), values, shape, check_invariants=True)


@pytest.mark.parametrize("eps_inside_sqrt", [False, True])
def test_sparse_rows_give_the_dense_result_with_decay_for_absent_rows(eps_inside_sqrt):
    shape = (30, 4)
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(shape, generator=gen, dtype=torch.float64)
    lazy = table.clone().requires_grad_()
    dense = table.clone().requires_grad_()
    kwargs = {"lr": 0.05, "eps_inside_sqrt": eps_inside_sqrt}
    opt_lazy, opt_dense = RMSprop([lazy], **kwargs), RMSprop([dense], **kwargs)
    for step in range(25):
        rows = torch.randperm(30, generator=gen)[: 3 + step % 5]
        if step == 7:  # unsorted, repeated rows must be summed like a dense gradient
            rows = torch.tensor([9, 2, 9, 4])
        values = torch.randn(len(rows), 4, generator=gen, dtype=torch.float64)
        lazy.grad = sparse(rows, values, shape)
        dense.grad = sparse(rows, values, shape).to_dense()
        if step == 15:  # a dense step in between catches every row up
            lazy.grad = dense.grad.clone()
        opt_lazy.step()
        opt_dense.step()
        torch.testing.assert_close(lazy, dense, rtol=1e-12, atol=1e-14)
    # the stored square-averages, once caught up, are the dense ones
    state = opt_lazy.state[lazy]
    missed = state["step"] - state["row_step"]
    caught_up = state["square_avg"] * (0.9 ** missed.double()).unsqueeze(1)
    torch.testing.assert_close(caught_up, opt_dense.state[dense]["square_avg"])


def test_sparse_gradient_with_weight_decay_is_applied_densely():
    table = torch.ones(5, 2, dtype=torch.float64)
    lazy = table.clone().requires_grad_()
    dense = table.clone().requires_grad_()
    rows, values = torch.tensor([1]), torch.ones(1, 2, dtype=torch.float64)
    for p in (lazy, dense):
        opt = RMSprop([p], lr=0.1, weight_decay=0.5)
        p.grad = (
            sparse(rows, values, (5, 2)) if p is lazy else sparse(rows, values, (5, 2)).to_dense()
        )
        opt.step()
    torch.testing.assert_close(lazy, dense)
    assert (lazy[0] != 1).all()  # decay moved rows without a gradient too


def test_state_survives_a_save_and_load():
    p = torch.zeros(8, 2, dtype=torch.float64, requires_grad=True)
    opt = RMSprop([p], lr=0.1)
    p.grad = sparse(torch.tensor([3]), torch.ones(1, 2, dtype=torch.float64), (8, 2))
    opt.step()
    copy = torch.zeros(8, 2, dtype=torch.float64, requires_grad=True)
    copy.data.copy_(p.data)
    restored = RMSprop([copy], lr=0.1)
    restored.load_state_dict(copy_module.deepcopy(opt.state_dict()))
    assert restored.state[copy]["row_step"].dtype == torch.long
    for q, o in ((p, opt), (copy, restored)):
        q.grad = sparse(torch.tensor([3, 5]), torch.ones(2, 2, dtype=torch.float64), (8, 2))
        o.step()
    torch.testing.assert_close(p, copy, rtol=0, atol=0)
