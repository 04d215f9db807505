"""Labelled texts from the files people have: a table (CSV, TSV, JSON Lines, JSON, parquet,
plain or compressed), a pandas DataFrame, or a folder with one sub-folder of ``.txt`` files per class.

Tables are read by pandas (``data/tables.py``). Rows without a text or a label
are skipped and counted rather than guessed at, and every problem a user can
fix (a missing file, a wrong encoding, a misspelt column, a single class)
stops the run with one line that says what to do.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from convseq.data.imdb import TextSplit
from convseq.data.tables import check_columns, decode, read_table, table_kind
from convseq.errors import UserError, closest
from convseq.wording import plural

FORMATS_HINT = (
    "a .txt, .csv, .tsv, .jsonl, .json or .parquet file, or a folder with one sub-folder of "
    ".txt files per class"
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
        for count, what in (
            (self.skipped_empty, "with an empty text"),
            (self.skipped_unlabelled, "without a label"),
            (self.skipped_other_class, "of classes not in --classes"),
        ):
            if count:
                notes.append(f"{self.source}: skipped {plural(count, 'row')} {what}")
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


def check_exists(path: Path) -> None:
    if not path.exists():
        near = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        raise UserError(f"{path} does not exist{closest(path.name, near)}; pass {FORMATS_HINT}")


def split_lines(text: str) -> list[str]:
    """Lines split on \\n only (a text may hold other Unicode line separators); \\r\\n accepted."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_text_lines(path: Path, encoding: str) -> list[str]:
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
    return split_lines(text)


# --------------------------------------------------------------- labelled data
def read_labelled_texts(
    data,
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
    classes: list[str] | None = None,
) -> LabelledTexts:
    """Texts and labels from a table, a DataFrame or a folder per class; empty texts are skipped."""
    if hasattr(data, "columns"):  # a pandas DataFrame given to the API
        source = "the data frame"
        frame = _text_frame(data, [text_column, label_column], source)
        texts, labels = list(frame[text_column]), list(frame[label_column])
    else:
        path = Path(data)
        source = str(path)
        check_exists(path)
        if path.is_dir():
            texts, labels = _read_class_folders(path, encoding, classes)
        else:
            roles = {text_column: "--text-column", label_column: "--label-column"}
            frame = read_table(path, [text_column, label_column], encoding, True, roles)
            if not len(frame):
                raise UserError(f"{path} has a header but no rows; add some data")
            texts, labels = list(frame[text_column]), list(frame[label_column])
    result = LabelledTexts(source, [], [])
    for text, label in zip(texts, labels, strict=True):
        label = label.strip()
        if not text.strip():
            result.skipped_empty += 1
        elif not label:
            result.skipped_unlabelled += 1
        elif classes and label not in classes:
            result.skipped_other_class += 1
        else:
            result.texts.append(text)
            result.labels.append(label)
    if not result.texts:
        raise UserError(
            f"{source} has no row with both a text and a label "
            f"({plural(result.skipped_empty, 'empty text')}, {result.skipped_unlabelled} without a label"
            + (f", {result.skipped_other_class} of other classes" if classes else "")
            + "); check --text-column and --label-column"
        )
    return result


def _text_frame(frame, columns: list[str], source: str):
    frame = frame.rename(columns=str)
    check_columns(frame, columns, source)
    part = frame[columns]
    return part.astype(object).where(part.notna(), "").map(str)


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
def read_texts(source, text_column: str = "text", encoding: str = "utf-8") -> list[str]:
    """Texts to predict: one per line of a text file or of stdin ("-"), or a table's text column."""
    if str(source) == "-":
        text = decode(sys.stdin.buffer.read(), encoding, "standard input")
        if not text.strip():
            raise UserError("standard input is empty; pipe some text lines into it")
        return split_lines(text)
    path = Path(source)
    check_exists(path)
    if table_kind(path):
        roles = {text_column: "--text-column"}
        return list(read_table(path, [text_column], encoding, True, roles)[text_column])
    return read_text_lines(path, encoding)
