"""Tiny labelled cases written in the time-series classification formats, for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_cases(
    count: int, channels: int = 1, unequal: bool = False, seed: int = 0, classes=("up", "down")
):
    """Cases of ``classes``: a rising or falling ramp (plus noise), lengths 20-32 when unequal."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(count):
        label = classes[i % len(classes)]
        length = int(rng.integers(20, 33)) if unequal else 24
        ramp = np.linspace(-1, 1, length) * (1 if classes.index(label) % 2 == 0 else -1)
        series.append(
            np.stack([ramp * (c + 1) + 0.1 * rng.normal(size=length) for c in range(channels)])
        )
        labels.append(label)
    return series, labels


def ts_text(series, labels, classes=("up", "down"), name: str = "Tiny", missing_at=None) -> str:
    """A .ts file's text; ``missing_at`` (case, step) writes '?' there."""
    equal = len({s.shape[1] for s in series}) == 1
    lines = [
        "# a tiny archive written by the tests",
        f"@problemName {name}",
        "@timeStamps false",
        f"@missing {'true' if missing_at else 'false'}",
        f"@univariate {'true' if series[0].shape[0] == 1 else 'false'}",
        f"@dimensions {series[0].shape[0]}",
        f"@equalLength {'true' if equal else 'false'}",
        *([f"@seriesLength {series[0].shape[1]}"] if equal else []),
        f"@classLabel true {' '.join(classes)}",
        "@data",
    ]
    for i, (case, label) in enumerate(zip(series, labels, strict=True)):
        channels = []
        for c, channel in enumerate(case):
            values = [f"{v:.5f}" for v in channel]
            if missing_at and missing_at[0] == i and c == 0:
                values[missing_at[1]] = "?"
            channels.append(",".join(values))
        lines.append(":".join(channels) + f":{label}")
    return "\n".join(lines) + "\n"


def write_archive(
    folder: Path, name: str = "Tiny", channels: int = 1, unequal: bool = False
) -> Path:
    """NAME_TRAIN.ts (30 cases) and NAME_TEST.ts (16 cases) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, count, seed in (("TRAIN", 30, 0), ("TEST", 16, 1)):
        series, labels = make_cases(count, channels, unequal, seed)
        (folder / f"{name}_{part}.ts").write_text(ts_text(series, labels, name=name))
    return folder
