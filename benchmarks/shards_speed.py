"""What sharding a batch over threads buys: one training step, three ways, side by side.

For each model, built as the preset that trains it builds it (jena-cnn,
jena-cnn-gru, imdb-cnn), on random data of that preset's shapes, times the
forward and backward pass of one batch (no optimizer step):

* ``one piece``: the whole batch on one thread, as before sharding;
* ``halves, 1 thread``: two half batches one after the other on that thread;
* ``2 shards``: the two halves at once on two threads (``training/shards.py``),
  what ``--shards 2`` does.

The three alternate in one process, and the median of the repeats is printed.
``--python-loops`` runs the GRU's step loops as Python instead of TorchScript,
to show why they are scripted: Python loops on two threads wait for each
other's lock.

    python benchmarks/shards_speed.py [--repeats 30] [--python-loops]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the convseq command, before torch loads

import torch  # noqa: E402

from convseq.cli import keep_freed_memory  # noqa: E402
from convseq.models import SeriesShape, TextShape, get_model  # noqa: E402
from convseq.presets import PRESETS  # noqa: E402
from convseq.training.shards import ShardedStep  # noqa: E402
from convseq.training.tasks import BinaryClassification, Regression  # noqa: E402

JENA_FEATURES = 14
MODELS = {
    # name: the preset whose model (with its settings), window and batch are timed
    "series-cnn": "jena-cnn",  # 240 x 14 windows, batch 128
    "series-cnn-gru": "jena-cnn-gru",  # 480 x 14 windows, batch 128
    "text-cnn": "imdb-cnn",  # 500 token ids from 10,000 words, batch 32
}


def batch_for(name: str):
    run = PRESETS[MODELS[name]].make_run({})
    assert run.model == name, f"{MODELS[name]} trains {run.model}"
    batch = run.train.batch_size
    torch.manual_seed(0)
    if run.task == "text":
        vocab = run.shaping.vocab_size
        model = get_model(name).make(TextShape(vocab_size=vocab), run.model_settings).train()
        # Zipf-like ids: few distinct tokens per batch, as in real reviews
        ranks = torch.distributions.Pareto(1.0, 0.3).sample((batch, run.shaping.max_len))
        x = ranks.long().clamp(max=vocab - 1)
        return model, BinaryClassification(), x, torch.randint(0, 2, (batch,))
    window = len(range(0, run.shaping.lookback, run.shaping.step))
    shape = SeriesShape(num_features=JENA_FEATURES, window=window)
    model = get_model(name).make(shape, run.model_settings).train()
    return model, Regression(), torch.randn(batch, window, JENA_FEATURES), torch.randn(batch)


def median_ms(model, task, x, y, repeats: int) -> dict[str, float]:
    """Median ms of one forward + backward of (x, y), each way, alternating."""
    params = [p for p in model.parameters() if p.requires_grad]

    def one_piece():
        torch.autograd.grad(task.loss(model(x), y), params)

    def halves():
        for xs, ys in zip(x.tensor_split(2), y.tensor_split(2), strict=True):
            torch.autograd.grad(task.loss(model(xs), ys) * len(ys) / len(y), params)

    with ShardedStep(model, task, params, shards=2) as sharded:
        ways = {"one piece": one_piece, "halves, 1 thread": halves}
        ways["2 shards"] = lambda: sharded(x, y)
        times = {way: [] for way in ways}
        for step in ways.values():  # warm-up
            step(), step()
        for _ in range(repeats):
            for way, step in ways.items():
                began = time.perf_counter()
                step()
                times[way].append(time.perf_counter() - began)
    return {way: statistics.median(t) * 1e3 for way, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    torch.set_num_threads(1)
    keep_freed_memory()
    print(f"torch {torch.__version__}, ms per forward + backward")
    for name in MODELS:
        model, task, x, y = batch_for(name)
        medians = median_ms(model, task, x, y, args.repeats)
        base = medians["one piece"]
        row = " | ".join(f"{way} {ms:6.1f} ms ({base / ms:.2f}x)" for way, ms in medians.items())
        print(f"{name:15s} batch {len(y):3d}: {row}")


if __name__ == "__main__":
    main()
