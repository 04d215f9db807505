"""Small labelled text files in every supported format, and quick training runs on them."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from convseq.cli import main

TOPICS = {
    "sport": "goal match team score player coach league".split(),
    "tech": "code chip software cpu data network server".split(),
    "food": "pasta bread cheese soup salad recipe oven".split(),
}
FILLER = "the a of and to in it is".split()
SENTIMENT = {
    "pos": "great wonderful superb moving brilliant fun".split(),
    "neg": "awful boring terrible dull bad tedious".split(),
}
QUICK = ["--epochs", "2", "--max-len", "48", "--vocab-size", "60", "--batch-size", "16"]


def make_rows(classes: dict, n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(classes)[i % len(classes)]
        words = [rng.choice(classes[label]) for _ in range(6)] + rng.sample(FILLER, 4)
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=("text", "label"), delimiter=",", encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows, keys=("text", "label")) -> Path:
    path.write_text("".join(json.dumps(dict(zip(keys, row, strict=True))) + "\n" for row in rows))
    return path


def write_folders(path: Path, rows) -> Path:
    for i, (text, label) in enumerate(rows):
        (path / label).mkdir(parents=True, exist_ok=True)
        (path / label / f"{i}.txt").write_text(text)
    return path


def train(data: Path, out: Path, *extra: str) -> int:
    """A quick run of one model: text-cnn unless ``extra`` names another (tests of --model
    auto, the default, are in test_auto.py)."""
    model = [] if "--model" in extra else ["--model", "text-cnn"]
    return main(["train", "text", str(data), *QUICK, *model, "--out", str(out), *extra])
