"""Input columns derived from a series: calendar phases and wind vectors.

A convnet that reads numbers cannot tell 23:00 from 01:00 or the first from
the last day of the year, unless the time is given to it as a column. Time of
day and day of year are cycles, so each becomes a sine and a cosine: midnight
and the following midnight are the same point, and the distance between two
times is the same on either side of the wrap.

A wind direction in degrees has the same wrap (359 and 1 are neighbours), and
it means nothing without the speed. The speed and direction together become
the wind vector's x and y components, as in the TensorFlow time-series
tutorial. The Jena record marks failed speed readings as -9999 m/s; a negative
speed is clipped to 0 (calm) before the vector is formed.

``derive`` applies what the settings ask for and returns the new series with
a record of what it did, saved in ``normalization.json`` so that prediction
can rebuild the same inputs from a raw file.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from convseq.data.series import Series
from convseq.errors import UserError
from convseq.wording import plural

CALENDAR_COLUMNS = ("day sin", "day cos", "year sin", "year cos")
SECONDS_PER_DAY = 86_400


def calendar_features(times: np.ndarray) -> np.ndarray:
    """``(rows, 4)``: sine and cosine of the time of day and of the time of year.

    The day phase is the time since midnight over 24 h; the year phase is the
    time since 1 January 00:00 over the length of that year (365 or 366 days),
    so every year starts at phase 0 whatever its length.
    """
    seconds = np.asarray(times, dtype="datetime64[s]")
    days = seconds.astype("datetime64[D]")
    day_phase = (seconds - days).astype(np.int64) / SECONDS_PER_DAY
    year_start = seconds.astype("datetime64[Y]")
    year_end = year_start + np.timedelta64(1, "Y")
    year_seconds = (year_end.astype("datetime64[s]") - year_start.astype("datetime64[s]")).astype(
        np.int64
    )
    year_phase = (seconds - year_start.astype("datetime64[s]")).astype(np.int64) / year_seconds
    angles = 2 * np.pi * np.stack([day_phase, year_phase], axis=1)
    return np.stack(
        [np.sin(angles[:, 0]), np.cos(angles[:, 0]), np.sin(angles[:, 1]), np.cos(angles[:, 1])],
        axis=1,
    )


def wind_vectors(speeds: np.ndarray, degrees: np.ndarray) -> tuple[np.ndarray, int]:
    """``(rows, 2 * speeds)``: x and y of each speed column along the direction.

    ``speeds`` is ``(rows, n)``; negative speeds (the -9999 error marks) count
    as 0. The direction is where the wind comes from in degrees, as measured;
    the components keep that convention (x = speed * cos, y = speed * sin).
    Returns the components and how many speeds were clipped.
    """
    clipped = int((speeds < 0).sum())
    speeds = np.maximum(speeds, 0.0)
    radians = np.deg2rad(degrees)[:, None]
    pairs = np.stack([speeds * np.cos(radians), speeds * np.sin(radians)], axis=2)
    return pairs.reshape(len(speeds), -1), clipped


def wind_column_names(speeds: list[str]) -> list[str]:
    names = []
    for speed in speeds:
        base, unit = (speed.rsplit(" (", 1) + [""])[:2]
        suffix = f" ({unit}" if unit else ""
        names += [f"{base} x{suffix}", f"{base} y{suffix}"]
    return names


def derive(
    series: Series, calendar: bool = False, wind: list[str] | None = None, target: str = ""
) -> tuple[Series, dict]:
    """The series with the derived columns asked for, and a record of them.

    With ``wind`` (speed columns, then the direction column) those columns are
    replaced by the vector components; with ``calendar`` the four calendar
    columns are added at the end. The record is ``{"calendar": [...], "wind":
    {...} or None}``.
    """
    columns, values = list(series.columns), series.values
    record: dict = {"calendar": [], "wind": None}
    if wind:
        speeds, direction = list(wind[:-1]), wind[-1]
        for name in (*speeds, direction):
            series.index_of(name, "wind columns (--wind-columns)")
        if target in (*speeds, direction):
            raise UserError(
                f"the target {target!r} is one of the wind columns; forecast it "
                "without --wind-vector, or pick another target"
            )
        components, clipped = wind_vectors(
            values[:, [columns.index(s) for s in speeds]], values[:, columns.index(direction)]
        )
        keep = [j for j, c in enumerate(columns) if c not in (*speeds, direction)]
        names = wind_column_names(speeds)
        columns = [columns[j] for j in keep] + names
        values = np.concatenate([values[:, keep], components], axis=1)
        record["wind"] = {
            "speeds": speeds,
            "direction": direction,
            "columns": names,
            "clipped": clipped,
        }
        if clipped:
            print(f"wind: {plural(clipped, 'negative speed reading')} clipped to 0")
    if calendar:
        clash = [c for c in CALENDAR_COLUMNS if c in columns]
        if clash:
            raise UserError(
                f"{series.source} already has a column {clash[0]!r}; rename it or drop --calendar"
            )
        columns += list(CALENDAR_COLUMNS)
        values = np.concatenate([values, calendar_features(series.times)], axis=1)
        record["calendar"] = list(CALENDAR_COLUMNS)
    return replace(series, values=values, columns=columns), record


def source_columns(columns: list[str], record: dict | None) -> list[str]:
    """The columns a raw file needs so that ``rederive`` can rebuild ``columns``.

    ``record`` is the one ``derive`` returned (saved in ``normalization.json``);
    None, or an empty record, means every column is read as it is.
    """
    record = record or {}
    wind = record.get("wind")
    made = {*record.get("calendar", ()), *(wind["columns"] if wind else ())}
    raw = [c for c in columns if c not in made]
    if wind:
        raw += [c for c in (*wind["speeds"], wind["direction"]) if c not in raw]
    return raw


def rederive(series: Series, record: dict | None, columns: list[str]) -> Series:
    """``series`` (raw columns) with the derived columns of ``record``, ordered as ``columns``."""
    record = record or {}
    wind = record.get("wind")
    columns_in = [*wind["speeds"], wind["direction"]] if wind else None
    series, _ = derive(series, bool(record.get("calendar")), columns_in)
    order = [series.columns.index(c) for c in columns]
    return replace(series, values=series.values[:, order], columns=list(columns))
