"""The UCR/UEA presets on the four shared archives, a few seeds each: test accuracy and time.

    python benchmarks/ucr.py [--data-dir ../shared/data/ucr] [--model rocket] [--seeds 0 1 2]
                             [--threads 1] [--runs runs/ucr-bench]

Each (archive, seed) is one ``convseq run ucr-NAME`` into RUNS/MODEL/NAME/seed-S
(a finished folder is read, not rerun), so every figure printed is a run folder
that ``convseq compare ucr --runs RUNS`` tabulates too. ROCKET draws its kernels
from --kernel-seed, which follows the seed here. The table gives test accuracy
per seed beside InceptionTime's published figure, the 1-NN Euclidean and
majority-class baselines, and each run's wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from convseq.cli import main as convseq
from convseq.errors import UserError, exit_code_of
from convseq.evaluation.compare_cases import PUBLISHED
from convseq.presets import UCR_ARCHIVES


def one_run(archive: str, seed: int, args) -> dict:
    out = Path(args.runs) / args.model / archive / f"seed-{seed}"
    if not (out / "metrics.json").is_file():
        argv = ["run", f"ucr-{archive.lower()}", "--model", args.model, "--seed", str(seed),
                "--threads", str(args.threads), "--out", str(out)]  # fmt: skip
        if args.data_dir:
            argv += ["--data-dir", args.data_dir]
        if args.model == "rocket":
            argv += ["--kernel-seed", str(seed)]
        if convseq(argv) != 0:
            raise UserError(f"convseq {' '.join(argv)} failed")
    return json.loads((out / "metrics.json").read_text())


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="", help="folder of NAME_TRAIN/_TEST.ts files")
    parser.add_argument("--model", default="rocket")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--archives", nargs="+", default=list(UCR_ARCHIVES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", default="runs/ucr-bench")
    args = parser.parse_args()
    rows = []
    for archive in args.archives:
        found = [one_run(archive, seed, args) for seed in args.seeds]
        accs = [m["test_acc"] for m in found]
        rows.append(
            "| " + " | ".join([
                archive,
                *(f"{a:.3f}" for a in accs),
                f"**{statistics.mean(accs):.3f}**",
                f"{PUBLISHED.get(archive, float('nan')):.3f}",
                f"{found[0]['nn_test_acc']:.3f}",
                f"{found[0]['baseline_test_acc']:.3f}",
                " / ".join(f"{m['total_seconds']:.0f}" for m in found),
                " / ".join(f"{m['cpu_seconds']:.0f}" for m in found),
            ]) + " |"
        )  # fmt: skip
    seeds = " | ".join(f"seed {s}" for s in args.seeds)
    print(f"\n{args.model}, torch threads {args.threads}\n")
    print(f"| archive | {seeds} | mean | InceptionTime (published) | 1-NN Euclidean | "
          "majority class | wall s per seed | CPU s per seed |")  # fmt: skip
    print("|" + " --- |" * (7 + len(args.seeds)))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(exit_code_of(run))
