"""Training speed, convseq against Keras 3 (TensorFlow backend), on identical models and data.

    python benchmarks/vs_keras.py                      # all three models, 3 pairs each
    python benchmarks/vs_keras.py --models imdb-cnn --pairs 5 --samples 6400

For each model the same architecture is trained in both frameworks on the
same synthetic data of the real shapes, after a warm-up, for a fixed number
of samples. Every timed run is its own subprocess, the two frameworks take
turns (convseq, keras, convseq, keras, ...), and the median of the pairs is
reported, so drifting machine load hits both sides alike. One line per model:

    imdb-cnn: convseq 2,950 samples/s | keras 820 samples/s | ratio 0.28 (target <= 0.33) ok

``ratio`` is convseq time / Keras time for the same samples (median of the
per-pair ratios); the CPU-time ratio beside it (CPU seconds of all threads,
same samples) shows the work each side does, which a busy machine distorts
less than the wall clock. The machine's fp32 matmul GFLOP/s is measured too,
with the fraction of it that convseq's imdb-cnn training reaches. The exit status is 1
when a model misses its target or is not available, 2 on bad usage.

The convseq side is what ``convseq run NAME`` does: the preset's run
(``convseq.presets.PRESETS[NAME].make_run``) gives the model's settings and
the training settings (optimizer, shards, ...), the model is built by
``get_model(...).make(shape, settings)``, it is trained by
``convseq.training.trainer.Trainer`` with the preset's task, and the worker
process is set up as the ``convseq`` command sets itself up (OpenMP waiters
that sleep, glibc keeping freed memory, the preset's thread count).

Data. IMDB: 500 token ids per review from a vocabulary of 10,000, batch 32.
Token ids follow a Zipf law and review lengths a log-normal law (with
pre-padding by id 0), fitted to the real IMDB training set, because the
number of distinct tokens per batch (real IMDB: about 1,740 of 16,000) sets
the cost of convseq's fused first layer; ``--uniform-tokens`` draws ids
uniformly instead (about 8,000 distinct per batch; a worst case no text
has). Jena: batch 128, windows of 240 x 14 (jena-cnn) and 480 x 14
(jena-cnn-gru), normal noise. Keras's speed does not depend on the values.

Needs the ``bench`` extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

VOCAB, REVIEW_LEN = 10_000, 500
# the environment as the user gave it, for the workers: the convseq worker sets
# itself up as the convseq command does, which the Keras side must not inherit
USER_ENVIRONMENT = dict(os.environ)
JENA_FEATURES = 14


@dataclass(frozen=True)
class Bench:
    name: str  # the convseq preset: its model and training settings, as `convseq run NAME`
    task: str  # "binary" (text) or "regression" (forecast): the data made for both sides
    batch: int  # samples per batch: the preset's batch size
    shape: tuple  # one input sample: the preset's (max_len,) or (lookback / step, features)
    samples: int  # timed samples by default
    target: float  # highest passing ratio


BENCHES = {
    b.name: b
    for b in (
        Bench("imdb-cnn", "binary", 32, (REVIEW_LEN,), 4_800, 0.33),
        Bench("jena-cnn", "regression", 128, (240, JENA_FEATURES), 6_400, 0.5),
        Bench("jena-cnn-gru", "regression", 128, (480, JENA_FEATURES), 2_560, 0.5),
    )
}
WARMUP_BATCHES = 10


# ---------------------------------------------------------------- data
def make_data(bench: Bench, samples: int, seed: int, uniform_tokens: bool):
    """Inputs and targets as numpy arrays, identical for both frameworks."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if bench.task == "binary":
        if uniform_tokens:
            ids = rng.integers(0, VOCAB, size=(samples, REVIEW_LEN))
        else:
            ids = _zipf_reviews(rng, samples)
        targets = rng.integers(0, 2, size=samples).astype("float32")
        return ids.astype("int64"), targets
    inputs = rng.standard_normal((samples, *bench.shape)).astype("float32")
    return inputs, rng.standard_normal(samples).astype("float32")


def _zipf_reviews(rng, samples: int):
    """Pre-padded reviews whose token and length statistics follow real IMDB's."""
    import numpy as np

    oov = 0.057  # share of out-of-vocabulary words (id 1) in the real reviews
    ranks = np.arange(2, VOCAB, dtype=float)
    probs = ranks**-1.12
    probs = np.concatenate([[oov], probs / probs.sum() * (1 - oov)])
    tokens = rng.choice(np.arange(1, VOCAB), size=(samples, REVIEW_LEN), p=probs)
    lengths = np.clip(np.round(rng.lognormal(5.25, 0.7, samples)), 1, REVIEW_LEN)
    padding = np.arange(REVIEW_LEN)[None, :] < (REVIEW_LEN - lengths)[:, None]
    return np.where(padding, 0, tokens)


def distinct_per_batch(ids, batch: int) -> float:
    import numpy as np

    n = len(ids) // batch
    return float(np.mean([np.unique(ids[i * batch : (i + 1) * batch]).size for i in range(n)]))


# ------------------------------------------------------------- workers
def preset_run(bench: Bench, seed: int = 0):
    """``convseq run NAME``'s checked settings for ``bench`` (two epochs: the warm-up, then the
    timed one), or None when no preset has its name."""
    from convseq.presets import PRESETS

    preset = PRESETS.get(bench.name)
    if preset is None:
        return None
    run = preset.make_run({"epochs": 2, "patience": 0, "seed": seed})
    if run.task == "text":
        made = ("binary", run.train.batch_size, (run.shaping.max_len,), run.shaping.vocab_size)
        wanted = (bench.task, bench.batch, bench.shape, VOCAB)
    else:
        window = len(range(0, run.shaping.lookback, run.shaping.step))
        made = ("regression", run.train.batch_size, (window, JENA_FEATURES))
        wanted = (bench.task, bench.batch, bench.shape)
    if made != wanted:  # the Keras side would time other data than the preset trains on
        raise RuntimeError(f"{bench.name}: the preset trains on {made}, the benchmark on {wanted}")
    return run


def convseq_shape(bench: Bench, run):
    """What the data fixes for the model, as the preset's pipeline sets it."""
    from convseq.models import SeriesShape, TextShape

    if run.task == "text":
        return TextShape(vocab_size=run.shaping.vocab_size)
    return SeriesShape(num_features=bench.shape[1], window=bench.shape[0])


def convseq_task(run, model):
    """The preset's loss and metrics, as its pipeline makes them."""
    from convseq.models.ensemble import members_of
    from convseq.training.tasks import make_task

    if run.task == "text":
        return make_task("binary")
    train = run.train
    return make_task(
        "regression",
        loss=train.loss,
        huber_delta=train.huber_delta,
        final_weight=train.final_weight,
        members=len(members_of(model)),
    )


def convseq_worker(bench: Bench, samples: int, seed: int, uniform_tokens: bool) -> dict:
    """Train as ``convseq run NAME`` would and time the samples after the warm-up."""
    import torch

    from convseq.cli import torch_threads
    from convseq.models import get_model
    from convseq.presets import PRESETS
    from convseq.training.trainer import Trainer

    run = preset_run(bench, seed)
    if run is None:
        return {"available": False}
    warm = WARMUP_BATCHES * bench.batch
    x, y = make_data(bench, warm + samples, seed, uniform_tokens)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    # the preset's thread count, as its command line sets it
    with torch_threads(PRESETS[bench.name].threads):
        torch.manual_seed(seed)
        model = get_model(run.model, run.task).make(convseq_shape(bench, run), run.model_settings)
        trainer = Trainer(model, convseq_task(run, model), run.train, progress=False)
        train = _WarmThenTimed(x, y, bench.batch, warm)
        history = trainer.fit(train, _Batches(x[: bench.batch], y[: bench.batch], bench.batch))
    return {
        "available": True,
        "seconds": history[-1]["seconds"],
        "cpu_seconds": train.cpu_seconds,
        "samples": samples,
    }


def as_the_convseq_command() -> None:
    """This process set up as ``convseq`` sets itself up (``convseq.cli.entry``): before torch
    loads, OpenMP's waiting threads sleep; glibc keeps freed memory for reuse."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from convseq.cli import keep_freed_memory

    keep_freed_memory()


class _Batches:
    def __init__(self, x, y, batch):
        self.x, self.y, self.batch = x, y, batch

    def __len__(self):
        return len(self.y) // self.batch

    def epoch(self, n):
        for i in range(len(self)):
            yield (
                self.x[i * self.batch : (i + 1) * self.batch],
                self.y[i * self.batch : (i + 1) * self.batch],
            )


class _WarmThenTimed:
    """Epoch 1 is the warm-up batches, epoch 2 the timed ones, each shuffled like a real run."""

    def __init__(self, x, y, batch, warm):
        from convseq.data.batches import ArrayBatches

        self.parts = {
            1: ArrayBatches(x[:warm], y[:warm], batch, shuffle=True, seed=1),
            2: ArrayBatches(x[warm:], y[warm:], batch, shuffle=True, seed=2),
        }

    def __len__(self):
        return len(self.parts[2])

    def epoch(self, n):
        began = time.process_time()
        yield from self.parts[n].epoch(n)
        self.cpu_seconds = time.process_time() - began  # all threads, training loop only


def keras_worker(bench: Bench, samples: int, seed: int, uniform_tokens: bool) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(seed)
    warm = WARMUP_BATCHES * bench.batch
    x, y = make_data(bench, warm + samples, seed, uniform_tokens)
    model = keras_model(bench.name)
    timer = _KerasEpochTimer()
    model.fit(x[:warm], y[:warm], batch_size=bench.batch, epochs=1, verbose=0)
    model.fit(x[warm:], y[warm:], batch_size=bench.batch, epochs=1, verbose=0, callbacks=[timer])
    return {
        "available": True,
        "seconds": timer.seconds,
        "cpu_seconds": timer.cpu_seconds,
        "samples": samples,
    }


def keras_model(name: str):
    """The reference models, written for Keras 3 (imdb-cnn with the sigmoid its loss needs)."""
    import keras
    from keras import layers

    if name == "imdb-cnn":
        inputs = keras.Input((REVIEW_LEN,), dtype="int32")
        x = layers.Embedding(VOCAB, 128)(inputs)
        x = layers.Conv1D(32, 7, activation="relu")(x)
        x = layers.MaxPooling1D(5)(x)
        x = layers.Conv1D(32, 7, activation="relu")(x)
        x = layers.GlobalMaxPooling1D()(x)
        outputs = layers.Dense(1, activation="sigmoid")(x)
        loss, metrics = "binary_crossentropy", ["acc"]
    else:
        inputs = keras.Input(BENCHES[name].shape)
        x = layers.Conv1D(32, 5, activation="relu")(inputs)
        x = layers.MaxPooling1D(3)(x)
        x = layers.Conv1D(32, 5, activation="relu")(x)
        if name == "jena-cnn":
            x = layers.MaxPooling1D(3)(x)
            x = layers.Conv1D(32, 5, activation="relu")(x)
            x = layers.GlobalMaxPooling1D()(x)
        else:
            x = layers.GRU(32, dropout=0.1, recurrent_dropout=0.5)(x)
        outputs = layers.Dense(1)(x)
        loss, metrics = "mae", None
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=loss, metrics=metrics)
    return model


def _keras_timer_base():
    import keras

    return keras.callbacks.Callback


class _KerasEpochTimer:
    """A Keras callback (built lazily so this module imports without Keras)."""

    def __new__(cls):
        base = _keras_timer_base()

        class Timer(base):
            seconds = cpu_seconds = 0.0

            def on_epoch_begin(self, epoch, logs=None):
                self.began = time.perf_counter()
                self.cpu_began = time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds = time.perf_counter() - self.began
                self.cpu_seconds = time.process_time() - self.cpu_began

        return Timer()


# --------------------------------------------------------------- driver
def run_worker(framework: str, bench: Bench, samples: int, seed: int, uniform: bool) -> dict:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        framework,
        "--models",
        bench.name,
        "--samples",
        str(samples),
        "--seed",
        str(seed),
    ] + (["--uniform-tokens"] if uniform else [])
    done = subprocess.run(command, capture_output=True, text=True, env=USER_ENVIRONMENT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{framework} worker for {bench.name} failed:\n" + "\n".join(tail))
    return json.loads(lines[-1])


def matmul_gflops() -> float:
    """fp32 matmul speed of this machine with torch's default threads (best of 5)."""
    import torch

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * n**3 / best / 1e9


CONV1_STEPS = REVIEW_LEN - 6  # 494 after the first Conv1D(32, 7)
CONV2_STEPS = CONV1_STEPS // 5 - 6  # 92 after MaxPool(5) and the second Conv1D(32, 7)


def imdb_cnn_dense_flops_per_sample() -> float:
    """Training FLOPs of one review as a dense network computes them (backward = 2 x forward)."""
    conv1 = CONV1_STEPS * 32 * 128 * 7
    conv2 = CONV2_STEPS * 32 * 32 * 7
    return 3 * 2 * (conv1 + conv2 + 32)


def imdb_cnn_fused_flops_per_sample(distinct_tokens: float, batch: int) -> float:
    """The arithmetic convseq's fused path does per review: three (tokens x 128 x 224)
    products for the first convolution, the second one's forward, a little backward."""
    projections = 3 * 2 * distinct_tokens * 128 * 7 * 32 / batch
    conv2 = 2 * CONV2_STEPS * 32 * 32 * 7 + 2 * 2 * 32 * 32 * 7
    return projections + conv2


def jena_cnn_conv_floor_ms(batch: int = 128, shards: int = 2, repeats: int = 30) -> float:
    """Wall ms per batch for jena-cnn's convolution arithmetic alone, at convseq's best.

    Only oneDNN's convolutions, channels last, as convseq runs them: the three
    forwards, the first one's kernel gradient and the second one's input and
    kernel gradients (the third one's backward is sparse and left out, as are
    pooling, ReLU, the loss and the optimizer), for ``batch`` windows split
    into ``shards`` run at once on as many one-thread workers. No training
    step of jena-cnn can be faster than this with these kernels.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch
    import torch.nn.functional as F

    def image(steps: int, channels: int) -> torch.Tensor:
        part = batch // shards
        return torch.randn(part, steps, channels).unsqueeze(1).permute(0, 3, 1, 2)

    backward = torch.ops.aten.convolution_backward

    def convolutions() -> None:
        w1, w2, w3 = (torch.randn(32, c, 1, 5) for c in (JENA_FEATURES, 32, 32))
        x1, x2, x3 = image(240, JENA_FEATURES), image(78, 32), image(24, 32)
        g1, g2 = image(236, 32), image(74, 32)
        for _ in range(repeats):
            F.conv2d(x1, w1), F.conv2d(x2, w2), F.conv2d(x3, w3)
            conv = ((1, 1), (0, 0), (1, 1), False, (0, 0), 1)
            backward(g1, x1, w1, None, *conv, (False, True, False))
            backward(g2, x2, w2, None, *conv, (True, True, False))

    with ThreadPoolExecutor(shards, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        list(pool.map(lambda _: convolutions(), range(shards)))  # warm-up
        began = time.perf_counter()
        list(pool.map(lambda _: convolutions(), range(shards)))
    return (time.perf_counter() - began) / repeats * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(BENCHES), help="comma-separated models")
    parser.add_argument("--pairs", type=int, default=3, help="convseq/keras pairs per model")
    parser.add_argument(
        "--samples", type=int, default=0, help="timed samples (0: per-model default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--uniform-tokens", action="store_true", help="IMDB ids uniform over the vocabulary"
    )
    parser.add_argument("--worker", choices=("convseq", "keras"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown or not names:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(BENCHES)}")
    if args.pairs < 1 or args.samples < 0:
        parser.error("--pairs must be at least 1 and --samples 0 or more")

    if args.worker:
        bench = BENCHES[names[0]]
        if args.worker == "convseq":
            as_the_convseq_command()
        worker = convseq_worker if args.worker == "convseq" else keras_worker
        samples = _round_to_batch(args.samples or bench.samples, bench.batch)
        print(json.dumps(worker(bench, samples, args.seed, args.uniform_tokens)))
        return 0

    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        print('keras and tensorflow are needed: pip install -e ".[bench]"', file=sys.stderr)
        return 2

    import torch

    peak = matmul_gflops()
    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, fp32 matmul {peak:,.0f} GFLOP/s"
    )
    failed = False
    for name in names:
        bench = BENCHES[name]
        samples = _round_to_batch(args.samples or bench.samples, bench.batch)
        if bench.task == "binary":
            ids, _ = make_data(bench, samples, args.seed, args.uniform_tokens)
            distinct = distinct_per_batch(ids, bench.batch)
            print(
                f"{name}: {distinct:,.0f} distinct tokens per batch "
                f"of {bench.batch} (real IMDB: about 1,740)"
            )
            run = preset_run(bench)
            shards = run.train.shards if run else 1
            projected = shards * distinct_per_batch(ids, bench.batch // shards)
        ratios, cpu_ratios, ours, theirs = [], [], [], []
        for _ in range(args.pairs):
            a = run_worker("convseq", bench, samples, args.seed, args.uniform_tokens)
            b = run_worker("keras", bench, samples, args.seed, args.uniform_tokens)
            theirs.append(samples / b["seconds"])
            if a["available"]:
                ratios.append(a["seconds"] / b["seconds"])
                cpu_ratios.append(a["cpu_seconds"] / b["cpu_seconds"])
                ours.append(samples / a["seconds"])
        if not ratios:
            print(
                f"{name}: no convseq preset {name!r} | "
                f"keras {statistics.median(theirs):,.0f} samples/s | target not met"
            )
            failed = True
            continue
        ratio = statistics.median(ratios)
        ok = ratio <= bench.target
        failed |= not ok
        print(
            f"{name}: convseq {statistics.median(ours):,.0f} samples/s | "
            f"keras {statistics.median(theirs):,.0f} samples/s | ratio {ratio:.2f} "
            f"(target <= {bench.target}) {'ok' if ok else 'MISSED'}  "
            f"[pairs: {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"CPU-time ratio {statistics.median(cpu_ratios):.2f}]"
        )
        if name == "jena-cnn":
            floor = jena_cnn_conv_floor_ms(bench.batch)
            keras_ms = bench.batch / statistics.median(theirs) * 1000
            print(
                f"jena-cnn: its convolutions alone take {floor:.1f} ms per batch on both "
                f"cores (oneDNN, no pooling, loss or optimizer); Keras takes {keras_ms:.1f} ms "
                f"per whole step, so no step built on these kernels gets below a ratio "
                f"of {floor / keras_ms:.2f}"
            )
        if name == "imdb-cnn":
            speed = statistics.median(ours)
            # each shard projects its own distinct tokens
            done = speed * imdb_cnn_fused_flops_per_sample(projected, bench.batch) / 1e9
            dense = speed * imdb_cnn_dense_flops_per_sample() / 1e9
            print(
                f"imdb-cnn: convseq computes {done:,.0f} GFLOP/s ({done / peak:.0%} of the "
                f"measured matmul peak); a dense network would need {dense:,.0f} GFLOP/s "
                f"({dense / peak:.0%}) for the same speed"
            )
    return 1 if failed else 0


def _round_to_batch(samples: int, batch: int) -> int:
    return max(batch, samples // batch * batch)


if __name__ == "__main__":
    sys.exit(main())
