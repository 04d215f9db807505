"""Train a forecasting preset on the fast conv path and on plain nn.Conv1d layers; print val MAE.

The fast path (``models/conv_pool.py``) computes the same function; this shows
that training ends at the same validation MAE within run-to-run noise. The
layer-by-layer run is forced the way the model summary forces it: a forward
hook on the convolution layers.

    python benchmarks/forecast_fast_path_accuracy.py etth1-cnn --epochs 3 --seeds 0,1
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import convseq  # noqa: F401  (before torch: convseq's thread settings)
import convseq.models.forecast as forecast
from convseq.cli.main import main as convseq_main


def run(preset: str, epochs: int, seed: int, fast: bool, folder: Path) -> list[float]:
    real = forecast._hooked
    if not fast:
        forecast._hooked = lambda layers: True
    try:
        convseq_main(
            ["run", preset, "--epochs", str(epochs), "--seed", str(seed), "--out", str(folder)]
        )
    finally:
        forecast._hooked = real
    with open(folder / "history.csv") as f:
        return [float(row["val_mae"]) for row in csv.DictReader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="a forecasting preset, e.g. etth1-cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for fast in (True, False):
                folder = Path(tmp) / f"{seed}-{fast}"
                rows.append((seed, fast, run(args.preset, args.epochs, seed, fast, folder)))
    for seed, fast, maes in rows:
        path = "fast (default)" if fast else "layer by layer"
        print(f"{args.preset} seed {seed} {path:15s} val_mae " + " ".join(f"{m:.4f}" for m in maes))


if __name__ == "__main__":
    main()
