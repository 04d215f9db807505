"""Files in the real Jena format, with the real file's defects, in each of its real forms.

The Keras copy of the Jena record (``jena_climate_2009_2016.csv``) has a
quoted header, ``dd.mm.yyyy HH:MM:SS`` times and two-decimal values; it
repeats a whole day after the next day's first row (144 identical rows, so
time steps back once), skips records, and marks failed wind readings -9999.
The writer below puts each of those into a small file.
"""

from __future__ import annotations

import gzip
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from tests.series_files import JENA_COLUMNS, smooth_values

DAY = 144  # ten-minute rows per day
START = datetime(2009, 1, 1, 0, 10)


def real_jena_rows(days: int = 8, repeated_day: int = 4, gap_at: int = 300, gap: int = 2,
                   sentinel_at: int = 500, seed: int = 0) -> tuple[list[str], dict]:  # fmt: skip
    """The file's lines and where its defects are (data rows, counting from 0).

    Day ``repeated_day`` (its 144 rows, 00:10 to the next 00:00) appears again
    right after the next day's first row; ``gap`` records are missing after
    data row ``gap_at``; ``wv (m/s)`` is -9999 at row ``sentinel_at``.
    """
    values = smooth_values(days * DAY, len(JENA_COLUMNS), period=DAY, seed=seed)
    values[:, JENA_COLUMNS.index("wd (deg)")] = np.mod(values[:, -1] * 7, 360).round(2)
    times = [START + timedelta(minutes=10 * k) for k in range(days * DAY)]
    order = list(range(days * DAY))
    order = [k for k in order if not gap_at < k <= gap_at + gap]  # records never written
    first = repeated_day * DAY  # the row at 00:10 of day D
    after_next_midnight = order.index(first + DAY - 1) + 1  # just after day D+1's 00:00 row
    order[after_next_midnight:after_next_midnight] = list(range(first, first + DAY))
    wind = JENA_COLUMNS.index("wv (m/s)")
    values[order[sentinel_at], wind] = -9999.0
    header = ",".join(f'"{c}"' for c in ["Date Time", *JENA_COLUMNS])
    lines = [header] + [
        times[k].strftime("%d.%m.%Y %H:%M:%S") + "," + ",".join(f"{v:.2f}" for v in values[k])
        for k in order
    ]
    where = {
        "rows": len(order),
        "step_back_line": after_next_midnight + 2,  # file line: header is line 1
        "repeated": DAY,
        "gap_rows": gap,
        "sentinels": 1,
    }
    return lines, where


def write_real_jena(folder: Path, form: str = "csv", **options) -> dict:
    """``jena_climate_2009_2016.csv`` (or ``.csv.gz``, ``.csv.zip``) in ``folder``; its defects."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, where = real_jena_rows(**options)
    text = "\n".join(lines) + "\n"
    name = "jena_climate_2009_2016.csv"
    if form == "csv":
        (folder / name).write_text(text)
    elif form == "csv.gz":
        (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
    else:  # the Keras download: the CSV plus a macOS resource entry
        with zipfile.ZipFile(folder / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, text)
            archive.writestr(f"__MACOSX/._{name}", b"\x00\x05\x16\x07junk")
    return where
