"""The time index of a series: its typical spacing, the gaps in it, filling them, and times ahead.

Windows count rows, not time: a missing hour in an hourly file stretches every
window that spans it. Gaps are found and reported, and filled (pandas
``ffill`` or a straight line) only when ``--fill`` says so. The spacing is a
fixed duration (the median step) or a number of calendar months, when every
time falls on the same day and hour of its month (monthly, quarterly, yearly).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from convseq.errors import UserError
from convseq.wording import iso


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

    def offset(self, steps: int) -> pd.DateOffset | pd.Timedelta:
        if self.months:
            return pd.DateOffset(months=steps * self.months)
        return pd.Timedelta(seconds=steps * self.seconds)


@dataclass(frozen=True)
class GapReport:
    """Where rows are missing: ``missing_after[i]`` rows after row ``i``."""

    spacing: Spacing | None
    missing_after: np.ndarray  # int, one count per row
    times: np.ndarray

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.missing_after))

    @property
    def missing_rows(self) -> int:
        return int(self.missing_after.sum())

    def first(self) -> tuple[str, str, int] | None:
        where = np.flatnonzero(self.missing_after)
        if not where.size:
            return None
        i = int(where[0])
        return iso(self.times[i]), iso(self.times[i + 1]), int(self.missing_after[i])

    def describe(self, source: str) -> str:
        first = self.first()
        if first is None:
            return f"{source}: no gaps in the time index"
        before, after, missing = first
        return (
            f"{source}: {self.count} gap{'s'[: self.count != 1]} in the time index, "
            f"{self.missing_rows} row{'s'[: self.missing_rows != 1]} missing (typical spacing "
            f"{self.spacing.describe()}; first gap: {before} -> {after}, {missing} "
            f"row{'s'[: missing != 1]} missing)"
        )

    def to_dict(self) -> dict:
        return {
            "spacing": self.spacing.describe() if self.spacing else None,
            "gaps": self.count,
            "missing_rows": self.missing_rows,
            "first_gap": list(self.first()) if self.first() else None,
        }


def detect_spacing(times: np.ndarray) -> Spacing | None:
    """The series' regular step (from its forward steps), or None with fewer than two rows."""
    if len(times) < 2:
        return None
    stamps = pd.DatetimeIndex(times)
    months = stamps.year * 12 + stamps.month
    offsets = stamps - stamps.to_period("M").to_timestamp()
    month_steps = np.diff(months)
    if (offsets == offsets[0]).all() and (month_steps > 0).all():
        return Spacing(months=int(month_steps.min()))
    seconds = np.diff(times).astype("timedelta64[s]").astype(np.int64)
    forward = seconds[seconds > 0]
    return Spacing(seconds=max(int(np.median(forward)), 1)) if forward.size else None


def steps_between(start: np.ndarray, end: np.ndarray, spacing: Spacing) -> np.ndarray:
    """How many spacings lie from each ``start`` to its ``end`` (1 = no row missing)."""
    if spacing.months:
        first, last = pd.DatetimeIndex(start), pd.DatetimeIndex(end)
        months = (last.year - first.year) * 12 + (last.month - first.month)
        return np.asarray(months) // spacing.months
    seconds = (end - start).astype("timedelta64[s]").astype(np.int64)
    return np.rint(seconds / spacing.seconds).astype(np.int64)


def find_gaps(times: np.ndarray) -> GapReport:
    """Rows missing after each row: from the latest time so far to the next row's.

    Steps back and repeats are not gaps, and the rows after a step back (a
    repeated day, say) are measured from the latest time seen, not from the
    earlier one they went back to.
    """
    spacing = detect_spacing(times)
    missing = np.zeros(len(times), dtype=np.int64)
    if spacing is not None:
        latest = np.maximum.accumulate(times)
        missing[:-1] = np.maximum(steps_between(latest[:-1], times[1:], spacing) - 1, 0)
    return GapReport(spacing, missing, times)


def fill_gaps(series, report: GapReport, method: str):
    """``series`` with the missing rows inserted on the regular grid, valued by ``method``.

    ``ffill`` repeats the last observed row; ``interpolate`` draws a straight
    line, column by column, across the gap.
    """
    if method == "none" or report.missing_rows == 0:
        return series
    if not series.increasing:
        raise UserError(
            f"{series.source}: --fill {method} needs times that only go forward; pass "
            "--time-order drop-repeats or sort, or --fill none"
        )
    frame = pd.DataFrame(series.values, index=pd.DatetimeIndex(series.times))
    inserted = [
        pd.Timestamp(series.times[i]) + report.spacing.offset(k)
        for i in np.flatnonzero(report.missing_after)
        for k in range(1, int(report.missing_after[i]) + 1)
    ]
    grid = frame.index.append(pd.DatetimeIndex(inserted)).sort_values()
    frame = frame.reindex(grid)
    frame = frame.ffill() if method == "ffill" else frame.interpolate(method="linear")
    times = frame.index.to_numpy().astype("datetime64[s]")
    return replace(series, times=times, values=frame.to_numpy(dtype=np.float64))


def extrapolate(times: np.ndarray, rows_ahead: np.ndarray) -> np.ndarray | None:
    """The times ``rows_ahead`` rows after the last one, or None when the index is not regular.

    Regular means every step is a whole, positive number of spacings (gaps
    allowed), so that counting rows ahead is counting time.
    """
    spacing = detect_spacing(times)
    if spacing is None:
        return None
    steps = np.diff(times).astype("timedelta64[s]").astype(np.int64)
    if (steps <= 0).any() or (not spacing.months and (steps % spacing.seconds).any()):
        return None
    last = pd.Timestamp(times[-1])
    ahead = [last + spacing.offset(int(k)) for k in rows_ahead]
    return pd.DatetimeIndex(ahead).to_numpy().astype("datetime64[s]")
