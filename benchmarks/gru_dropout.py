"""What real recurrent dropout costs: KerasGRU's masked loop vs the fused nn.GRU.

Times one training step (forward + backward) of a GRU(32) on the reference
shapes, both implementations alternating in one process so that a busy
machine slows them alike, and reports the ratio. One thread by default.

    PYTHONPATH=src python benchmarks/gru_dropout.py [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from convseq.models.gru import KerasGRU

SHAPES = {
    # name: (batch, time steps reaching the GRU, input features, dropout, recurrent dropout)
    "jena-cnn-gru (after the convs)": (128, 154, 32, 0.1, 0.5),
    "jena-gru": (128, 240, 14, 0.2, 0.2),
    "etth1-gru": (128, 240, 1, 0.2, 0.2),  # the preset reads OT alone
}


def step_seconds(module: torch.nn.Module, x: torch.Tensor) -> float:
    began = time.perf_counter()
    module(x).sum().backward()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s), forward + backward per batch")
    for name, (batch, steps, features, dropout, recurrent) in SHAPES.items():
        masked = KerasGRU(features, 32, dropout, recurrent).train()
        fused = KerasGRU(features, 32).train()  # no dropout: plain nn.GRU
        x = torch.randn(batch, steps, features)
        step_seconds(masked, x), step_seconds(fused, x)  # warm-up
        times = {"masked": [], "fused": []}
        for _ in range(args.repeats):
            times["masked"].append(step_seconds(masked, x))
            times["fused"].append(step_seconds(fused, x))
        best = {k: min(v) for k, v in times.items()}
        print(
            f"{name:32s} batch {batch}, {steps} steps: nn.GRU {best['fused'] * 1e3:6.1f} ms, "
            f"with recurrent dropout {best['masked'] * 1e3:6.1f} ms "
            f"({best['masked'] / best['fused']:.2f}x)"
        )


if __name__ == "__main__":
    main()
