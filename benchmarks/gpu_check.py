"""On a CUDA machine: the device tests on the GPU, then one epoch of each preset in fp32 and
bf16 on the GPU, with samples per second beside the CPU's.

    CONVSEQ_DATA=/path/to/data python benchmarks/gpu_check.py [--presets imdb-cnn,etth1-tcn]
        [--cpu]   # also time each preset's epoch on the CPU (slow)

Runs ``pytest tests/test_devices.py`` (every model and kernel on cuda against
the CPU, and under bf16 autocast), then ``convseq run PRESET --epochs 1
--device cuda --precision P`` for each preset, reading samples/s from the
run's history. Jena runs on the shared quarter when the full file is not
there. Exit status 2 on a machine without CUDA: there is nothing to check.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
QUARTER = ["--splits", "0:50000,50001:75000,75001:"]
PRESETS = {
    "imdb-cnn": [],
    "imdb-region-cnn": ["--pretrain-epochs", "0"],
    "etth1-cnn": [],
    "etth1-cnn-gru": [],
    "etth1-tcn": [],
    "jena-cnn": QUARTER,
    "jena-cnn-gru": QUARTER,
    "jena-gru": QUARTER,
    "jena-tcn": QUARTER,
}


def epoch_rate(preset: str, device: str, precision: str, work: Path) -> str:
    out = work / f"{preset}-{device}-{precision}"
    command = [sys.executable, "-m", "convseq", "run", preset, "--epochs", "1", "--shards", "1",
               "--device", device, "--precision", precision, *PRESETS[preset], "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return "failed: " + done.stderr.strip().splitlines()[-1][:120]
    with open(out / "history.csv") as f:
        row = next(csv.DictReader(f))
    score = row.get("val_acc") or row.get("val_mae")
    return f"{float(row['samples_per_s']):10,.0f} samples/s (val {float(score):.4f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--cpu", action="store_true", help="also time each epoch on the CPU")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("error: no CUDA GPU here; run this on a machine with one", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, "
          f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")  # fmt: skip
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(ROOT / "tests" / "test_devices.py")]
    )
    print(f"device tests on cuda: {'passed' if tests.returncode == 0 else 'FAILED'}")
    ways = [("cuda", "fp32"), ("cuda", "bf16")] + ([("cpu", "fp32")] if args.cpu else [])
    with tempfile.TemporaryDirectory() as work:
        data = Path(os.environ.get("CONVSEQ_DATA", ROOT.parent / "shared" / "data"))
        jena = Path(work) / "data"
        jena.mkdir()
        for item in data.iterdir():
            (jena / item.name).symlink_to(item)
        if (
            not any(jena.glob("jena_climate_2009_2016.csv*"))
            and (jena / "jena_climate_2009_2016_head.csv.gz").exists()
        ):
            (jena / "jena_climate_2009_2016.csv.gz").symlink_to(
                data / "jena_climate_2009_2016_head.csv.gz"
            )
        os.environ["CONVSEQ_DATA"] = str(jena)
        for preset in [p for p in args.presets.split(",") if p]:
            for device, precision in ways:
                print(
                    f"{preset:16s} {device:5s} {precision}: {epoch_rate(preset, device, precision, Path(work))}",
                    flush=True,
                )
    return 0 if tests.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
