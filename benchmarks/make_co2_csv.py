"""A public time series that a PyPI package ships: Mauna Loa weekly CO2, from statsmodels.

    pip download statsmodels==0.15.0 --no-deps -d /tmp/wheels
    python benchmarks/make_co2_csv.py /tmp/wheels/statsmodels-0.15.0-*.whl data/

The wheel holds ``statsmodels/datasets/co2/co2.csv``: weekly mean CO2 (ppm) at
Mauna Loa, 1958-03-29 to 2001-12-29 (Keeling and Whorf; public domain), 2,284
weeks of which 59 have no value. This writes ``co2_weekly.csv`` (columns
``date`` in ISO 8601 and ``co2``) with those weeks left out, as a sensor log
with missing readings would be: the file has real gaps in its time index,
which ``convseq train forecast --fill interpolate`` fills.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

MEMBER = "statsmodels/datasets/co2/co2.csv"


def main(wheel: str, out_dir: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(MEMBER).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    kept = [r for r in rows if r["co2"].strip()]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "co2_weekly.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "co2"])
        for r in kept:
            day = r["date"]
            writer.writerow([f"{day[:4]}-{day[4:6]}-{day[6:8]}", r["co2"]])
    print(
        f"co2_weekly.csv: {len(kept)} weeks written, {len(rows) - len(kept)} without a value left out"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
