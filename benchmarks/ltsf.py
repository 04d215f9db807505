"""The long-horizon forecasting table (LTSF) on ETTh1 or Weather: ``convseq benchmark ltsf``.

    python benchmarks/ltsf.py [--dataset etth1|weather|FILE] [--threads 1] [any option of
                              convseq benchmark ltsf, e.g. --models dlinear --seeds 1,2,3]

Defaults here: ETTh1, every model, horizons 96/192/336/720, lookback 336, one
torch thread, output in runs/ltsf-bench/DATASET (table.md, table.csv,
results.json). The figures of docs/ltsf.md were measured with this command.
"""

from __future__ import annotations

import sys
from pathlib import Path

from convseq.cli import main


def argv(args: list[str]) -> list[str]:
    """The benchmark's arguments: the script's defaults, then the ones given (which win)."""
    dataset = args[args.index("--dataset") + 1] if "--dataset" in args[:-1] else "etth1"
    out = ["--out", f"runs/ltsf-bench/{Path(dataset).name.split('.')[0]}"]
    defaults = ["--dataset", "etth1", *out, "--threads", "1"]
    return ["benchmark", "ltsf", *defaults, *args]


if __name__ == "__main__":
    sys.exit(main(argv(sys.argv[1:])))
