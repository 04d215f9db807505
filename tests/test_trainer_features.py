"""Schedules, gradient clipping and sparse embeddings behave as the options promise."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

import convseq.training.trainer as trainer_module
from convseq.config import Training
from convseq.data.batches import ArrayBatches
from convseq.models import TextShape, build_model
from convseq.training.optim import DenseAndSparseAdam, clip_gradients, make_optimizer
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer


def separable(n=320, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    return x, (x[:, 0] - x[:, 2] > 0).float()


def fit(model, config, batch_size=32, x_y=None, checkpoint=None):
    x, y = x_y or separable()
    trainer = Trainer(model, make_task("binary"), config, checkpoint=checkpoint, progress=False)
    cut = len(y) * 3 // 4
    history = trainer.fit(
        ArrayBatches(x[:cut], y[:cut], batch_size, shuffle=True, seed=config.seed),
        ArrayBatches(x[cut:], y[cut:], 64),
    )
    return trainer, [row["lr"] for row in history]


def mlp():
    seed_everything(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))


def test_cosine_schedule_decays_every_epoch_to_zero():
    _, lrs = fit(mlp(), Training(epochs=6, optimizer="adam", lr=0.01, schedule="cosine"))
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    # after epoch e of 6 the factor is (1 + cos(pi * e / 6)) / 2
    assert lrs[2] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi / 2)), rel=1e-6)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_one_cycle_warms_up_to_lr_then_anneals():
    _, lrs = fit(mlp(), Training(epochs=10, optimizer="adam", lr=0.01, schedule="onecycle"))
    peak = max(range(10), key=lambda i: lrs[i])
    assert lrs[0] < lrs[peak] and 1 <= peak <= 3  # the warm-up is the first 30% of steps
    assert lrs[peak] == pytest.approx(0.01, rel=0.1)
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1 :], strict=False))
    assert lrs[-1] < 1e-5


class Frozen(nn.Module):
    """A model whose score never changes: its only parameter gets a zero gradient."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x[:, 0] + 0.0 * self.unused


def test_plateau_halves_lr_after_two_epochs_without_progress():
    config = Training(epochs=6, optimizer="sgd", lr=0.1, schedule="plateau")
    trainer, lrs = fit(Frozen(), config)
    # history shows the lr each epoch trained with: halved after epochs 3 and 5
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert trainer.best_epoch == 1


def test_no_schedule_keeps_lr():
    _, lrs = fit(mlp(), Training(epochs=3, optimizer="adam", lr=0.01))
    assert lrs == [0.01] * 3


def first_step_change(grad_clip: float) -> float:
    seed_everything(0)
    model = nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))
    with torch.no_grad():
        model[0].weight.mul_(100.0)  # huge logits: a huge first gradient
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    x, y = separable(n=64)
    x_y = (x, 1 - y)  # make the big logits badly wrong
    fit(model, Training(epochs=1, optimizer="sgd", lr=1.0, grad_clip=grad_clip), 48, x_y)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((after - before).norm())


def test_grad_clip_bounds_the_update():
    # one SGD step at lr 1 moves the weights by exactly the (clipped) gradient
    assert first_step_change(0.0) > 0.5
    assert first_step_change(0.05) == pytest.approx(0.05, rel=1e-3)


def test_clip_counts_sparse_gradients_like_dense_ones():
    torch.manual_seed(0)
    dense = nn.Embedding(10, 3)
    sparse = nn.Embedding(10, 3, sparse=True)
    sparse.load_state_dict(dense.state_dict())
    ids = torch.tensor([1, 1, 4])  # a repeated row must be summed before taking the norm
    for table in (dense, sparse):
        (table(ids) ** 2).sum().backward()
    norm_dense = clip_gradients(dense.parameters(), 0.1)
    norm_sparse = clip_gradients(sparse.parameters(), 0.1)
    assert norm_dense == pytest.approx(norm_sparse, rel=1e-6)
    assert torch.allclose(sparse.weight.grad.to_dense(), dense.weight.grad, atol=1e-7)
    assert float(dense.weight.grad.norm()) == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd", "adamw"])
def test_sparse_embeddings_train_with_every_optimizer(optimizer):
    """Adam(W) trains sparse tables lazily, RMSprop takes sparse rows, SGD gets them densified."""
    from convseq.training.optim import sparse_parameters

    model = build_model("text-region-cnn", TextShape(vocab_size=20), {"channels": 4})
    built = make_optimizer("adam", model.parameters(), 1e-3, sparse=sparse_parameters(model))
    assert isinstance(built, DenseAndSparseAdam)
    ids, y = token_task(n=64)
    torch.manual_seed(0)
    trainer = Trainer(
        model,
        make_task("binary"),
        Training(epochs=1, optimizer=optimizer, lr=1e-2),
        progress=False,
    )
    table = sparse_parameters(model)[0]
    before = table.detach().clone()
    history = trainer.fit(ArrayBatches(ids, y, 16, shuffle=True), ArrayBatches(ids, y, 64))
    assert np.isfinite(history[0]["loss"])
    assert not torch.equal(before, table.detach())  # the sparse table was updated


def token_task(n=240, length=12, vocab=20, seed=0):
    """Label 1 when token 7 is followed by token 3 somewhere: a bigram detector task."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (n, length), generator=g)
    ids[: n // 2, 4], ids[: n // 2, 5] = 7, 3
    ids[n // 2 :, 5] = torch.where(ids[n // 2 :, 4] == 7, 5, ids[n // 2 :, 5])
    y = torch.zeros(n)
    y[: n // 2] = 1.0
    order = torch.randperm(n, generator=g)
    return ids[order], y[order]


def region_model():
    seed_everything(0)
    settings = {"region_sizes": [2], "channels": 16, "head_dropout": 0.1, "pool": "max"}
    return build_model("text-region-cnn", TextShape(vocab_size=20), settings)


def test_region_cnn_learns_a_bigram_with_sparse_adam_schedule_and_clip():
    config = Training(
        epochs=8, optimizer="adam", lr=0.02, schedule="onecycle", grad_clip=1.0, seed=0
    )
    trainer, lrs = fit(region_model(), config, 16, token_task())
    assert trainer.history[trainer.best_epoch - 1]["val_acc"] >= 0.95
    assert lrs[-1] < 0.001 and max(lrs) == pytest.approx(0.02, rel=0.15)


def test_sparse_adam_resume_equals_uninterrupted(tmp_path, monkeypatch):
    config = Training(epochs=4, optimizer="adam", lr=0.01, schedule="cosine", seed=3)
    data = token_task()
    full, full_lrs = fit(region_model(), config, 16, data)

    original = trainer_module.Trainer._save_checkpoint

    def save_then_die(self, epoch, schedule):
        original(self, epoch, schedule)
        if epoch == 2:
            raise KeyboardInterrupt

    ckpt = tmp_path / "checkpoint.pt"
    monkeypatch.setattr(trainer_module.Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(region_model(), config, 16, data, checkpoint=ckpt)
    monkeypatch.setattr(trainer_module.Trainer, "_save_checkpoint", original)
    resumed, resumed_lrs = fit(region_model(), config, 16, data, checkpoint=ckpt)
    assert resumed_lrs == full_lrs
    assert [r["val_acc"] for r in resumed.history] == [r["val_acc"] for r in full.history]
    for a, b in zip(
        full.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("name", "weight_decay"), [("adam", 0.0), ("adam", 0.01), ("adamw", 0.01)])
def test_batched_adam_updates_match_torchs_one_tensor_at_a_time_bit_for_bit(name, weight_decay):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 1))
    x, y = torch.randn(32, 6), torch.randn(32, 1)
    plain = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    weights = []
    for optimizer_of in (
        lambda p: make_optimizer(name, p, 1e-2, weight_decay),
        lambda p: plain(p, lr=1e-2, weight_decay=weight_decay, foreach=False),
    ):
        model = copy.deepcopy(net)
        optimizer = optimizer_of(model.parameters())
        for _ in range(20):
            optimizer.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            optimizer.step()
        weights.append([p.detach() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))
    assert not torch.equal(weights[0][0], net[0].weight)  # it trained
