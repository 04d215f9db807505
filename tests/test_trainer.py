import pytest
import torch
import torch.nn as nn

from convseq.config import Training
from convseq.data.batches import ArrayBatches
from convseq.errors import UserError
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, monitored


def separable(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).float()
    return x, y


def strip(history):
    """History rows without their timings, which differ from run to run."""
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in history]


def fit_linear(config, checkpoint=None, epochs_override=None):
    seed_everything(config.seed)
    x, y = separable()
    model = nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1), nn.Flatten(0)
    )
    trainer = Trainer(model, make_task("binary"), config, checkpoint=checkpoint, progress=False)
    history = trainer.fit(
        ArrayBatches(x[:300], y[:300], 16, shuffle=True, seed=config.seed),
        ArrayBatches(x[300:], y[300:], 50),
    )
    return trainer, history, model


def test_learns_separable_task():
    trainer, history, _ = fit_linear(Training(epochs=15, lr=3e-3))
    assert trainer.monitor == "val_acc"
    assert history[trainer.best_epoch - 1]["val_acc"] > 0.95
    assert history[-1]["acc"] > 0.9
    assert set(history[0]) >= {"loss", "acc", "val_loss", "val_acc", "seconds", "samples_per_s"}


def test_same_seed_same_history():
    _, a, _ = fit_linear(Training(epochs=3, seed=7))
    _, b, _ = fit_linear(Training(epochs=3, seed=7))
    assert strip(a) == strip(b)


def test_best_weights_restored():
    trainer, history, model = fit_linear(Training(epochs=12, lr=3e-3, schedule="plateau"))
    x, y = separable()
    from convseq.training.trainer import evaluate

    again = evaluate(model, make_task("binary"), ArrayBatches(x[300:], y[300:], 50))
    best = history[trainer.best_epoch - 1]
    assert abs(again["acc"] - best["val_acc"]) < 1e-9
    assert abs(again["loss"] - best["val_loss"]) < 1e-6
    assert trainer.best_value == (best["val_acc"], best["val_loss"])
    # no later epoch is more accurate, nor as accurate with a lower loss
    for row in history[trainer.best_epoch :]:
        assert row["val_acc"] < best["val_acc"] or (
            row["val_acc"] == best["val_acc"] and row["val_loss"] >= best["val_loss"]
        )


def test_regression_task_reduces_mae():
    seed_everything(0)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    model = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0))
    trainer = Trainer(
        model,
        make_task("regression"),
        Training(epochs=30, lr=1e-2, grad_clip=1.0, schedule="cosine"),
        progress=False,
    )
    history = trainer.fit(ArrayBatches(x, y, 32, shuffle=True), ArrayBatches(x, y, 64))
    assert history[-1]["val_mae"] < 0.2 * history[0]["val_mae"] or history[-1]["val_mae"] < 0.05


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path):
    config = Training(epochs=4, seed=3)
    _, full, full_model = fit_linear(config)
    ckpt = tmp_path / "checkpoint.pt"
    fit_linear(Training(epochs=4, seed=3), checkpoint=ckpt)  # leaves a checkpoint after epoch 4
    # simulate a kill after epoch 2 by training a fresh run for 2 epochs only
    ckpt.unlink()
    trainer = None
    import convseq.training.trainer as tr

    original = tr.Trainer._save_checkpoint

    def save_then_die(self, epoch, schedule):
        original(self, epoch, schedule)
        if epoch == 2:
            raise KeyboardInterrupt

    tr.Trainer._save_checkpoint = save_then_die
    try:
        fit_linear(Training(epochs=4, seed=3), checkpoint=ckpt)
    except KeyboardInterrupt:
        pass
    finally:
        tr.Trainer._save_checkpoint = original
    trainer, resumed, resumed_model = fit_linear(Training(epochs=4, seed=3), checkpoint=ckpt)
    assert strip(resumed) == strip(full)
    for a, b in zip(
        full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


# ------------------------------------------------------------------ monitor
def test_auto_monitor_is_the_tasks_and_an_explicit_one_is_checked():
    binary, regression = make_task("binary"), make_task("regression")
    assert monitored(Training(), binary) == ("val_acc", "max")
    assert monitored(Training(), regression) == ("val_mae", "min")
    assert monitored(Training(monitor="val_loss"), binary) == ("val_loss", "min")
    with pytest.raises(UserError, match="--monitor val_acc is not reported by this task"):
        monitored(Training(monitor="val_acc"), regression)
    with pytest.raises(UserError, match="--monitor must be one of"):
        Training(monitor="acc")


def scripted_fit(monkeypatch, rows, **config) -> Trainer:
    """Fit a tiny model for ``len(rows)`` epochs, each epoch's validation scores given."""
    scores = iter(rows)
    monkeypatch.setattr(Trainer, "evaluate", lambda self, data: next(scores))
    seed_everything(0)
    x, y = separable(n=32)
    model = nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))
    settings = Training(epochs=len(rows), **config)
    trainer = Trainer(model, make_task("binary"), settings, progress=False)
    trainer.fit(ArrayBatches(x, y, 16), ArrayBatches(x, y, 16))
    return trainer


def test_equal_val_acc_goes_to_the_lower_val_loss(monkeypatch):
    rows = [
        {"loss": 0.5, "acc": 0.9},  # val_loss, val_acc below, as evaluate returns them
        {"loss": 0.4, "acc": 1.0},
        {"loss": 0.2, "acc": 1.0},  # as accurate, surer: the best
        {"loss": 0.3, "acc": 1.0},
        {"loss": 0.1, "acc": 0.95},  # lower loss, but less accurate
    ]
    trainer = scripted_fit(monkeypatch, rows)
    assert trainer.monitor == "val_acc" and trainer.best_epoch == 3
    assert trainer.best_value == (1.0, 0.2)


def test_early_stopping_counts_epochs_without_a_better_score(monkeypatch):
    rows = [
        {"loss": 0.5, "acc": 0.8},
        {"loss": 0.4, "acc": 0.9},
        {"loss": 0.3, "acc": 0.9},  # as accurate with a lower loss: better, the count restarts
        {"loss": 0.35, "acc": 0.9},
        {"loss": 0.2, "acc": 0.85},  # a second epoch without a better score: stop
        {"loss": 0.1, "acc": 1.0},  # never reached
    ]
    trainer = scripted_fit(monkeypatch, rows, patience=2)
    assert trainer.best_epoch == 3 and len(trainer.history) == 5


def test_monitoring_val_loss_picks_the_lowest_loss(monkeypatch):
    rows = [{"loss": 0.5, "acc": 0.9}, {"loss": 0.2, "acc": 0.8}, {"loss": 0.3, "acc": 1.0}]
    trainer = scripted_fit(monkeypatch, rows, monitor="val_loss")
    assert trainer.monitor == "val_loss" and trainer.best_epoch == 2


def test_the_best_epochs_weights_are_the_ones_kept(monkeypatch):
    kept = []
    rows = [{"loss": 0.5, "acc": 1.0}, {"loss": 0.2, "acc": 1.0}, {"loss": 0.3, "acc": 1.0}]
    original = Trainer._fit_epochs

    def record(self, *args):
        hook = self.on_epoch_end
        self.on_epoch_end = lambda row: kept.append(
            [p.detach().clone() for p in self.model.parameters()]
        )
        try:
            original(self, *args)
        finally:
            self.on_epoch_end = hook

    monkeypatch.setattr(Trainer, "_fit_epochs", record)
    trainer = scripted_fit(monkeypatch, rows)
    assert trainer.best_epoch == 2
    for a, b in zip(trainer.model.parameters(), kept[1], strict=True):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(kept[1], kept[2], strict=True))
