"""Multivariate time series read from CSV files: one timestamp column plus numeric columns.

The numbers are parsed by numpy's C reader, so the 420,551-row Jena file loads in
about a second. Only when that fast path fails does a slow row-by-row scan run,
to name the exact line and column of the bad cell in a one-line ``UserError``.
Timestamps must be strictly increasing: windows count rows, so an unsorted or
repeated time silently breaks every lookback and delay.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from convseq.data.locate import RemoteFile, locate
from convseq.errors import UserError, closest

JENA_ZIP = RemoteFile(
    name="jena_climate_2009_2016.csv.zip",
    url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip",
)
JENA_CSV = RemoteFile(name="jena_climate_2009_2016.csv", url=JENA_ZIP.url)
JENA_TIME_COLUMN = "Date Time"
JENA_TIME_FORMAT = "%d.%m.%Y %H:%M:%S"

ETTH1 = RemoteFile(
    name="ETTh1.csv",
    url="https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
    sha256="f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    size=2_589_657,
)

DUPLICATE_POLICIES = ("error", "drop")


@dataclass
class Series:
    """Rows in time order: ``values[i, j]`` is column ``columns[j]`` at ``times[i]``."""

    times: np.ndarray  # datetime64[s], strictly increasing
    values: np.ndarray  # float64, (rows, columns), all finite
    columns: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.values)

    def index_of(self, name: str, role: str = "column") -> int:
        if name not in self.columns:
            raise UserError(
                f"{self.source} has no column {name!r}{closest(name, self.columns)}; "
                f"choose the {role} from: {', '.join(self.columns)}"
            )
        return self.columns.index(name)


# ------------------------------------------------------------------ reading
def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The CSV text of ``path``, or of the single CSV inside it when it is a zip.

    A UTF-8 byte-order mark is dropped.
    """
    path, shown = Path(path), encoding
    if encoding.lower().replace("-", "").replace("_", "") == "utf8":
        encoding = "utf-8-sig"
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [
                    m
                    for m in archive.namelist()
                    if m.lower().endswith(".csv")
                    and not m.startswith("__MACOSX/")
                    and not Path(m).name.startswith("._")
                ]
                if len(members) != 1:
                    raise UserError(
                        f"{path} holds {len(members)} CSV files, expected exactly one; "
                        "unzip it and pass the CSV itself"
                    )
                raw = archive.read(members[0])
        else:
            raw = path.read_bytes()
        return raw.decode(encoding)
    except LookupError:
        raise UserError(f"unknown encoding {shown!r}; pass e.g. --encoding latin-1") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"cannot read {path} as {shown} ({exc.reason} at byte {exc.start}); "
            "pass its encoding with --encoding, e.g. --encoding latin-1"
        ) from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read {path} ({exc}); pass a CSV file") from None


def read_series_csv(
    path: str | Path,
    time_column: str,
    columns: list[str] | None = None,
    time_format: str | None = None,
    duplicate_times: str = "error",
    encoding: str = "utf-8",
) -> Series:
    """Parse a CSV (plain or zipped) into a ``Series`` of its numeric columns.

    ``columns`` picks the numeric columns (default: every column but the
    timestamp); ``time_format`` is a ``strptime`` pattern (default: ISO 8601).
    ``duplicate_times="drop"`` keeps the first of rows that repeat a timestamp,
    instead of refusing the file.
    """
    if duplicate_times not in DUPLICATE_POLICIES:
        raise UserError(
            f"duplicate_times must be one of {', '.join(DUPLICATE_POLICIES)}, got {duplicate_times!r}"
        )
    source = Path(path).name
    lines = read_text(path, encoding).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise UserError(f"{source} has no data rows; pass a CSV with a header and rows")
    header = next(csv.reader([lines[0]]))
    if time_column not in header:
        raise UserError(
            f"{source} has no timestamp column {time_column!r}{closest(time_column, header)}; "
            f"its columns are: {', '.join(header)}"
        )
    time_idx = header.index(time_column)
    if columns is None:
        columns = [c for c in header if c != time_column]
    for name in columns:
        if name not in header:
            raise UserError(
                f"{source} has no column {name!r}{closest(name, header)}; "
                f"its columns are: {', '.join(header)}"
            )
    if not columns:
        raise UserError(f"{source} has no numeric columns besides {time_column!r}")
    value_idx = [header.index(c) for c in columns]
    body = lines[1:]
    values = _parse_numbers(body, header, value_idx, source)
    times = _parse_times(body, time_idx, time_format, source)
    _check_finite(values, columns, source)
    times, values = _check_order(times, values, source, duplicate_times)
    return Series(times, values, list(columns), source)


def _parse_numbers(body: list[str], header: list[str], value_idx: list[int], source: str):
    try:
        values = np.loadtxt(
            body,
            delimiter=",",
            quotechar='"',
            usecols=value_idx,
            dtype=np.float64,
            ndmin=2,
        )
    except ValueError:
        _explain_bad_cell(body, header, value_idx, source)
        raise  # _explain_bad_cell always raises; this keeps type checkers calm
    return values


def _explain_bad_cell(body, header, value_idx, source) -> None:
    """Find the first malformed row or cell the slow way and raise a precise error."""
    for offset, row in enumerate(csv.reader(body)):
        line = offset + 2  # the header is line 1
        if len(row) != len(header):
            raise UserError(
                f"{source} line {line} has {len(row)} fields but the header has {len(header)}; "
                "fix or remove that line"
            )
        for j in value_idx:
            cell = row[j].strip()
            try:
                float(cell)
            except ValueError:
                shown = repr(cell) if cell else "an empty cell"
                raise UserError(
                    f"{source} line {line}, column {header[j]!r}: {shown} is not a number; "
                    "fix or remove that row, or leave the column out"
                ) from None
    raise UserError(f"{source} is not a well-formed CSV; check its delimiters and quoting")


def _check_finite(values: np.ndarray, columns: list[str], source: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise UserError(
            f"{source} line {row + 2}, column {columns[col]!r}: {values[row, col]} is not a "
            "finite number; fill or remove the missing values first"
        )


def _parse_times(body: list[str], time_idx: int, time_format: str | None, source: str):
    raw = np.loadtxt(body, delimiter=",", quotechar='"', usecols=time_idx, dtype=str, ndmin=1)
    if time_format == JENA_TIME_FORMAT:
        fast = _jena_times(raw)
        if fast is not None:
            return fast
    if time_format is None:
        try:
            return np.array(raw, dtype="datetime64[s]")
        except ValueError:
            for offset, text in enumerate(raw):
                try:
                    np.datetime64(text, "s")
                except ValueError:
                    raise UserError(
                        f"{source} line {offset + 2}: timestamp {str(text)!r} is not ISO 8601 "
                        "(YYYY-MM-DD HH:MM:SS); fix it or give the time format"
                    ) from None
            raise
    parsed = []
    for offset, text in enumerate(raw):
        try:
            parsed.append(datetime.strptime(text, time_format))
        except ValueError:
            raise UserError(
                f"{source} line {offset + 2}: timestamp {str(text)!r} does not match the format "
                f"{time_format!r}; fix that row"
            ) from None
    return np.array(parsed, dtype="datetime64[s]")


def _jena_times(raw: np.ndarray) -> np.ndarray | None:
    """``dd.mm.yyyy HH:MM:SS`` to datetime64 by moving bytes into ISO order, all rows at once.

    Returns None when any row breaks the fixed layout, so that the slow path
    can name it.
    """
    if raw.size == 0 or (np.char.str_len(raw) != 19).any():
        return None
    try:
        chars = raw.astype("S19").view(np.uint8).reshape(-1, 19)
    except UnicodeEncodeError:
        return None
    if not (
        (chars[:, 2] == ord(".")) & (chars[:, 5] == ord(".")) & (chars[:, 10] == ord(" "))
    ).all():
        return None
    iso = chars[:, [6, 7, 8, 9, 2, 3, 4, 2, 0, 1, 10, 11, 12, 13, 14, 15, 16, 17, 18]]
    iso[:, [4, 7]] = ord("-")
    iso[:, 10] = ord("T")
    try:
        return iso.copy().view("S19").ravel().astype("datetime64[s]")
    except ValueError:
        return None


def _check_order(times, values, source: str, duplicate_times: str):
    if len(times) < 2:
        return times, values
    gaps = np.diff(times)
    backwards = np.flatnonzero(gaps < np.timedelta64(0, "s"))
    if backwards.size:
        i = int(backwards[0]) + 1
        raise UserError(
            f"{source} line {i + 2}: timestamp {times[i]} comes before {times[i - 1]} on the "
            "line above; sort the file by time"
        )
    repeats = np.flatnonzero(gaps == np.timedelta64(0, "s"))
    if repeats.size:
        if duplicate_times == "drop":
            keep = np.ones(len(times), dtype=bool)
            keep[repeats + 1] = False
            return times[keep], values[keep]
        i = int(repeats[0]) + 1
        raise UserError(
            f"{source} line {i + 2} repeats the timestamp {times[i]} of the line above "
            f"({repeats.size} repeated in all); remove the duplicates or pass "
            "--duplicate-times drop to keep the first of each"
        )
    return times, values


# ----------------------------------------------------------------- datasets
def load_jena(
    data_dir: str | Path | None = None,
    duplicate_times: str = "error",
    columns: list[str] | None = None,
) -> Series:
    """The Keras copy of the Jena climate record: the CSV if present, else the zip."""
    try:
        path = locate(JENA_CSV, data_dir, download=False)
    except UserError:
        path = locate(JENA_ZIP, data_dir)
    return read_series_csv(
        path,
        JENA_TIME_COLUMN,
        columns,
        time_format=JENA_TIME_FORMAT,
        duplicate_times=duplicate_times,
    )


def load_etth1(
    data_dir: str | Path | None = None,
    duplicate_times: str = "error",
    columns: list[str] | None = None,
) -> Series:
    return read_series_csv(
        locate(ETTH1, data_dir), "date", columns, duplicate_times=duplicate_times
    )


# ------------------------------------------------------------------- splits
def parse_splits(text: str, rows: int) -> list[tuple[int, int]]:
    """Three row ranges (train, validation, test) from ``text``.

    Either row ranges ``"0:8640,8640:11520,11520:14400"`` (an empty end means
    the end of the file) or fractions of the rows ``"0.7,0.15,0.15"``.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise UserError(
            f"--splits needs three parts (train, validation, test), got {text!r}; "
            "pass e.g. '0:8640,8640:11520,11520:14400' or '0.7,0.15,0.15'"
        )
    if all(":" in p for p in parts):
        ranges = []
        for p in parts:
            start, _, end = p.partition(":")
            try:
                lo = int(start or 0)
                hi = int(end) if end else rows
            except ValueError:
                raise UserError(
                    f"--splits part {p!r} is not a row range START:END; pass e.g. '0:8640'"
                ) from None
            ranges.append((lo, min(hi, rows)))
    else:
        try:
            fractions = [float(p) for p in parts]
        except ValueError:
            raise UserError(
                f"--splits {text!r} mixes fractions and row ranges; use one kind, e.g. '0.7,0.15,0.15'"
            ) from None
        if any(f <= 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
            raise UserError(
                f"--splits fractions must be positive and sum to at most 1, got {text!r}"
            )
        bounds = np.cumsum([0.0, *fractions])
        ranges = [
            (int(round(bounds[k] * rows)), int(round(bounds[k + 1] * rows))) for k in range(3)
        ]
    for name, (lo, hi) in zip(("train", "validation", "test"), ranges, strict=True):
        if not 0 <= lo < hi:
            raise UserError(
                f"the {name} split {lo}:{hi} is empty or out of the file's {rows} rows; "
                "fix --splits"
            )
    return ranges


def describe(series: Series) -> str:
    span = f"{series.times[0]} .. {series.times[-1]}" if len(series) else "empty"
    return f"{series.source}: {len(series)} rows x {len(series.columns)} columns ({span})"
