"""Time series read through pandas: a time column plus numeric columns, and what the rows hold.

Windows count rows, so a row whose time steps back, repeats an earlier time,
or follows a gap changes what a window means. Every series is read with a
``RowReport`` that counts those rows and the -9999 error marks some weather
files use, and ``time_order`` says what to do about them:

- ``check`` (a user's file): refuse, naming the row and these options;
- ``as-given``: take the rows in file order, as the reference chapter takes
  the Jena file (its splits are row numbers), and only count them;
- ``drop-repeats``: keep the first row of each time (an exact copy is
  dropped whatever the order), then refuse steps back that remain;
- ``sort``: sort by time (stable) and keep the first row of each time.

Nothing is reordered or dropped unless the option says so, and the report
(in the run's summary and ``metrics.json``) says what was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from convseq.data.locate import RemoteFile, locate_any
from convseq.data.tables import check_columns, read_table
from convseq.errors import UserError, closest
from convseq.wording import iso, plural

SENTINEL = -9999.0  # how the Jena station marks a failed reading
HEADER_LINES = 1  # file line of data row i is i + 1 + HEADER_LINES


@dataclass
class RowReport:
    """What the rows of a series hold that windows care about, and what was done about it."""

    rows: int
    repeated_rows: int = 0  # exact copies (time and values) of an earlier row
    repeated_times: int = 0  # rows whose time an earlier row already has
    steps_back: int = 0  # rows whose time comes before the row above
    first_step_back: str = ""
    sentinels: dict = field(default_factory=dict)  # column -> cells holding -9999
    policy: str = "as-given"
    dropped: int = 0
    sorted: bool = False
    gaps: dict = field(default_factory=dict)  # time_index.GapReport.to_dict()

    def lines(self, source: str) -> list[str]:
        """Human-readable notes for the run's summary (none for a clean series)."""
        notes = []
        if self.steps_back or self.repeated_times:
            first = f" (first: {self.first_step_back})" if self.first_step_back else ""
            notes.append(
                f"{source}: {plural(self.steps_back, 'step')} back in time{first}, "
                f"{plural(self.repeated_times, 'row')} repeating an earlier time "
                f"({plural(self.repeated_rows, 'exact copy', 'exact copies')}); "
                + self._what_was_done()
            )
        if self.sentinels:
            cells = ", ".join(f"{c} {n}" for c, n in self.sentinels.items())
            notes.append(f"{source}: -9999 error marks kept as values: {cells}")
        return notes

    def _what_was_done(self) -> str:
        dropped = plural(self.dropped, "row")
        if self.policy == "sort":
            return f"sorted by time, {dropped} of repeated times dropped (--time-order sort)"
        if self.policy == "drop-repeats":
            return f"{dropped} of repeated times dropped (--time-order drop-repeats)"
        return "rows kept in file order (--time-order as-given)"

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "time_order": self.policy,
            "steps_back": self.steps_back,
            "first_step_back": self.first_step_back or None,
            "repeated_times": self.repeated_times,
            "repeated_rows": self.repeated_rows,
            "dropped": self.dropped,
            "sorted": self.sorted,
            "sentinels": self.sentinels,
            "gaps": self.gaps,
        }


@dataclass
class Series:
    """Rows in the order chosen: ``values[i, j]`` is column ``columns[j]`` at ``times[i]``."""

    times: np.ndarray  # datetime64[s]
    values: np.ndarray  # float64, (rows, columns), all finite
    columns: list[str]
    source: str
    report: RowReport | None = None

    def __len__(self) -> int:
        return len(self.values)

    def index_of(self, name: str, role: str = "column") -> int:
        if name not in self.columns:
            raise UserError(
                f"{self.source} has no column {name!r}{closest(name, self.columns)}; "
                f"choose the {role} from: {', '.join(self.columns)}"
            )
        return self.columns.index(name)

    @property
    def increasing(self) -> bool:
        return bool(len(self.times) < 2 or (np.diff(self.times) > np.timedelta64(0, "s")).all())


# ------------------------------------------------------------------- reading
def line_of(row: int) -> int:
    return row + 1 + HEADER_LINES


FRAME = "the data frame"  # the source of a DataFrame given to the API: it has rows, not lines


def place(row: int, source: str) -> str:
    """Where data row ``row`` is: a file's line (the header is line 1), or a frame's row."""
    return f"row {row}" if source == FRAME else f"line {line_of(row)}"


def parse_times(raw: pd.Series, time_format: str, source: str, time_column: str) -> np.ndarray:
    """Times as datetime64[s], naming the first line whose time cannot be read."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw)
    else:
        text = raw.astype(str).str.strip()
        fmt = time_format or "ISO8601"
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.isna().any() and not time_format:  # other layouts: 2020/01/31, 31.01.2020 ...
            # 01.02.2020 is read both ways; keep the reading that parses most rows, then
            # the one that steps back in time least (Jena's dd.mm.yyyy read month first
            # would jump between months), month first on a tie
            readings = [
                pd.to_datetime(text, format="mixed", errors="coerce", dayfirst=first)
                for first in (False, True)
            ]
            parsed = min(readings, key=lambda p: (p.isna().sum(), (p.diff().dt.days < 0).sum()))
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            row = int(bad[0])
            expected = f"the format {time_format!r}" if time_format else "a date and time"
            raise UserError(
                f"{source} {place(row, source)}: {time_column} {raw.iloc[row]!r} is not "
                f"{expected}; fix that row or pass --time-format"
            )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert(None)
    return parsed.to_numpy().astype("datetime64[s]")


def numeric_values(frame: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    """The columns as float64, naming the first line of a cell that is empty or not a number."""
    values = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        raw = frame[name]
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            row = int(bad[0])
            cell = raw.iloc[row]
            text = "" if pd.isna(cell) else str(cell).strip()
            if not text and source == FRAME:
                shown = "a missing value (NaN) is not a number"
            elif not text:
                shown = "an empty cell is not a number"
            elif np.isinf(numbers[row]) or text.lower() == "nan":  # inf, -inf, NaN written out
                shown = f"{numbers[row]} is not a finite number"
            else:
                shown = f"{cell!r} is not a number"
            raise UserError(
                f"{source} {place(row, source)}, column {name!r}: {shown}; "
                "fix or remove that row, or leave the column out with --features"
            )
        values[:, j] = numbers
    return values


def series_from_frame(
    frame: pd.DataFrame,
    source: str,
    time_column: str,
    columns: list[str] | None = None,
    time_format: str = "",
    time_order: str = "check",
) -> Series:
    """A ``Series`` of ``columns`` (default: all but the time) ordered as ``time_order`` says."""
    if time_column not in frame.columns and (
        frame.index.name == time_column or isinstance(frame.index, pd.DatetimeIndex)
    ):
        frame = frame.reset_index(names=time_column)  # the times as the frame's index
    frame = frame.rename(columns=str)  # a copy: the caller's frame is left as it was
    check_columns(frame, [time_column], source, {time_column: "--time-column"})
    if columns is None:
        columns = [c for c in frame.columns if c != time_column]
    check_columns(frame, columns, source, dict.fromkeys(columns, "--features or --target"))
    if not columns:
        raise UserError(f"{source} has no numeric columns besides {time_column!r}")
    if len(frame) == 0:
        raise UserError(f"{source} has no data rows; pass a table with a header and rows")
    times = parse_times(frame[time_column], time_format, source, time_column)
    values = numeric_values(frame, columns, source)
    return order_rows(Series(times, values, list(columns), source), time_order)


def order_rows(series: Series, policy: str) -> Series:
    """Count steps back, repeats and error marks, then apply the time-order policy."""
    times, values = series.times, series.values
    report = RowReport(rows=len(times), policy=policy)
    step = np.diff(times)
    back = np.flatnonzero(step < np.timedelta64(0, "s")) + 1
    report.steps_back = int(back.size)
    if back.size:
        i = int(back[0])
        report.first_step_back = (
            f"{place(i, series.source)}, {iso(times[i])} after {iso(times[i - 1])}"
        )
    stamp = pd.Series(times)
    repeated = stamp.duplicated(keep="first").to_numpy()
    report.repeated_times = int(repeated.sum())
    whole = pd.DataFrame(values).assign(_t=times)
    report.repeated_rows = int(whole.duplicated(keep="first").sum())
    marks = (values == SENTINEL).sum(axis=0)
    report.sentinels = {c: int(n) for c, n in zip(series.columns, marks, strict=True) if n}
    if policy == "check" and (back.size or repeated.any()):
        raise UserError(_refusal(series.source, times, back, repeated))
    keep = np.arange(len(times))
    if policy == "sort":
        keep = np.argsort(times, kind="stable")
        report.sorted = bool(back.size)
    if policy in ("sort", "drop-repeats"):
        keep = keep[~repeated[keep]]
        report.dropped = len(times) - len(keep)
        left = np.diff(times[keep]) < np.timedelta64(0, "s")
        if left.any():
            i = int(keep[np.flatnonzero(left)[0] + 1])
            raise UserError(
                f"{series.source} {place(i, series.source)}: time {iso(times[i])} comes before the "
                "rows above it even without repeats; pass --time-order sort or as-given"
            )
    return Series(times[keep], values[keep], series.columns, series.source, report)


def _refusal(source: str, times: np.ndarray, back: np.ndarray, repeated: np.ndarray) -> str:
    first_repeat = int(np.flatnonzero(repeated)[0]) if repeated.any() else len(times)
    first_back = int(back[0]) if back.size else len(times)
    i = min(first_repeat, first_back)
    if i == first_back:
        what = f"time {iso(times[i])} comes before {iso(times[i - 1])} on the line above"
    else:
        what = f"time {iso(times[i])} repeats an earlier row's"
    return (
        f"{source} {place(i, source)}: {what} ({plural(back.size, 'step')} back, "
        f"{plural(int(repeated.sum()), 'repeated time')} in all); windows count rows, so pass --time-order as-given to take the "
        "rows as they are, drop-repeats to keep the first row of each time, or sort"
    )


def read_series(
    path: str | Path,
    time_column: str,
    columns: list[str] | None = None,
    time_format: str = "",
    encoding: str = "utf-8",
    time_order: str = "check",
) -> Series:
    """The series in a table file (CSV, .gz, .zip, parquet): see ``series_from_frame``."""
    wanted = None if columns is None else [time_column, *[c for c in columns if c != time_column]]
    roles = {time_column: "--time-column"}
    frame = read_table(path, wanted, encoding, roles=roles)
    return series_from_frame(frame, Path(path).name, time_column, columns, time_format, time_order)


# ------------------------------------------------------------------ datasets
@dataclass(frozen=True)
class SeriesDataset:
    """A series convseq knows by name: its file (any of several forms) and its time column."""

    name: str
    files: tuple[RemoteFile, ...]  # the forms it may be found in, the download last
    time_column: str
    time_format: str
    units: str


JENA_URL = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip"
)
DATASETS = {
    d.name: d
    for d in (
        SeriesDataset(
            "jena",
            tuple(
                RemoteFile(f"jena_climate_2009_2016.{ext}", JENA_URL)
                for ext in ("csv", "csv.gz", "csv.zip")
            ),
            "Date Time",
            "%d.%m.%Y %H:%M:%S",
            "degC",
        ),
        SeriesDataset(
            "etth1",
            (
                RemoteFile(
                    "ETTh1.csv",
                    "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
                    sha256="f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                    size=2_589_657,
                ),
            ),
            "date",
            "",
            "degC",
        ),
    )
}


def load_dataset(
    name: str,
    data_dir: str | None,
    columns: list[str] | None = None,
    time_order: str = "as-given",
) -> Series:
    """A named dataset's series, from ``data_dir``, $CONVSEQ_DATA, the cache or a download."""
    dataset = DATASETS[name]
    path = locate_any(dataset.files, data_dir)
    return read_series(path, dataset.time_column, columns, dataset.time_format, "utf-8", time_order)


def time_layout(source, dataset: str) -> tuple[str, str]:
    """The time column and format of a run's data: the user's file's, or the named dataset's."""
    if hasattr(source, "time_column"):
        return source.time_column, source.time_format
    return DATASETS[dataset].time_column, DATASETS[dataset].time_format


def describe(series: Series) -> str:
    span = f"{iso(series.times[0])} .. {iso(series.times[-1])}" if len(series) else "empty"
    return f"{series.source}: {len(series):,} rows x {len(series.columns)} columns ({span})"
