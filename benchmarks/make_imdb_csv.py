"""IMDB as a user's own files: the reviews of the shared tarball as CSV tables, for measuring
``convseq train text`` (and its default, ``--model auto``) on real text.

    python benchmarks/make_imdb_csv.py ../shared/data/aclImdb_v1.tar.gz data/

writes ``imdb_train.csv`` and ``imdb_test.csv`` (columns text, sentiment,
rating): 25,000 reviews each, sentiment ``neg``/``pos`` and the star rating
from the file name (1-4 and 7-10, eight classes). ``convseq train text
data/imdb_train.csv --test data/imdb_test.csv --label-column rating`` is the
8-class task of the ``imdb-ratings`` preset, read as a user's file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from convseq.data.imdb import RATINGS, read_imdb_tarball


def main(tarball: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = read_imdb_tarball(tarball, labels="rating")
    for name in ("train", "test"):
        split = getattr(data, name)
        stars = [RATINGS[k] for k in split.labels]
        table = pd.DataFrame(
            {
                "text": split.texts,
                "sentiment": ["pos" if s >= 7 else "neg" for s in stars],  # IMDB's own rule
                "rating": stars,
            }
        )
        table.to_csv(out / f"imdb_{name}.csv", index=False)
        print(f"{out / f'imdb_{name}.csv'}: {len(table)} reviews")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/make_imdb_csv.py aclImdb_v1.tar.gz OUT_DIR")
    main(*sys.argv[1:])
