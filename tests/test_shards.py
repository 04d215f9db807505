"""Sharded training steps: the same gradient as one piece, reproducible whatever thread draws first."""

import json

import pytest
import torch

from convseq.config import Training
from convseq.data.batches import ArrayBatches
from convseq.errors import UserError
from convseq.models import SeriesShape, TextShape, build_model
from convseq.models.random_source import drawing_from
from convseq.training.shards import SEED_BOUND, ShardedStep, shard_safe
from convseq.training.tasks import Regression, make_task
from convseq.training.trainer import Trainer
from tests.forecast_helpers import WINDOW, refused, train_forecast, write_series

SHARD_SAFE = ["series-cnn", "series-cnn-gru", "series-gru", "series-linear"]


def _model(name: str, features: int = 3, **settings) -> torch.nn.Module:
    torch.manual_seed(0)
    shape = SeriesShape(num_features=features, window=80)
    return build_model(name, shape, settings).double()


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(("batch", "shards"), [(8, 2), (5, 2), (1, 2), (7, 3)])
def test_shards_give_the_whole_batchs_loss_and_gradient(batch, shards):
    model, task = _model("series-cnn"), Regression()
    x, y = torch.randn(batch, 80, 3, dtype=torch.float64), torch.randn(batch, dtype=torch.float64)
    output = model(x)
    loss = task.loss(output, y)
    loss.backward()
    whole = _grads(model)
    params = list(model.parameters())
    with ShardedStep(model, task, params, shards=shards) as step:
        sharded_output, sharded_loss = step(x, y)
    assert torch.allclose(sharded_output, output.detach(), atol=1e-12)
    assert torch.allclose(sharded_loss, loss.detach(), atol=1e-12)
    for a, b in zip(_grads(model), whole, strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_every_shard_computes_in_the_runs_precision():
    """Autocast is per thread: each shard, the workers' included, must enter it itself."""
    torch.manual_seed(0)
    model = build_model("series-cnn", SeriesShape(num_features=3, window=80), {})
    x, y = torch.randn(8, 80, 3), torch.randn(8)
    params = list(model.parameters())
    with ShardedStep(model, Regression(), params, 2) as step:
        fp32, _ = step(x, y)
    bf16 = lambda: torch.autocast("cpu", torch.bfloat16)  # noqa: E731
    with ShardedStep(model, Regression(), params, 2, bf16) as step:
        mixed, _ = step(x, y)
    assert not torch.equal(mixed, fp32)  # computed in bf16 ...
    assert torch.allclose(mixed, fp32, atol=0.05)  # ... to bf16's precision
    assert all(p.grad.dtype == torch.float32 for p in params)  # weights and gradients stay fp32


def test_dropout_masks_come_from_each_shards_own_generator():
    # series-cnn-gru has dropout and recurrent dropout: each shard draws its masks from
    # a generator seeded by the step, so recomputing the shards one by one with those
    # seeds gives the same gradient
    model, task = _model("series-cnn-gru"), Regression()
    model.train()
    x, y = torch.randn(6, 80, 3, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    params = list(model.parameters())
    torch.manual_seed(7)
    seeds = torch.randint(SEED_BOUND, (2,)).tolist()
    total = 0
    for part, (xs, ys) in enumerate(zip(x.tensor_split(2), y.tensor_split(2), strict=True)):
        with drawing_from(torch.Generator().manual_seed(seeds[part])):
            total = total + task.loss(model(xs), ys) * len(ys) / len(y)
    total.backward()
    by_hand = _grads(model)
    torch.manual_seed(7)
    with ShardedStep(model, task, params, shards=2) as step:
        step(x, y)
    for a, b in zip(_grads(model), by_hand, strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    # and the masks did depend on the seeds: another step draws other ones
    with ShardedStep(model, task, params, shards=2) as step:
        step(x, y)
    assert not all(torch.equal(a, b) for a, b in zip(_grads(model), by_hand, strict=True))


def _train(shards: int, seed: int = 0, epochs: int = 2, checkpoint=None) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    model = build_model("series-cnn-gru", SeriesShape(num_features=3, window=80))
    x, y = torch.randn(96, 80, 3), torch.randn(96)
    data = ArrayBatches(x, y, 16, shuffle=True, seed=seed)
    config = Training(epochs=epochs, shards=shards, seed=seed)
    trainer = Trainer(model, Regression(), config, checkpoint=checkpoint, progress=False)
    trainer.fit(data, ArrayBatches(x, y, 32))
    return [p.detach().clone() for p in model.parameters()]


def test_sharded_training_is_reproducible():
    first, again = _train(shards=2), _train(shards=2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # it did train, and not merely as the unsharded run (other dropout masks)
    assert not all(torch.equal(a, b) for a, b in zip(first, _train(shards=1), strict=True))


def test_a_sharded_run_with_dropout_resumes_to_the_uninterrupted_weights(tmp_path):
    # the per-shard dropout seeds come from the global generator, which the checkpoint keeps
    whole = _train(shards=2, epochs=3)
    checkpoint = tmp_path / "checkpoint.pt"
    _train(shards=2, epochs=1, checkpoint=checkpoint)  # stopped after epoch 1
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1
    resumed = _train(shards=2, epochs=3, checkpoint=checkpoint)
    assert all(torch.equal(a, b) for a, b in zip(whole, resumed, strict=True))
    assert not all(
        torch.equal(a, b) for a, b in zip(whole, _train(shards=2, epochs=1), strict=True)
    )


def test_every_preset_that_trains_in_shards_builds_a_shard_safe_model():
    from convseq.models.registry import example_shape
    from convseq.presets import PRESETS

    sharded = [p for p in PRESETS.values() if p.train.get("shards", 1) > 1]
    assert {p.name for p in sharded} >= {"imdb-cnn", "jena-cnn", "jena-cnn-gru", "jena-gru"}
    for preset in sharded:
        run = preset.make_run({})
        model = build_model(run.model, example_shape(preset.task), run.model_settings)
        assert shard_safe(model), preset.name
        task = make_task("binary" if preset.task == "text" else "regression")
        Trainer(model, task, run.train, progress=False)  # not refused


@pytest.mark.parametrize("name", SHARD_SAFE)
def test_the_series_models_declare_themselves_shard_safe(name):
    assert shard_safe(_model(name))


def test_a_model_with_global_dropout_is_refused():
    model = build_model("series-tcn", SeriesShape(num_features=3, window=80), {"dropout": 0.1})
    assert not shard_safe(model)
    with pytest.raises(UserError, match="--shards 1"):
        Trainer(model, Regression(), Training(shards=2), progress=False)
    with pytest.raises(UserError, match="--shards must be at least 1"):
        Training(shards=0)


def test_train_forecast_takes_shards_and_records_them(tmp_path, capsys):
    data = write_series(tmp_path / "plant.csv")
    assert train_forecast(data, tmp_path / "run", "--shards", "2") == 0  # series-cnn-gru
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["train"]["shards"] == 2
    refused(
        ["train", "forecast", str(data), "--model", "series-cnn-gru", "--time-column", "time", "--target", "load",
         *WINDOW, "--model", "series-tcn", "--shards", "2", "--out", str(tmp_path / "tcn")],
        capsys,
        "--shards 1",
    )  # fmt: skip
    assert not (tmp_path / "tcn").exists()


def test_the_fused_text_cnn_shards_with_its_sparse_embedding_gradient():
    from convseq.training.tasks import BinaryClassification

    torch.manual_seed(0)
    model = build_model("text-cnn", TextShape(vocab_size=50), {"embed_dim": 8}).double()
    ids = torch.randint(0, 50, (6, 80))
    ids[:2, :30] = 0  # pre-padding, as the reviews have
    y, task = torch.tensor([0, 1, 1, 0, 1, 0]), BinaryClassification()
    task.loss(model(ids), y).backward()
    whole = [p.grad.to_dense().clone() for p in model.parameters()]
    assert model.embedding.weight.grad.is_sparse
    with ShardedStep(model, task, list(model.parameters()), shards=2) as step:
        step(ids, y)
    for a, b in zip(model.parameters(), whole, strict=True):
        assert torch.allclose(a.grad.to_dense(), b, atol=1e-12)


def test_train_text_refuses_shards_for_a_model_with_dropout(tmp_path, capsys):
    from tests.text_helpers import QUICK, make_rows, write_csv

    data = write_csv(
        tmp_path / "reviews.csv",
        make_rows({"good": ["fine", "great"], "bad": ["poor", "awful"]}, 40),
    )
    argv = ["train", "text", str(data), *QUICK, "--model", "text-region-cnn", "--shards", "2"]
    refused([*argv, "--out", str(tmp_path / "run")], capsys, "--shards 1")
    assert not (tmp_path / "run").exists()
