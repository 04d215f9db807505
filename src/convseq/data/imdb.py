"""The IMDB Large Movie Review Dataset, read straight from its tarball.

Reading the 50,000 labelled reviews from ``aclImdb_v1.tar.gz`` in one streaming
pass avoids extracting its 100,000 files. Labels come from the ``pos``/``neg``
folder names, or, for an 8-class task, from the star rating in each file name
(``<id>_<rating>.txt``: 1-4 and 7-10); the split is the official 25,000 / 25,000.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convseq.data.locate import RemoteFile, locate
from convseq.errors import UserError

IMDB = RemoteFile(
    name="aclImdb_v1.tar.gz",
    url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    size=84_125_825,
)

_REVIEW = re.compile(r"^aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
RATINGS = (1, 2, 3, 4, 7, 8, 9, 10)  # the stars labelled reviews carry (5 and 6 are left out)
LABELS = {"sentiment": ["neg", "pos"], "rating": [f"{r} stars" for r in RATINGS]}


@dataclass
class TextSplit:
    """Texts with integer labels (1 = positive), in a stable order."""

    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class ImdbData:
    train: TextSplit
    test: TextSplit
    unsup: list[str]


def read_imdb_tarball(
    path: str | Path, with_unsup: bool = False, labels: str = "sentiment"
) -> ImdbData:
    """Parse the tarball into train/test splits sorted by (label, id) for determinism.

    ``labels`` is "sentiment" (0 = neg, 1 = pos) or "rating" (the index of the
    review's stars in ``RATINGS``).
    """
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": [], "unsup": []}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                match = _REVIEW.match(member.name)
                if not match or not member.isfile():
                    continue
                split, folder, ident = match.group(1), match.group(2), int(match.group(3))
                if folder == "unsup" and not with_unsup:
                    continue
                text = archive.extractfile(member).read().decode("utf-8")
                if folder == "unsup":
                    found["unsup"].append((0, ident, text))
                elif labels == "rating":
                    found[split].append((_rating_class(member.name, match), ident, text))
                else:
                    found[split].append((int(folder == "pos"), ident, text))
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{path} is not a readable IMDB tarball ({exc}); delete it and download "
            f"{IMDB.url} again"
        ) from None
    for split in ("train", "test"):
        if not found[split]:
            raise UserError(
                f"{path} holds no aclImdb/{split}/pos or neg reviews; it is not the IMDB tarball "
                f"({IMDB.url})"
            )

    def to_split(rows) -> TextSplit:
        rows.sort(key=lambda row: (row[0], row[1]))
        return TextSplit([row[2] for row in rows], [row[0] for row in rows])

    return ImdbData(
        to_split(found["train"]),
        to_split(found["test"]),
        [row[2] for row in sorted(found["unsup"], key=lambda row: row[1])],
    )


def _rating_class(name: str, match: re.Match) -> int:
    stars = int(match.group(4))
    if stars not in RATINGS:
        raise UserError(f"{name}: a rating of {stars} stars is not one IMDB labels (1-4, 7-10)")
    return RATINGS.index(stars)


def load_imdb(
    data_dir: str | Path | None = None, with_unsup: bool = False, labels: str = "sentiment"
) -> ImdbData:
    return read_imdb_tarball(locate(IMDB, data_dir), with_unsup=with_unsup, labels=labels)


def subset(split: TextSplit, n: int, seed: int) -> TextSplit:
    """A seeded random subset of ``n`` samples (all of them when ``n`` is 0)."""
    if not n or n >= len(split):
        return split
    return pick(split, np.random.default_rng(seed).permutation(len(split))[:n])


def pick(split: TextSplit, indices) -> TextSplit:
    return TextSplit([split.texts[i] for i in indices], [split.labels[i] for i in indices])


def split_imdb(
    data: ImdbData, validation_split: float, limit: int, seed: int
) -> tuple[TextSplit, TextSplit, TextSplit]:
    """Training part, validation and test reviews, as Keras's ``validation_split`` takes them:
    the last ``validation_split`` of a seeded shuffle of the training reviews.

    Tools that score a finished run call this with its config, so they hold
    out exactly the reviews the run did.
    """
    train = subset(data.train, limit, seed)
    order = np.random.default_rng(seed).permutation(len(train))
    cut = int(round(len(train) * (1 - validation_split)))
    if cut == 0 or cut == len(train):
        raise UserError(
            f"{len(train)} reviews are too few for a {validation_split} validation split; "
            "use more data (--limit)"
        )
    return pick(train, order[:cut]), pick(train, order[cut:]), subset(data.test, limit, seed + 1)
