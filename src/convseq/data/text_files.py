"""Labelled texts from the files people have: CSV, TSV, JSON Lines, JSON, or a folder per class.

A folder ``DATA/<label>/*.txt`` is read like aclImdb's ``train/pos``,
``train/neg``. Tables name their text and label columns. Rows without a text or
a label are skipped and counted rather than guessed at, and every problem a
user can fix (a missing file, a wrong encoding, a misspelt column, a single
class) stops the run with one line that says what to do.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from convseq.data.imdb import TextSplit
from convseq.errors import UserError, closest

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
FORMATS_HINT = (
    "a .csv, .tsv, .jsonl or .json file, or a folder with one sub-folder of .txt files per class"
)
MAX_CLASSES = 1000


@dataclass
class LabelledTexts:
    """Texts with their class names, plus what was skipped while reading them."""

    source: str
    texts: list[str]
    labels: list[str]
    skipped_empty: int = 0
    skipped_unlabelled: int = 0
    skipped_other_class: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def skip_notes(self) -> list[str]:
        notes = []
        if self.skipped_empty:
            notes.append(f"{self.source}: skipped {self.skipped_empty} rows with an empty text")
        if self.skipped_unlabelled:
            notes.append(f"{self.source}: skipped {self.skipped_unlabelled} rows without a label")
        if self.skipped_other_class:
            notes.append(
                f"{self.source}: skipped {self.skipped_other_class} rows of classes not in --classes"
            )
        return notes

    def to_split(self, label_names: list[str]) -> TextSplit:
        """Integer classes in the order of ``label_names``; unknown classes are refused."""
        index = {name: i for i, name in enumerate(label_names)}
        unknown = sorted(set(self.labels) - set(index))
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise UserError(
                f"{self.source} has labels the model was not trained on: {shown}; "
                f"its classes are {', '.join(label_names)}"
            )
        return TextSplit(list(self.texts), [index[label] for label in self.labels])


def ordered_labels(labels) -> list[str]:
    """Distinct labels, numerically when they all are integers ("2" before "10"), else sorted."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


# ----------------------------------------------------------------- reading files
def check_exists(path: Path) -> None:
    if not path.exists():
        hint = (
            closest(path.name, [p.name for p in path.parent.iterdir()])
            if path.parent.is_dir()
            else ""
        )
        raise UserError(f"{path} does not exist{hint}; pass the path of {FORMATS_HINT}")


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


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file as text; a missing, unreadable or empty file is refused."""
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; pass a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}); check its permissions") from None
    text = decode(data, encoding, str(path))
    if not text.strip():
        raise UserError(f"{path} is empty; pass a file with data in it")
    return text


def read_stdin(encoding: str = "utf-8") -> str:
    text = decode(sys.stdin.buffer.read(), encoding, "standard input")
    if not text.strip():
        raise UserError("standard input is empty; pipe some text lines into it")
    return text


def split_lines(text: str) -> list[str]:
    """Lines split on \\n only (a text may hold other Unicode line separators); \\r\\n accepted."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def table_format(path: Path) -> str:
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot tell the format of {path} from its name; pass {FORMATS_HINT}")
    return fmt


def read_table(path: Path, columns: list[str], encoding: str) -> dict[str, list]:
    """The values of ``columns`` (None where a row lacks one) from a CSV/TSV/JSON(L) file."""
    fmt = table_format(path)
    text = read_text_file(path, encoding)
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, text, columns, "\t" if fmt == "tsv" else ",")
    return _read_json_records(path, text, columns, lines=fmt == "jsonl")


def _missing_column(path: Path, column: str, available: list[str], role: str) -> UserError:
    shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
    return UserError(
        f"{path} has no column {column!r}{closest(column, available)}; its columns are: {shown}; "
        f"pass the right one with --{role}-column"
    )


def _read_delimited(path: Path, text: str, columns: list[str], delimiter: str) -> dict:
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        positions = {}
        for column in columns:
            if column not in header:
                role = "text" if column == columns[0] else "label"
                raise _missing_column(path, column, header, role)
            positions[column] = header.index(column)
        values: dict[str, list] = {column: [] for column in columns}
        for row in reader:
            if not row:
                continue
            for column, i in positions.items():
                values[column].append(row[i] if i < len(row) else None)
    except csv.Error as exc:
        raise UserError(
            f"{path} is not a valid {'TSV' if delimiter == chr(9) else 'CSV'} file "
            f"(line {reader.line_num}: {exc}); fix that line or save the table again"
        ) from None
    if not values[columns[0]]:
        raise UserError(f"{path} has a header but no rows; add some data")
    return values


def _read_json_records(path: Path, text: str, columns: list[str], lines: bool) -> dict:
    if lines:
        records = []
        for number, line in enumerate(split_lines(text), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"{path} line {number} is not valid JSON ({exc.msg}); each line must hold "
                    "one JSON object"
                ) from None
    else:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(records, list):
            raise UserError(f"{path} must hold a JSON list of objects, one per text")
    keys: dict[str, None] = {}
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise UserError(
                f"{path} record {number} is a {type(record).__name__}, not an object with "
                "text and label fields"
            )
        keys.update(dict.fromkeys(record))
    for column in columns:
        if column not in keys:
            raise _missing_column(
                path, column, list(keys), "text" if column == columns[0] else "label"
            )
    return {column: [record.get(column) for record in records] for column in columns}


def as_text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def as_label(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return as_text(value).strip()


# --------------------------------------------------------------- labelled data
def read_labelled_texts(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
    classes: list[str] | None = None,
) -> LabelledTexts:
    """Texts and labels from a table or a folder per class; empty texts are skipped and counted."""
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        texts, labels = _read_class_folders(path, encoding, classes)
    else:
        values = read_table(path, [text_column, label_column], encoding)
        texts = [as_text(v) for v in values[text_column]]
        labels = [as_label(v) for v in values[label_column]]
    data = LabelledTexts(str(path), [], [])
    for text, label in zip(texts, labels, strict=True):
        if not text.strip():
            data.skipped_empty += 1
        elif not label:
            data.skipped_unlabelled += 1
        elif classes and label not in classes:
            data.skipped_other_class += 1
        else:
            data.texts.append(text)
            data.labels.append(label)
    if not data.texts:
        raise UserError(
            f"{path} has no row with both a text and a label "
            f"({data.skipped_empty} empty texts, {data.skipped_unlabelled} without a label"
            + (f", {data.skipped_other_class} of other classes" if classes else "")
            + "); check --text-column and --label-column"
        )
    return data


def _read_class_folders(
    path: Path, encoding: str, classes: list[str] | None
) -> tuple[list[str], list[str]]:
    folders = sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("*.txt")))
    names = [f.name for f in folders]
    if classes:
        for wanted in classes:
            if wanted not in names:
                raise UserError(
                    f"{path} has no folder of .txt files named {wanted!r}{closest(wanted, names)}; "
                    f"its class folders are: {', '.join(names) or 'none'}"
                )
        folders = [f for f in folders if f.name in classes]
    if not folders:
        raise UserError(f"{path} holds no sub-folder of .txt files; pass {FORMATS_HINT}")
    texts, labels = [], []
    for folder in folders:
        for file in sorted(folder.glob("*.txt")):
            texts.append(decode(file.read_bytes(), encoding, str(file)))
            labels.append(folder.name)
    return texts, labels


def check_classes(data: LabelledTexts, label_column: str) -> list[str]:
    """The ordered class names, refusing one class or a column that looks like free text."""
    labels = ordered_labels(data.labels)
    if len(labels) < 2:
        raise UserError(
            f"{data.source} has only one class ({labels[0]!r}) in {len(data)} texts; a classifier "
            "needs at least two: check --label-column or add texts of other classes"
        )
    if len(labels) > MAX_CLASSES or (len(labels) > 20 and len(labels) > len(data) / 2):
        raise UserError(
            f"{data.source} has {len(labels)} different labels in {len(data)} texts in column "
            f"{label_column!r}; that looks like a text column: pass the class column with --label-column"
        )
    return labels


# ------------------------------------------------------------- unlabelled data
def read_texts(source: str | Path, text_column: str = "text", encoding: str = "utf-8") -> list[str]:
    """Texts to predict: one per line of a text file or of stdin ("-"), or a table's text column."""
    if str(source) == "-":
        return split_lines(read_stdin(encoding))
    path = Path(source)
    check_exists(path)
    if path.suffix.lower() in TABLE_FORMATS:
        return [as_text(v) for v in read_table(path, [text_column], encoding)[text_column]]
    return split_lines(read_text_file(path, encoding))
