"""Shared fixtures: tiny datasets written in the official layouts."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if os.environ.get("CONVSEQ_DATA"):
    SHARED_DATA = Path(os.environ["CONVSEQ_DATA"])

POSITIVE = [
    "a great film, wonderful acting",
    "loved it, great fun <br /><br />superb",
    "wonderful story and great cast",
    "superb, moving and wonderful",
]
NEGATIVE = [
    "a terrible film, awful acting",
    "hated it, boring <br />and awful",
    "terrible story and bad cast",
    "awful, dull and terrible",
]


def write_imdb_tarball(path: Path, per_class: int = 8, extra_members: bool = True) -> Path:
    """A tarball in the official aclImdb layout with ``per_class`` reviews per folder."""

    def add(archive, name, text):
        data = text.encode("utf-8")
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            for i in range(per_class):
                add(
                    archive,
                    f"aclImdb/{split}/pos/{i}_{7 + i % 4}.txt",
                    POSITIVE[i % len(POSITIVE)] + f" number{i}",
                )
                add(
                    archive,
                    f"aclImdb/{split}/neg/{i}_{1 + i % 4}.txt",
                    NEGATIVE[i % len(NEGATIVE)] + f" number{i}",
                )
        if extra_members:
            add(archive, "aclImdb/README", "readme")
            add(archive, "aclImdb/imdb.vocab", "the\nand\n")
            add(archive, "aclImdb/train/unsup/0_0.txt", "unlabelled review")
            add(archive, "aclImdb/train/urls_pos.txt", "http://example/")
    return path


@pytest.fixture
def imdb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    write_imdb_tarball(folder / "aclImdb_v1.tar.gz")
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never read or write the user's real cache, and never find shared data by accident."""
    monkeypatch.setenv("CONVSEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CONVSEQ_DATA", raising=False)
