"""A pandas-style data frame as a ``Series``, with the same checks as a CSV file.

Only the frame's interface is used (``frame.columns``, ``frame[name]``,
``frame.index``), so convseq does not depend on pandas. The time column may
also be the frame's index (a ``DatetimeIndex``, as ``read_csv(...,
index_col=..., parse_dates=True)`` gives).
"""

from __future__ import annotations

import numpy as np

from convseq.data.series import Series
from convseq.errors import UserError, closest

SOURCE = "the data frame"


def _times(frame, time_column: str, names: list[str]) -> np.ndarray:
    index = getattr(frame, "index", None)
    if time_column in names:
        raw = frame[time_column]
    elif index is not None and (
        getattr(index, "name", None) == time_column
        or np.issubdtype(np.asarray(index).dtype, np.datetime64)
    ):
        raw = index
    else:
        raise UserError(
            f"{SOURCE} has no time column {time_column!r}{closest(time_column, names)}; "
            f"its columns are: {', '.join(names)}"
        )
    try:
        times = np.asarray(raw).astype("datetime64[s]")
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"{SOURCE}'s time column {time_column!r} does not hold timezone-free dates and times "
            f"({exc}); convert it to datetime64 first"
        ) from None
    missing = np.flatnonzero(np.isnat(times))
    if missing.size:
        raise UserError(
            f"{SOURCE}'s time column {time_column!r} has no time at row {missing[0]} "
            "(counting from 0); fill or drop that row"
        )
    return times


def _column(frame, name: str, names: list[str]) -> np.ndarray:
    if name not in names:
        raise UserError(
            f"{SOURCE} has no column {name!r}{closest(name, names)}; its columns are: "
            f"{', '.join(names)}"
        )
    try:
        values = np.asarray(frame[name], dtype=np.float64)
    except (ValueError, TypeError):
        raise UserError(
            f"{SOURCE}'s column {name!r} holds values that are not numbers; convert or drop them"
        ) from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise UserError(
            f"{SOURCE}'s column {name!r} holds {values[bad[0]]} at row {bad[0]} (counting from 0); "
            "fill or remove the missing values first"
        )
    return values


def series_from_frame(
    frame, time_column: str, columns: list[str], duplicate_times: str = "error"
) -> Series:
    """The ``columns`` of ``frame`` in time order, refusing what a CSV would be refused for."""
    names = [str(c) for c in frame.columns]
    times = _times(frame, time_column, names)
    values = np.stack([_column(frame, c, names) for c in columns], axis=1)
    steps = np.diff(times)
    backwards = np.flatnonzero(steps < np.timedelta64(0, "s"))
    if backwards.size:
        raise UserError(
            f"{SOURCE}'s times go back at row {backwards[0] + 1} (counting from 0); "
            "sort it by time first"
        )
    repeats = np.flatnonzero(steps == np.timedelta64(0, "s"))
    if repeats.size:
        if duplicate_times != "drop":
            raise UserError(
                f"{SOURCE} repeats the time {times[repeats[0]]} at row {repeats[0] + 1} "
                f"({repeats.size} repeated in all); drop the duplicates first"
            )
        keep = np.ones(len(times), dtype=bool)
        keep[repeats + 1] = False
        times, values = times[keep], values[keep]
    return Series(times, values, list(columns), SOURCE)
