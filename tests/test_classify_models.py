"""The classifiers of cases: padding never changes a case's output, each model learns a few
steps, and ROCKET's ridge picks its penalty by exact leave-one-out error."""

import numpy as np
import pytest
import torch

from convseq.config import CaseTraining
from convseq.data.batches import ArrayBatches
from convseq.data.cases import padded
from convseq.models.masked import MaskedBatchNorm1d
from convseq.models.registry import CaseShape, get_model, list_models
from convseq.models.rocket import fit_ridge
from convseq.training.tasks import make_task
from convseq.training.trainer import Trainer
from tests.case_helpers import make_cases

SMALL = {
    "series-fcn": {"filters": [8, 8, 8]},
    "series-resnet": {"widths": [8, 8, 8]},
    "inceptiontime": {"members": 2, "depth": 3, "filters": 4, "bottleneck": 4},
    "rocket": {"kernels": 300},
}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine a second one makes each step ~100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_classify_model_is_tested_here():
    assert set(list_models("classify")) == set(SMALL)


def build(name: str, channels: int = 2, outputs: int = 3, length: int = 32):
    torch.manual_seed(0)
    return get_model(name).make(CaseShape(channels, length, outputs), SMALL[name])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_padding_does_not_change_a_cases_output(name):
    """A short case alone, and beside a case twice as long (so padded with NaN), gives the
    same logits in evaluation: the padding is masked, never read."""
    model = build(name)
    if name != "rocket":  # running statistics other than the defaults, so the norm matters
        model.train()
        model(torch.randn(4, 32, 2))
    model.eval()
    short = torch.randn(1, 20, 2)
    alone = torch.cat([short, torch.full((1, 12, 2), float("nan"))], dim=1)  # padded to 32
    longer = torch.randn(1, 64, 2)
    together = torch.cat([torch.cat([short, torch.full((1, 44, 2), float("nan"))], 1), longer])
    with torch.no_grad():
        out_alone, out_together = model(alone), model(together)
    assert torch.isfinite(out_together).all()
    torch.testing.assert_close(out_together[:1], out_alone, rtol=1e-4, atol=1e-5)


def test_masked_batch_norm_counts_only_the_cases_steps():
    norm = MaskedBatchNorm1d(1, momentum=1.0)
    x = torch.tensor([[[1.0, 3.0, 0.0, 0.0]]])
    mask = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    y = norm(x, mask)
    assert norm.running_mean.item() == pytest.approx(2.0)
    assert y[0, 0, 2:].tolist() == [0.0, 0.0]


def separable(count: int = 24):
    series, labels = make_cases(count, channels=2, unequal=True, classes=("up", "down", "flat"))
    for case, label in zip(series, labels, strict=True):
        if label == "flat":
            case *= 0.05
    ids = np.array([("up", "down", "flat").index(label) for label in labels])
    return torch.from_numpy(padded(series, 32)), ids


@pytest.mark.parametrize("name", ["series-fcn", "series-resnet", "inceptiontime"])
def test_each_net_trains_a_few_steps(name):
    x, ids = separable()
    model = build(name)
    settings = CaseTraining(epochs=3, batch_size=8, lr=1e-2, schedule="none", seed=0)
    trainer = Trainer(model, make_task("multiclass"), settings, progress=False)
    data = ArrayBatches(x, torch.from_numpy(ids), 8, shuffle=True)
    history = trainer.fit(data, ArrayBatches(x, torch.from_numpy(ids), 64))
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"]


def test_rocket_fits_separable_cases_in_closed_form():
    x, ids = separable(30)
    model = build("rocket")
    model.fit(x, ids)
    with torch.no_grad():
        assert (model(x).argmax(dim=1).numpy() == ids).mean() == 1.0


def test_ridge_leave_one_out_matches_refitting_without_each_case():
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(12, 30)), np.arange(12) % 3
    alphas = [0.1, 10.0]
    _, _, _, _, chosen = fit_ridge(features, labels, 3, alphas)
    errors = []
    for alpha in alphas:  # refit without case i (its own standardization kept, as the shortcut)
        z = (features - features.mean(0)) / features.std(0)
        targets = -np.ones((12, 3))
        targets[np.arange(12), labels] = 1
        total = 0.0
        for i in range(12):
            keep = np.arange(12) != i
            zk, tk = z[keep], targets[keep]
            mean_z, mean_t = zk.mean(0), tk.mean(0)
            coef = np.linalg.solve((zk - mean_z).T @ (zk - mean_z) + alpha * np.eye(30),
                                   (zk - mean_z).T @ (tk - mean_t))  # fmt: skip
            total += (((z[i] - mean_z) @ coef + mean_t - targets[i]) ** 2).mean()
        errors.append(total / 12)
    assert chosen == alphas[int(np.argmin(errors))]
