"""What each member of a finished IMDB ensemble run contributes: accuracy alone, together, agreement.

Usage:
    CONVSEQ_DATA=../shared/data python benchmarks/imdb_members.py RUN_DIR [--test]

Scores every member of the run's model (e.g. the region CNN and the n-gram
bag of ``imdb-region-cnn``) on its validation split, and with ``--test`` on
the test set too, then their mean logit (what the run predicts) and how
often two members agree. Read the test lines only after a choice is made on
validation.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np


def member_logits(members, ids) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        return [
            torch.cat([m(ids[i : i + 250]) for i in range(0, len(ids), 250)]).numpy()
            for m in members
        ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished imdb-region-cnn run folder")
    parser.add_argument("--test", action="store_true", help="score the test set as well")
    parser.add_argument("--data-dir", default=None, help="folder of the IMDB tarball")
    args = parser.parse_args(argv)
    import torch

    import convseq
    from convseq.config import ImdbSource
    from convseq.data.imdb import load_imdb, split_imdb
    from convseq.errors import UserError
    from convseq.models.ensemble import members_of

    classifier = convseq.load(args.run)
    members = members_of(classifier.model)
    if len(members) < 2:
        print(
            f"error: {args.run} is not an ensemble; pass a run with several members",
            file=sys.stderr,
        )
        return 2
    config = classifier.config  # the run's settings: the same split as its training
    if not isinstance(config.source, ImdbSource):
        raise UserError(f"{args.run} did not train on IMDB; pass an imdb-region-cnn run")
    source = config.source
    data = load_imdb(args.data_dir or source.data_dir or None)
    _, val, test = split_imdb(data, source.validation_split, source.limit, config.train.seed)
    splits = [("val", val), ("test", test)] if args.test else [("val", val)]
    names = [f"{i}:{type(m).__name__}" for i, m in enumerate(members)]
    for split_name, split in splits:
        labels = np.asarray(split.labels)
        logits = member_logits(members, torch.from_numpy(classifier.encode(split.texts)))
        for name, z in zip(names, logits, strict=True):
            print(f"{split_name}: {name} alone: acc {((z > 0) == labels).mean():.4f}")
        mean = np.mean(logits, axis=0)
        print(
            f"{split_name}: mean logit (the run's prediction): acc {((mean > 0) == labels).mean():.4f}"
        )
        for (a, za), (b, zb) in itertools.combinations(zip(names, logits, strict=True), 2):
            print(f"{split_name}: {a} and {b} agree on {((za > 0) == (zb > 0)).mean():.4f}")
    return 0


if __name__ == "__main__":
    from convseq.errors import exit_code_of

    sys.exit(exit_code_of(main))
