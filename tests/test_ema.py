"""``--ema``: the moving average of the weights is what is scored and saved, training itself is
unchanged, a resumed run ends where an uninterrupted one does, and bad decays are refused."""

import pytest
import torch
import torch.nn as nn

import convseq.training.trainer as trainer_module
from convseq.cli import main
from convseq.config import Training
from convseq.data.batches import ArrayBatches
from convseq.errors import UserError
from convseq.training.seed import seed_everything
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer, evaluate

STEPS_PER_EPOCH = 8  # 256 training rows, batches of 32


def data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(320, 6, generator=g)
    y = x[:, 0] - 0.5 * x[:, 3] + 0.1 * torch.randn(320, generator=g)
    return (
        ArrayBatches(x[:256], y[:256], 32, shuffle=True, seed=1),
        ArrayBatches(x[256:], y[256:], 64),
    )


def model():
    seed_everything(0)
    return nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1), nn.Flatten(0)
    )


def trainer(ema, checkpoint=None):
    config = Training(epochs=4, optimizer="adam", lr=0.01, schedule="cosine", ema=ema)
    return Trainer(model(), make_task("regression"), config, checkpoint=checkpoint, progress=False)


def test_the_saved_weights_are_the_average_at_the_best_epoch():
    # the same run without ema, every step's weights recorded: the path is unchanged by ema
    plain = trainer(0.0)
    path = []
    plain.optimizer.register_step_post_hook(
        lambda *_: path.append([p.detach().clone() for p in plain.model.parameters()])
    )
    plain.fit(*data())
    averaged = trainer(0.9)
    history = averaged.fit(*data())
    average = [p.detach().clone() for p in model().parameters()]
    for n, weights in enumerate(path[: averaged.best_epoch * STEPS_PER_EPOCH]):
        decay = min(0.9, (1 + n) / (10 + n))
        average = [a * decay + (1 - decay) * w for a, w in zip(average, weights, strict=True)]
    for saved, expected in zip(averaged.model.parameters(), average, strict=True):
        assert torch.allclose(saved, expected, atol=1e-6)
    # the monitored validation score is the average's, and it differs from the live weights'
    val = data()[1]
    best_row = history[averaged.best_epoch - 1]
    assert evaluate(averaged.model, make_task("regression"), val)["mae"] == pytest.approx(
        best_row["val_mae"], rel=1e-6
    )
    assert [r["loss"] for r in history] == [r["loss"] for r in plain.history]
    assert [r["val_mae"] for r in history] != [r["val_mae"] for r in plain.history]


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    full = trainer(0.8)
    full.fit(*data())
    original = trainer_module.Trainer._save_checkpoint

    def save_then_die(self, epoch, schedule):
        original(self, epoch, schedule)
        if epoch == 2:
            raise KeyboardInterrupt

    checkpoint = tmp_path / "checkpoint.pt"
    monkeypatch.setattr(trainer_module.Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        trainer(0.8, checkpoint).fit(*data())
    monkeypatch.setattr(trainer_module.Trainer, "_save_checkpoint", original)
    resumed = trainer(0.8, checkpoint)
    resumed.fit(*data())
    assert [r["val_mae"] for r in resumed.history] == [r["val_mae"] for r in full.history]
    assert resumed.best_epoch == full.best_epoch
    pairs = zip(full.model.state_dict().values(), resumed.model.state_dict().values(), strict=True)
    for a, b in pairs:
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "decay, message", [(-0.1, "--ema must be at least 0, got -0.1"), (1.0, "--ema must be below 1")]
)
def test_a_decay_outside_zero_to_one_is_refused(decay, message, capsys, tmp_path):
    assert main(["run", "etth1-cnn", "--ema", str(decay), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convseq: error: {message}")
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()
    with pytest.raises(UserError, match=message):
        Training(ema=decay)
