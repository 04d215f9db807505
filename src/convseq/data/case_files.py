"""Readers of labelled cases (one series per case) in the time-series classification formats.

- ``.ts``: the UCR/UEA archives' format (sktime/aeon): ``@`` header lines,
  ``#`` comments, then ``@data`` and one case per line, channels separated by
  ``:``, values by ``,``, the class label last, ``?`` for a missing value;
  univariate or multivariate, equal or unequal lengths.
- ``.tsv``: the 2018 UCR archive: label first, tab-separated values, shorter
  cases padded at the end with ``NaN`` (stripped here).
- ``.txt`` (or any other name): the older UCR text: label first, values
  separated by whitespace or commas.
- ``.csv``: a table of one's own, wide (one case per row: a label column and
  one column per time step; empty cells end a shorter case) or long (a case
  column, a time column, a label column and one column per channel).

Every reader returns ``Cases``: a list of ``(channels, length)`` float arrays
(NaN where a value is missing) and their string labels. A malformed file is
one ``UserError`` line: ``FILE:LINE: the problem``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convseq.errors import UserError

TS_TAGS = {"problemname", "timestamps", "missing", "univariate", "dimensions", "equallength",
           "serieslength", "classlabel", "targetlabel", "data"}  # fmt: skip
BOOLEANS = {"true": True, "false": False}
FORMATS = ("auto", "ts", "tsv", "ucr", "csv-wide", "csv-long")


@dataclass
class Cases:
    """Labelled cases: ``series[i]`` is ``(channels, length_i)``, NaN where a value is missing."""

    series: list[np.ndarray]
    labels: list[str]
    classes: list[str]  # declared by the file (.ts @classLabel), else the labels seen, sorted;
    # none for unlabelled cases (.ts @classLabel false: labels are "", to predict only)
    source: str = ""
    declared: bool = False  # whether ``classes`` was declared by the file
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.series)

    @property
    def channels(self) -> int:
        return self.series[0].shape[0]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([s.shape[1] for s in self.series], dtype=np.int64)

    def ids(self, classes: list[str]) -> np.ndarray:
        """Each case's class as an index into ``classes``; an unknown label is refused."""
        if not self.classes:
            raise UserError(
                f"{self.source} has no class labels (@classLabel false); pass labelled cases"
            )
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({label for label in self.labels if label not in index})
        if unknown:
            raise UserError(
                f"{self.source} has cases of class {unknown[0]!r}, which the training file does "
                f"not have (its classes: {', '.join(classes)})"
            )
        return np.array([index[label] for label in self.labels], dtype=np.int64)

    def pick(self, indices) -> Cases:
        return Cases([self.series[i] for i in indices], [self.labels[i] for i in indices],
                     list(self.classes), self.source, self.declared, dict(self.meta))  # fmt: skip


def bad(path: Path, line: int | None, problem: str) -> UserError:
    where = f"{path}:{line}" if line else str(path)
    return UserError(f"{where}: {problem}")


def sorted_labels(labels) -> list[str]:
    """Numeric labels in numeric order, others in text order."""
    try:
        return sorted(set(labels), key=float)
    except ValueError:
        return sorted(set(labels))


def number(token: str, path: Path, line: int, what: str) -> float:
    token = token.strip()
    if token in ("?", "", "NaN", "nan"):
        return math.nan
    try:
        return float(token)
    except ValueError:
        raise bad(path, line, f"{what}: {token[:30]!r} is not a number") from None


def read_lines(path: Path, encoding: str) -> list[str]:
    if not path.is_file():
        raise UserError(f"{path} does not exist; pass an existing file")
    try:
        return path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not {encoding} text ({exc.reason}); pass --encoding") from None


# --------------------------------------------------------------------- .ts
def read_ts(path: Path, encoding: str = "utf-8") -> Cases:
    """A ``.ts`` file, checked against its own header as it is read."""
    header: dict = {}
    declared: list[str] | None = None
    series, labels = [], []
    channels = None
    in_data = False
    for number_, raw in enumerate(read_lines(path, encoding), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise bad(
                    path, number_, f"expected a header line (@...) or @data, got {line[:30]!r}"
                )
            tag, *args = line.split()
            name = tag[1:].lower()
            if name not in TS_TAGS:
                raise bad(path, number_, f"unknown header {tag!r}")
            if name == "data":
                if "classlabel" not in header:
                    raise bad(path, number_, "@data before @classLabel; the labels are undeclared")
                if header.get("timestamps"):
                    raise bad(path, number_, "@timeStamps true is not supported; drop the stamps")
                if header.get("univariate"):
                    channels = 1
                channels = header.get("dimensions", channels)
                in_data = True
            elif name == "problemname":
                header[name] = " ".join(args)
            elif name in ("timestamps", "missing", "univariate", "equallength"):
                if len(args) != 1 or args[0].lower() not in BOOLEANS:
                    raise bad(path, number_, f"{tag} must be followed by true or false")
                header[name] = BOOLEANS[args[0].lower()]
            elif name in ("dimensions", "serieslength"):
                if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
                    raise bad(path, number_, f"{tag} must be followed by a positive whole number")
                header[name] = int(args[0])
            elif name == "classlabel":
                if not args or args[0].lower() not in BOOLEANS:
                    raise bad(path, number_, "@classLabel must be followed by true or false")
                header[name] = BOOLEANS[args[0].lower()]
                if not header[name]:  # unlabelled cases: to predict, not to train or score
                    if len(args) > 1:
                        raise bad(path, number_, "@classLabel false takes no labels")
                    continue
                declared = args[1:]
                if not declared:
                    raise bad(path, number_, "@classLabel true lists no labels")
                if len(set(declared)) != len(declared):
                    raise bad(path, number_, "@classLabel lists a label twice")
            else:  # targetlabel
                raise bad(path, number_, "@targetLabel is regression; convseq classifies cases")
            continue
        case = f"case {len(series) + 1}"
        *parts, label = line.split(":") if header["classlabel"] else [*line.split(":"), "?"]
        label = label.strip()
        if not parts or "," in label:
            raise bad(path, number_, f"{case}: no ':label' at the end of the line")
        if not label:
            raise bad(path, number_, f"{case}: empty class label")
        if declared is not None and label not in declared:
            raise bad(path, number_, f"{case}: label {label!r} is not in @classLabel")
        if channels is None:
            channels = len(parts)
        if len(parts) != channels:
            raise bad(path, number_, f"{case}: {len(parts)} channels, expected {channels}")
        values = []
        for c, part in enumerate(parts, start=1):
            if "(" in part:
                raise bad(path, number_, f"{case}: timestamped values are not supported")
            tokens = part.split(",")
            if tokens and not tokens[-1].strip():
                tokens = tokens[:-1]  # one trailing comma
            if not tokens:
                raise bad(path, number_, f"{case}: channel {c} is empty")
            values.append([number(t, path, number_, f"{case}, channel {c}") for t in tokens])
        sizes = [len(v) for v in values]
        if len(set(sizes)) > 1:
            raise bad(path, number_, f"{case}: channels of different lengths {sizes}")
        array = np.asarray(values, dtype=np.float64)
        if header.get("missing") is False and np.isnan(array).any():
            raise bad(
                path, number_, f"{case}: a missing value '?' but the header says @missing false"
            )
        if (
            header.get("equallength")
            and "serieslength" in header
            and sizes[0] != header["serieslength"]
        ):
            raise bad(
                path,
                number_,
                f"{case}: {sizes[0]} values, @seriesLength says {header['serieslength']}",
            )
        if header.get("equallength") and series and sizes[0] != series[0].shape[1]:
            raise bad(path, number_, f"{case}: {sizes[0]} values, the first case has "
                      f"{series[0].shape[1]} and @equalLength is true")  # fmt: skip
        series.append(array)
        labels.append(label if header["classlabel"] else "")
    if not in_data:
        raise bad(path, None, "no @data line; is this a .ts file?")
    if not series:
        raise bad(path, None, "no cases after @data")
    classes = declared if declared is not None else []
    return Cases(series, labels, list(classes), str(path), declared is not None,
                 {"problem": header.get("problemname", "")})  # fmt: skip


# ------------------------------------------------------- UCR .tsv and .txt
def read_label_first(path: Path, tabs: bool, encoding: str = "utf-8") -> Cases:
    """The UCR text formats: label first, then values (tabs, or whitespace and commas).

    NaNs at the end of a case are the 2018 archive's padding of shorter cases
    and are dropped; NaNs inside it are missing values.
    """
    series, labels = [], []
    for number_, raw in enumerate(read_lines(path, encoding), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split("\t") if tabs else line.replace(",", " ").split()
        case = f"case {len(series) + 1}"
        if len(tokens) < 2:
            raise bad(path, number_, f"{case}: a label and at least one value expected")
        label = tokens[0].strip()
        try:  # the old files write labels as numbers: 1.0000000e+00 is class '1'
            as_number = float(label)
            label = str(int(as_number)) if as_number.is_integer() else label
        except ValueError:
            pass
        values = np.array([number(t, path, number_, case) for t in tokens[1:]], dtype=np.float64)
        present = np.flatnonzero(~np.isnan(values))
        if not present.size:
            raise bad(path, number_, f"{case}: every value is missing")
        series.append(values[None, : present[-1] + 1])
        labels.append(label)
    if not series:
        raise bad(path, None, "no cases")
    return Cases(series, labels, sorted_labels(labels), str(path))


# -------------------------------------------------------------------- CSV
def read_csv_cases(
    path: Path,
    label_column: str,
    case_column: str = "",
    time_column: str = "",
    encoding: str = "utf-8",
) -> Cases:
    """A CSV of one's own: wide without ``case_column``, long with it."""
    import pandas as pd

    from convseq.data.tables import read_table

    frame = read_table(path, encoding=encoding)
    for column in (label_column, case_column, time_column):
        if column and column not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:8]))
            raise UserError(f"{path} has no column {column!r}; its columns: {shown}")
    line_of = lambda row: int(row) + 2  # noqa: E731 (the header is line 1)
    values = frame.drop(columns=[c for c in (label_column, case_column, time_column) if c])
    numeric = values.apply(pd.to_numeric, errors="coerce")
    wrong = values.notna() & numeric.isna()
    if wrong.any().any():
        row, col = np.argwhere(wrong.to_numpy())[0]
        raise bad(path, line_of(row), f"column {values.columns[col]!r}: "
                  f"{str(values.iat[row, col])[:30]!r} is not a number")  # fmt: skip
    if frame[label_column].isna().any():
        row = int(np.flatnonzero(frame[label_column].isna().to_numpy())[0])
        raise bad(path, line_of(row), f"no class label in column {label_column!r}")
    labels_of = frame[label_column].map(_label).tolist()
    series, labels = [], []
    if not case_column:  # wide: one case per row, trailing empty cells end a shorter case
        for row, array in enumerate(numeric.to_numpy(dtype=np.float64)):
            present = np.flatnonzero(~np.isnan(array))
            if not present.size:
                raise bad(path, line_of(row), "a case with no values")
            series.append(array[None, : present[-1] + 1])
            labels.append(labels_of[row])
    else:  # long: one row per (case, time), channels as columns
        order = np.arange(len(frame))
        for case, rows in frame.groupby(case_column, sort=False).indices.items():
            rows = order[rows]
            if time_column:
                rows = rows[np.argsort(frame[time_column].to_numpy()[rows], kind="stable")]
            case_labels = {labels_of[r] for r in rows}
            if len(case_labels) > 1:
                raise bad(
                    path,
                    line_of(rows[0]),
                    f"case {case!r} has several labels {sorted(case_labels)}",
                )
            series.append(numeric.to_numpy(dtype=np.float64)[rows].T)
            labels.append(labels_of[rows[0]])
    if not series:
        raise bad(path, None, "no cases")
    return Cases(series, labels, sorted_labels(labels), str(path))


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_cases(
    path: str | Path,
    kind: str = "auto",
    label_column: str = "label",
    case_column: str = "",
    time_column: str = "",
    encoding: str = "utf-8",
) -> Cases:
    """Labelled cases from ``path`` in the format ``kind`` (auto: by the file's name)."""
    path = Path(path)
    if kind == "auto":
        suffix = path.suffix.lower()
        kind = {".ts": "ts", ".tsv": "tsv", ".csv": "csv-long" if case_column else "csv-wide"}
        kind = kind.get(suffix, "ucr")
    if kind == "ts":
        return read_ts(path, encoding)
    if kind in ("tsv", "ucr"):
        return read_label_first(path, kind == "tsv", encoding)
    if kind == "csv-long" and not case_column:
        raise UserError("--format csv-long needs --case-column, the column naming each row's case")
    return read_csv_cases(path, label_column, case_column, time_column, encoding)
