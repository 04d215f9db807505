"""Tables read through pandas: CSV and TSV (plain, .gz, .bz2, .xz, .zip), parquet, JSON Lines, JSON.

Every problem a user can fix ends in one ``UserError`` line naming the file
and, where there is one, the line: a wrong encoding, a malformed row, a
misspelt column. A zip may hold one table besides macOS's ``__MACOSX``
entries, as the Keras Jena download does.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from pathlib import Path

import pandas as pd

from convseq.errors import UserError, closest

COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def table_kind(path: Path) -> str:
    """The format by the file's name: csv, tsv, parquet, jsonl or json ('' when unknown)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last == ".csv" or (not last and path.suffix.lower() in COMPRESSED):
        return "csv"
    if last in (".tsv", ".tab"):
        return "tsv"
    if last in (".parquet", ".pq"):
        return "parquet"
    if last in (".jsonl", ".ndjson"):
        return "jsonl"
    if last == ".json":
        return "json"
    return ""


def _zip_member(path: Path):
    """The one table inside a zip, as a binary file object."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UserError(f"{path} is not a readable zip file ({exc}); download it again") from None
    members = [
        m
        for m in archive.namelist()
        if not m.endswith("/")
        and not m.startswith("__MACOSX/")
        and not Path(m).name.startswith("._")
    ]
    if len(members) != 1:
        raise UserError(
            f"{path} holds {len(members)} files, expected one table; unzip it and pass the table"
        )
    return io.BytesIO(archive.read(members[0]))


def read_table(
    path: str | Path,
    columns: list[str] | None = None,
    encoding: str = "utf-8",
    as_text: bool = False,
    roles: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The table at ``path``, only ``columns`` (all when None), refusing what cannot be read.

    ``as_text`` keeps every cell a string (texts and labels), empty cells as "".
    ``roles`` maps a column to the option that picks it, for the error that it is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass the path of a table file")
    kind = table_kind(path)
    if not kind:
        raise UserError(
            f"cannot tell the format of {path} from its name; pass a .csv, .tsv, .parquet, "
            ".jsonl or .json file (plain, .gz or .zip)"
        )
    source = _zip_member(path) if path.suffix.lower() == ".zip" else path
    try:
        if kind == "parquet":
            frame = _read_parquet(path)
        elif kind in ("jsonl", "json"):
            frame = pd.read_json(source, lines=kind == "jsonl", encoding=encoding, dtype=False)
            if not isinstance(frame, pd.DataFrame) or frame.empty and not len(frame.columns):
                raise UserError(f"{path} holds no records; pass a list of objects, one per row")
        else:
            frame = _read_delimited(path, source, kind, columns, encoding, as_text)
    except LookupError:
        raise UserError(f"unknown encoding {encoding!r}; pass e.g. --encoding latin-1") from None
    except UnicodeDecodeError:
        raise _decoding_error(path, source, encoding) from None
    except pd.errors.EmptyDataError:  # nothing but blank lines: not a malformed file to fix
        raise UserError(f"{path} is empty; pass a file with data in it") from None
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"{path} is not a well-formed {kind.upper()} file ({first}); fix it"
        ) from None
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read {path} ({exc}); check the file") from None
    frame.columns = [str(c) for c in frame.columns]
    check_columns(frame, columns, path, roles)
    if columns is not None:
        frame = frame[columns]
    if as_text:
        frame = frame.astype(object).where(frame.notna(), "").map(_as_text)
    return frame


def decode(data: bytes, encoding: str, source: str) -> str:
    """Bytes to text, naming the line of the first undecodable byte and the fix."""
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError:
        raise UserError(
            f"unknown encoding {encoding!r}; pass e.g. --encoding utf-8 or --encoding latin-1"
        ) from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{source} is not valid {encoding}: byte 0x{data[exc.start]:02x} on line {line} "
            "cannot be decoded; save the file as UTF-8 or pass its encoding, e.g. --encoding latin-1"
        ) from None


def _decoding_error(path: Path, source, encoding: str) -> UserError:
    """The first undecodable byte and its line in the file (pandas reports only a chunk offset)."""
    if isinstance(source, io.BytesIO):
        data = source.getvalue()
    else:
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
            path.suffix.lower(), open
        )
        with opener(path, "rb") as f:
            data = f.read()
    try:
        decode(data, encoding, str(path))
    except UserError as error:
        return error
    return UserError(f"{path} is not valid {encoding}; pass its encoding, e.g. --encoding latin-1")


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _read_delimited(path, source, kind, columns, encoding, as_text) -> pd.DataFrame:
    options = dict(sep="\t" if kind == "tsv" else ",", encoding=encoding, skipinitialspace=False)
    if as_text:
        options.update(dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    else:  # only an empty cell is missing: 'n/a' or 'NaN' stays as written, for the error
        options.update(keep_default_na=False, na_values=[""])
    header = pd.read_csv(source, nrows=0, **options).columns
    if hasattr(source, "seek"):
        source.seek(0)
    header = [str(c) for c in header]
    if columns is not None:
        for name in columns:
            if name not in header:
                break
        else:
            options["usecols"] = list(dict.fromkeys(columns))
    return pd.read_csv(source, **options)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise UserError(
            f"reading {path.name} needs a parquet engine; install it with: pip install pyarrow"
        ) from None


def check_columns(frame: pd.DataFrame, columns, path, roles: dict | None = None) -> None:
    """Refuse a column the table lacks, naming its columns and the option that picks it."""
    for name in columns or ():
        if name not in frame.columns:
            available = list(frame.columns)
            shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
            role = (roles or {}).get(name)
            option = f"; pass the right one with {role}" if role else ""
            raise UserError(
                f"{Path(path).name} has no column {name!r}{closest(name, available)}; "
                f"its columns are: {shown}{option}"
            )
