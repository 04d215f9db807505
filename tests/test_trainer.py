import torch
import torch.nn as nn

from convseq.data.batches import ArrayBatches
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import TrainConfig, Trainer


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
    trainer, history, _ = fit_linear(TrainConfig(epochs=15, lr=3e-3))
    assert trainer.best_value > 0.95
    assert history[-1]["acc"] > 0.9
    assert set(history[0]) >= {"loss", "acc", "val_loss", "val_acc", "seconds", "samples_per_s"}


def test_same_seed_same_history():
    _, a, _ = fit_linear(TrainConfig(epochs=3, seed=7))
    _, b, _ = fit_linear(TrainConfig(epochs=3, seed=7))
    assert strip(a) == strip(b)


def test_best_weights_restored_and_early_stopping():
    trainer, history, model = fit_linear(
        TrainConfig(epochs=40, lr=3e-3, patience=2, schedule="plateau")
    )
    assert len(history) < 40
    assert trainer.best_epoch == len(history) - 2
    x, y = separable()
    from convseq.training.trainer import evaluate

    again = evaluate(model, make_task("binary"), ArrayBatches(x[300:], y[300:], 50))
    assert abs(again["acc"] - trainer.best_value) < 1e-9


def test_regression_task_reduces_mae():
    seed_everything(0)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    model = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0))
    trainer = Trainer(
        model,
        make_task("regression"),
        TrainConfig(epochs=30, lr=1e-2, grad_clip=1.0, schedule="cosine"),
        progress=False,
    )
    history = trainer.fit(ArrayBatches(x, y, 32, shuffle=True), ArrayBatches(x, y, 64))
    assert history[-1]["val_mae"] < 0.2 * history[0]["val_mae"] or history[-1]["val_mae"] < 0.05


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path):
    config = TrainConfig(epochs=4, seed=3)
    _, full, full_model = fit_linear(config)
    ckpt = tmp_path / "checkpoint.pt"
    fit_linear(TrainConfig(epochs=4, seed=3), checkpoint=ckpt)  # leaves a checkpoint after epoch 4
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
        fit_linear(TrainConfig(epochs=4, seed=3), checkpoint=ckpt)
    except KeyboardInterrupt:
        pass
    finally:
        tr.Trainer._save_checkpoint = original
    trainer, resumed, resumed_model = fit_linear(TrainConfig(epochs=4, seed=3), checkpoint=ckpt)
    assert strip(resumed) == strip(full)
    for a, b in zip(
        full_model.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
