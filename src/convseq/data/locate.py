"""Find a dataset file locally, or download and verify it.

Search order: an explicit data folder, then ``$CONVSEQ_DATA``, then the user
cache (``$CONVSEQ_CACHE`` or ``~/.cache/convseq``). Only a download is checked
against the official size and sha256: a file the user supplies is read as given.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from convseq.atomic import write_with
from convseq.errors import UserError


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str | None = None
    size: int | None = None


def cache_dir() -> Path:
    return Path(os.environ.get("CONVSEQ_CACHE", Path.home() / ".cache" / "convseq"))


def candidate_dirs(data_dir: str | Path | None) -> list[Path]:
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get("CONVSEQ_DATA"):
        dirs.append(Path(os.environ["CONVSEQ_DATA"]))
    dirs.append(cache_dir())
    return dirs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(remote: RemoteFile, data_dir: str | Path | None = None, download: bool = True) -> Path:
    """Return a local path to ``remote``, downloading it into the cache if needed."""
    if data_dir and not Path(data_dir).is_dir():
        raise UserError(f"data folder {data_dir} does not exist; pass an existing --data-dir")
    for folder in candidate_dirs(data_dir):
        path = folder / remote.name
        if path.is_file():
            return path
    if not download:
        raise UserError(
            f"{remote.name} not found in {', '.join(map(str, candidate_dirs(data_dir)))}; "
            f"put it in one of them or set CONVSEQ_DATA"
        )
    return fetch(remote, cache_dir() / remote.name)


def locate_any(forms: tuple[RemoteFile, ...], data_dir: str | Path | None = None) -> Path:
    """The first folder (``--data-dir``, $CONVSEQ_DATA, the cache) holding any of ``forms``,
    in that form order; else the last form, downloaded."""
    if data_dir and not Path(data_dir).is_dir():
        raise UserError(f"data folder {data_dir} does not exist; pass an existing --data-dir")
    for folder in candidate_dirs(data_dir):
        for remote in forms:
            if (folder / remote.name).is_file():
                return folder / remote.name
    return locate(forms[-1], data_dir)


def fetch(remote: RemoteFile, target: Path) -> Path:
    """Download ``remote`` to ``target`` with a progress bar, verifying size and sha256."""

    def writer(tmp: str) -> None:
        with urllib.request.urlopen(remote.url, timeout=60) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or remote.size
            with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        verify(remote, Path(tmp))

    try:
        return write_with(target, writer)
    except OSError as exc:
        raise UserError(
            f"could not download {remote.url} ({exc}); download it by hand into "
            f"{target.parent} or set CONVSEQ_DATA to a folder that holds {remote.name}"
        ) from None


def verify(remote: RemoteFile, path: Path) -> None:
    if remote.size is not None and path.stat().st_size != remote.size:
        raise UserError(
            f"downloaded {remote.name} has {path.stat().st_size} bytes, expected {remote.size}; "
            "the download was cut short, run again"
        )
    if remote.sha256 is not None and sha256_of(path) != remote.sha256:
        raise UserError(f"downloaded {remote.name} fails its sha256 check; delete it and run again")
