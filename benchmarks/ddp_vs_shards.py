"""Two cores, three ways: one process on one thread, ``--shards 2``, and ``torchrun`` with two
processes (DistributedDataParallel over gloo), on the real presets.

    CONVSEQ_DATA=../shared/data python benchmarks/ddp_vs_shards.py [--repeats 3]

Each way trains one epoch of the preset as ``convseq`` runs it, in a process
of its own, and the training samples per second of that epoch are read from
its ``history.csv`` (under torchrun: the global batch's samples). The ways
take turns, ``--repeats`` times, and the median is printed, so drifting load
on the machine hits them alike. jena-cnn-gru reads the Jena file (the shared
first quarter, ``jena_climate_2009_2016_head.csv.gz``, is used when the full
file is not there). Exit status 2 when the data is missing.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PRESETS = {
    "imdb-cnn": ["--epochs", "1", "--limit", "8000"],
    "jena-cnn-gru": [
        "--epochs",
        "1",
        "--steps-per-epoch",
        "60",
        "--splits",
        "0:50000,50001:75000,75001:",
    ],  # fmt: skip
}
WAYS = {
    "1 process, 1 thread": ["--shards", "1", "--threads", "1"],
    "1 process, --shards 2": ["--shards", "2", "--threads", "1"],
    "torchrun, 2 processes": ["--shards", "1", "--threads", "1"],
}


def data_dir(work: Path) -> Path:
    shared = Path(
        os.environ.get("CONVSEQ_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    if not (shared / "aclImdb_v1.tar.gz").is_file():
        print(f"error: no aclImdb_v1.tar.gz in {shared}; set CONVSEQ_DATA", file=sys.stderr)
        raise SystemExit(2)
    folder = work / "data"
    folder.mkdir()
    (folder / "aclImdb_v1.tar.gz").symlink_to(shared / "aclImdb_v1.tar.gz")
    for name in ("jena_climate_2009_2016.csv.zip", "jena_climate_2009_2016.csv"):
        if (shared / name).is_file():
            (folder / name).symlink_to(shared / name)
            break
    else:
        (folder / "jena_climate_2009_2016.csv.gz").symlink_to(
            shared / "jena_climate_2009_2016_head.csv.gz"
        )
    return folder


def samples_per_second(preset: str, way: str, data: Path, out: Path) -> float:
    launcher = [sys.executable, "-m"]
    if way.startswith("torchrun"):
        launcher += ["torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
    command = [*launcher, "convseq", "run", preset, "--data-dir", str(data), *PRESETS[preset],
               *WAYS[way], "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    with open(out / "history.csv") as f:
        rate = float(next(csv.DictReader(f))["samples_per_s"])
    shutil.rmtree(out)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", default=",".join(PRESETS))
    args = parser.parse_args()
    presets = [p for p in args.presets.split(",") if p]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown or args.repeats < 1:
        parser.error(f"--presets from {', '.join(PRESETS)}; --repeats at least 1")
    with tempfile.TemporaryDirectory() as work:
        data = data_dir(Path(work))
        for preset in presets:
            rates: dict[str, list[float]] = {way: [] for way in WAYS}
            for repeat in range(args.repeats):
                for way in WAYS:
                    out = Path(work) / f"{preset}-{repeat}-{len(rates[way])}"
                    rates[way].append(samples_per_second(preset, way, data, out))
            base = statistics.median(rates["1 process, 1 thread"])
            for way, values in rates.items():
                rate = statistics.median(values)
                shown = ", ".join(f"{v:,.0f}" for v in values)
                print(
                    f"{preset:13s} {way:23s} {rate:8,.0f} samples/s ({rate / base:.2f}x)  [{shown}]"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
