"""The speed benchmark's own pieces: identical data, the convseq side, Keras's models."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "vs_keras.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("vs_keras", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_data_is_identical_for_a_seed_and_has_the_real_shapes(bench):
    imdb, jena = bench.BENCHES["imdb-cnn"], bench.BENCHES["jena-cnn-gru"]
    x1, y1 = bench.make_data(imdb, 64, seed=3, uniform_tokens=False)
    x2, y2 = bench.make_data(imdb, 64, seed=3, uniform_tokens=False)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert x1.shape == (64, 500) and x1.min() >= 0 and x1.max() < 10_000
    assert (x1[:, 0] == 0).mean() > 0.5  # most reviews are shorter than 500: pre-padded
    # Zipf ids: far fewer distinct ids per batch than uniform ones, near real IMDB's 1,740
    zipf = bench.distinct_per_batch(x1, 32)
    uniform = bench.distinct_per_batch(bench.make_data(imdb, 64, 3, True)[0], 32)
    assert 1_300 < zipf < 2_300 < 7_000 < uniform
    xs, ys = bench.make_data(jena, 8, seed=0, uniform_tokens=False)
    assert xs.shape == (8, 480, 14) and ys.shape == (8,)


def test_convseq_worker_times_the_samples_it_was_asked_for(bench, monkeypatch):
    monkeypatch.setattr(bench, "WARMUP_BATCHES", 1)
    result = bench.convseq_worker(bench.BENCHES["imdb-cnn"], 64, seed=0, uniform_tokens=False)
    assert result["available"] and result["samples"] == 64 and result["seconds"] > 0


def test_a_bench_without_a_preset_is_reported_unavailable(bench):
    missing = bench.Bench("no-such-preset", "regression", 4, (10, 2), 8, 0.5)
    assert bench.convseq_worker(missing, 8, 0, False) == {"available": False}


def test_each_bench_times_its_presets_data_model_and_training(bench):
    from convseq.presets import PRESETS

    for name, b in bench.BENCHES.items():
        preset = PRESETS[name]
        run = bench.preset_run(b)  # refuses a bench whose data differs from the preset's
        assert run.model == preset.model and run.train.epochs == 2
        assert run.model_settings == preset.model_defaults(preset.model)
        assert run.train.optimizer == "rmsprop" and run.train.shards == 2
    other = bench.Bench("jena-cnn", "regression", 128, (480, 14), 8, 0.5)  # jena-cnn-gru's windows
    with pytest.raises(RuntimeError, match="the preset trains on"):
        bench.preset_run(other)


def test_keras_models_have_the_reference_sizes(bench):
    pytest.importorskip("keras", reason="the [bench] extra (keras) is not installed")
    from convseq.models import TextShape, build_model

    model = bench.keras_model("imdb-cnn")
    reference = build_model("text-cnn", TextShape(vocab_size=10_000))
    assert model.count_params() == sum(p.numel() for p in reference.parameters()) == 1_315_937
    assert bench.keras_model("jena-cnn").output_shape == (None, 1)
    gru = bench.keras_model("jena-cnn-gru")
    assert gru.layers[-2].__class__.__name__ == "GRU" and gru.layers[-2].recurrent_dropout == 0.5


def test_the_workers_train_in_shards_as_the_presets_do(bench, monkeypatch):
    import torch

    from convseq.presets import PRESETS
    from convseq.training import trainer

    seen = []
    original = trainer.ShardedStep.__init__

    def record(self, model, task, params, shards, *precision):
        seen.append((shards, torch.get_num_threads()))
        original(self, model, task, params, shards, *precision)

    monkeypatch.setattr(trainer.ShardedStep, "__init__", record)
    monkeypatch.setattr(bench, "WARMUP_BATCHES", 1)
    threads = torch.get_num_threads()
    for name in ("imdb-cnn", "jena-cnn", "jena-cnn-gru"):
        seen.clear()
        shards = PRESETS[name].train["shards"]
        batch = bench.BENCHES[name].batch
        result = bench.convseq_worker(bench.BENCHES[name], batch, seed=0, uniform_tokens=False)
        assert result["available"] and result["seconds"] > 0
        assert shards == 2 and seen == [(shards, PRESETS[name].threads)]  # as `convseq run`
        assert torch.get_num_threads() == threads  # the preset's count is given back


def test_the_convolution_floor_is_timed(bench):
    assert 0 < bench.jena_cnn_conv_floor_ms(batch=8, repeats=2) < 1000
