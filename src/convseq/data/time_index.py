"""The time index of a series: its typical spacing, the gaps in it, filling them, and times ahead.

Windows count rows, not time. A missing hour in an hourly file silently
stretches every window that spans it, so gaps are found and reported, and
filled only when the user says how (``ffill`` or ``interpolate``). The spacing
is either a fixed duration (the median difference between rows) or a number of
calendar months, when every timestamp falls on the same day and time of its
month (monthly, quarterly or yearly data, whose durations vary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convseq.data.series import Series
from convseq.errors import UserError, closest

FILL_METHODS = ("none", "ffill", "interpolate")


@dataclass(frozen=True)
class Spacing:
    """Rows are ``seconds`` apart, or ``months`` calendar months apart (exactly one is set)."""

    seconds: int = 0
    months: int = 0

    def describe(self) -> str:
        if self.months:
            count, unit = self.months, "month"
        else:
            count, unit = self.seconds, "second"
            for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
                if self.seconds % size == 0:
                    count, unit = self.seconds // size, name
                    break
        return f"{count} {unit}{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class GapReport:
    """Where rows are missing: after row ``i`` of ``missing_after[i] > 0`` such rows."""

    spacing: Spacing | None
    missing_after: np.ndarray  # int, one count per row
    times: np.ndarray

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.missing_after))

    @property
    def missing_rows(self) -> int:
        return int(self.missing_after.sum())

    def first(self) -> tuple[np.datetime64, np.datetime64, int] | None:
        where = np.flatnonzero(self.missing_after)
        if not where.size:
            return None
        i = int(where[0])
        return self.times[i], self.times[i + 1], int(self.missing_after[i])

    def describe(self, source: str) -> str:
        first = self.first()
        if first is None:
            return f"{source}: no gaps in the time index"
        before, after, missing = first
        return (
            f"{source}: {self.count} gap{'s' if self.count != 1 else ''} in the time index, "
            f"{self.missing_rows} rows missing (typical spacing {self.spacing.describe()}; first "
            f"gap: {_iso(before)} -> {_iso(after)}, {missing} row{'s' if missing != 1 else ''} "
            "missing)"
        )

    def to_dict(self) -> dict:
        first = self.first()
        return {
            "spacing": self.spacing.describe() if self.spacing else None,
            "gaps": self.count,
            "missing_rows": self.missing_rows,
            "first_gap": None if first is None else [_iso(first[0]), _iso(first[1]), first[2]],
        }


def _iso(time: np.datetime64) -> str:
    return str(np.datetime_as_string(time, unit="s")).replace("T", " ")


def _month_parts(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    months = times.astype("datetime64[M]")
    return months.astype(np.int64), times - months.astype(times.dtype)


def detect_spacing(times: np.ndarray) -> Spacing | None:
    """The series' regular step, or None with fewer than two rows."""
    if len(times) < 2:
        return None
    months, offsets = _month_parts(times)
    month_steps = np.diff(months)
    if (offsets == offsets[0]).all() and (month_steps > 0).all():
        return Spacing(months=int(np.min(month_steps)))
    seconds = np.diff(times).astype("timedelta64[s]").astype(np.int64)
    return Spacing(seconds=max(int(np.median(seconds)), 1))


def steps_between(times: np.ndarray, spacing: Spacing) -> np.ndarray:
    """How many spacings separate each row from the next (1 = no row missing)."""
    if spacing.months:
        return np.diff(_month_parts(times)[0]) // spacing.months
    seconds = np.diff(times).astype("timedelta64[s]").astype(np.int64)
    return np.rint(seconds / spacing.seconds).astype(np.int64)


def find_gaps(series: Series) -> GapReport:
    spacing = detect_spacing(series.times)
    missing = np.zeros(len(series), dtype=np.int64)
    if spacing is not None:
        missing[:-1] = np.maximum(steps_between(series.times, spacing) - 1, 0)
    return GapReport(spacing, missing, series.times)


def fill_gaps(series: Series, report: GapReport, method: str) -> Series:
    """A series with the missing rows inserted on the regular grid, valued by ``method``.

    ``ffill`` repeats the last observed row; ``interpolate`` draws a straight
    line, column by column, between the rows on either side of the gap.
    """
    check_fill(method)
    if method == "none" or report.missing_rows == 0:
        return series
    reps = 1 + report.missing_after
    source = np.repeat(np.arange(len(series)), reps)  # the observed row each output row follows
    within = np.arange(len(source)) - np.repeat(np.cumsum(reps) - reps, reps)  # 0 = observed
    values = series.values[source]
    if method == "interpolate":
        following = series.values[np.minimum(source + 1, len(series) - 1)]
        fraction = (within / np.repeat(reps, reps))[:, None]
        values = values + fraction * (following - values)
    return Series(
        times_after(series.times[source], within, report.spacing),
        values,
        list(series.columns),
        series.source,
    )


def times_after(times: np.ndarray, steps, spacing: Spacing) -> np.ndarray:
    """``times`` moved ``steps`` spacings later (element-wise)."""
    steps = np.asarray(steps, dtype=np.int64)
    if spacing.months:
        months, offsets = _month_parts(times)
        moved = (months + steps * spacing.months).astype("datetime64[M]")
        return moved.astype(times.dtype) + offsets
    return times + (steps * spacing.seconds).astype("timedelta64[s]")


def extrapolate(times: np.ndarray, rows_ahead: np.ndarray) -> np.ndarray | None:
    """The times ``rows_ahead`` rows after the last one, or None when the index is not regular.

    Regular means every step is a whole number of spacings (gaps allowed), so
    that counting rows ahead is counting time.
    """
    spacing = detect_spacing(times)
    if spacing is None:
        return None
    if not spacing.months:
        seconds = np.diff(times).astype("timedelta64[s]").astype(np.int64)
        if (seconds % spacing.seconds).any():
            return None
    last = np.repeat(times[-1:], len(rows_ahead))
    return times_after(last, rows_ahead, spacing)


def check_fill(method: str) -> None:
    if method not in FILL_METHODS:
        raise UserError(
            f"--fill must be one of {', '.join(FILL_METHODS)}, got {method!r}"
            f"{closest(method, FILL_METHODS)}"
        )
