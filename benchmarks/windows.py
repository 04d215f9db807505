"""Windows per second of the series data path, on the jena-cnn-gru shape.

Lookback 1440 rows, step 3 (480-step windows), 14 features, batch 128, on a
random series as long as the Jena file (420,551 rows), with one PyTorch thread.
Times the training source (500 batches of randomly drawn windows, as one
reference epoch) and the sequential validation pass; the target is at least
100,000 windows/s for both. Exits 1 when a target is missed.

    PYTHONPATH=src python benchmarks/windows.py [--rows 420551] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from convseq.data.windows import Windows

TARGET = 100_000


def windows_per_second(source: Windows, epoch: int) -> float:
    began = time.perf_counter()
    count = sum(len(targets) for _, targets in source.epoch(epoch))
    return count / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=420_551)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = np.random.default_rng(0).normal(size=(args.rows, 14)).astype(np.float32)
    shape = dict(lookback=1440, step=3, delay=144, batch_size=128)
    train = Windows(
        data, data[:, 1], **shape, min_index=0, max_index=200_000, shuffle=True, steps_per_epoch=500
    )
    val = Windows(data, data[:, 1], **shape, min_index=200_001, max_index=300_000)
    inputs, _ = next(iter(train.epoch(1)))
    print(f"batch {tuple(inputs.shape)} float32, 1 thread, best of {args.repeats}")
    failed = False
    for name, source in (("train (500 random batches)", train), ("validation (sequential)", val)):
        rate = max(windows_per_second(source, epoch) for epoch in range(1, args.repeats + 1))
        verdict = "ok" if rate >= TARGET else "BELOW TARGET"
        failed |= rate < TARGET
        print(f"{name:28s} {rate:12,.0f} windows/s  (target {TARGET:,}: {verdict})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
