"""The IMDB Large Movie Review Dataset, read straight from its tarball.

Reading the 50,000 labelled reviews from ``aclImdb_v1.tar.gz`` in one streaming
pass avoids extracting its 100,000 files. Labels come from the ``pos``/``neg``
folder names; the split is the official 25,000 / 25,000.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from convseq.data.locate import RemoteFile, locate
from convseq.errors import UserError

IMDB = RemoteFile(
    name="aclImdb_v1.tar.gz",
    url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    size=84_125_825,
)

_REVIEW = re.compile(r"^aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")


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


def read_imdb_tarball(path: str | Path, with_unsup: bool = False) -> ImdbData:
    """Parse the tarball into train/test splits sorted by (label, id) for determinism."""
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


def load_imdb(data_dir: str | Path | None = None, with_unsup: bool = False) -> ImdbData:
    return read_imdb_tarball(locate(IMDB, data_dir), with_unsup=with_unsup)
