"""Train a forecasting preset on the fast path and on plain nn.Conv1d layers; print val MAE.

The fast path (``models/conv_pool.py``, and with ``--shards 2`` the batch
split over two threads of ``training/shards.py``, as the Jena presets train)
computes the same function; this shows that training ends at the same
validation MAE within run-to-run noise. The layer-by-layer run is forced the
way the model summary forces it, a forward hook on the convolution layers,
and trains each batch in one piece.

    python benchmarks/forecast_fast_path_accuracy.py etth1-cnn --epochs 3 --seeds 0,1
    python benchmarks/forecast_fast_path_accuracy.py etth1-cnn-gru --shards 2
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the convseq command, before torch loads

import convseq.models.forecast as forecast  # noqa: E402
from convseq.cli import keep_freed_memory  # noqa: E402
from convseq.cli import main as convseq_main  # noqa: E402


def run(preset: str, epochs: int, seed: int, shards: int, folder: Path) -> list[float]:
    """``shards`` 0: the layer-by-layer model, one piece per batch."""
    real = forecast._hooked
    if not shards:
        forecast._hooked = lambda layers: True
    try:
        code = convseq_main(
            ["run", preset, "--epochs", str(epochs), "--seed", str(seed), "--out", str(folder),
             "--shards", str(max(shards, 1))]
        )  # fmt: skip
    finally:
        forecast._hooked = real
    if code:
        raise SystemExit(code)  # convseq said why on stderr
    with open(folder / "history.csv") as f:
        return [float(row["val_mae"]) for row in csv.DictReader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="a forecasting preset, e.g. etth1-cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--shards", type=int, default=1, help="the fast run's --shards")
    args = parser.parse_args()
    if args.shards < 1 or args.epochs < 1:
        parser.error("--shards and --epochs must be at least 1")
    keep_freed_memory()  # as the convseq command does
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for shards in (args.shards, 0):
                folder = Path(tmp) / f"{seed}-{shards}"
                rows.append((seed, shards, run(args.preset, args.epochs, seed, shards, folder)))
    for seed, shards, maes in rows:
        path = f"fast, {shards} shard(s)" if shards else "layer by layer"
        print(f"{args.preset} seed {seed} {path:18s} val_mae " + " ".join(f"{m:.4f}" for m in maes))


if __name__ == "__main__":
    main()
