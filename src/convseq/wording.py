"""Counts in messages read as English: "1 empty line", "2 steps", "every 6th row"."""

from __future__ import annotations

import numpy as np


def plural(count: int, word: str, many: str | None = None) -> str:
    """``plural(1, "row")`` -> "1 row"; ``plural(2, "row")`` -> "2 rows"."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def every(step: int, word: str = "row") -> str:
    """``every(1)`` -> "every row"; ``every(6)`` -> "every 6th row"."""
    if step == 1:
        return f"every {word}"
    suffix = "th" if 10 <= step % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(step % 10, "th")
    return f"every {step}{suffix} {word}"


def iso(time) -> str:
    """A numpy datetime64 as ``2020-01-31 10:00:00``."""
    return str(np.datetime_as_string(np.datetime64(time, "s"), unit="s")).replace("T", " ")
