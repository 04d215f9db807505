"""Would averaging finished IMDB runs help? Validation accuracy of every combination's mean logit.

Usage:
    CONVSEQ_DATA=../shared/data python benchmarks/imdb_val_ensembles.py RUN_DIR RUN_DIR [...]

Each run is scored alone and then in every combination (mean of the members'
logits) on its validation split, never on the test set, so the answer can
pick a preset. The runs must share the seed and validation fraction (so the
same 2,500 reviews are held out); the script refuses runs that do not.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np


def validation_logits(run: Path, texts: list[str]) -> np.ndarray:
    import torch

    import convseq

    classifier = convseq.load(run)
    ids = torch.from_numpy(classifier.encode(texts))
    with torch.no_grad():
        parts = [classifier.model(ids[i : i + 100]) for i in range(0, len(ids), 100)]
    return torch.cat(parts).numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="finished IMDB run folders")
    parser.add_argument("--data-dir", default=None, help="folder of the IMDB tarball")
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    from convseq.config import ImdbSource
    from convseq.errors import UserError
    from convseq.runs import RunFolder

    configs = [RunFolder(run).read_config() for run in runs]  # refuses what is not a run
    for run, config in zip(runs, configs, strict=True):
        if not isinstance(config.source, ImdbSource):
            raise UserError(f"{run} did not train on IMDB; pass IMDB run folders")
    split = {(c.train.seed, c.source.validation_split, c.source.limit) for c in configs}
    if len(split) != 1:
        print(
            "error: the runs hold out different validation reviews (seed, --validation-split "
            "or --limit differ); pass runs made with the same ones",
            file=sys.stderr,
        )
        return 2
    if len({run.name for run in runs}) != len(runs):
        print(
            "error: two runs share a folder name; pass folders with distinct names", file=sys.stderr
        )
        return 2
    from convseq.data.imdb import load_imdb, split_imdb

    (seed, fraction, limit), source = split.pop(), configs[0].source
    _, val, _ = split_imdb(
        load_imdb(args.data_dir or source.data_dir or None), fraction, limit, seed
    )
    labels = np.asarray(val.labels)
    logits = {run.name: validation_logits(run, val.texts) for run in runs}
    for k in range(1, len(runs) + 1):
        for names in itertools.combinations(logits, k):
            mean = np.mean([logits[n] for n in names], axis=0)
            print(f"{' + '.join(names)}: val acc {((mean > 0) == labels).mean():.4f}")
    return 0


if __name__ == "__main__":
    from convseq.errors import exit_code_of

    sys.exit(exit_code_of(main))
