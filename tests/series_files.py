"""Small series files written in the exact layouts of the Jena and ETTh1 downloads."""

from __future__ import annotations

import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

JENA_COLUMNS = [
    "p (mbar)",
    "T (degC)",
    "Tpot (K)",
    "Tdew (degC)",
    "rh (%)",
    "VPmax (mbar)",
    "VPact (mbar)",
    "VPdef (mbar)",
    "sh (g/kg)",
    "H2OC (mmol/mol)",
    "rho (g/m**3)",
    "wv (m/s)",
    "max. wv (m/s)",
    "wd (deg)",
]
ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def smooth_values(rows: int, columns: int, period: int, seed: int = 0) -> np.ndarray:
    """Daily-cycle sines plus noise, rounded to two decimals as in the real files."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    phase = rng.uniform(0, 2 * np.pi, columns)
    level = rng.uniform(-5, 50, columns)
    values = (
        level + 5 * np.sin(2 * np.pi * t / period + phase) + rng.normal(0, 0.5, (rows, columns))
    )
    return np.round(values, 2)


def jena_text(rows: int, seed: int = 0) -> tuple[str, np.ndarray, list[datetime]]:
    """CSV text as in jena_climate_2009_2016.csv: quoted header, dd.mm.yyyy times."""
    values = smooth_values(rows, len(JENA_COLUMNS), period=144, seed=seed)
    start = datetime(2009, 1, 1, 0, 10)
    times = [start + timedelta(minutes=10 * k) for k in range(rows)]
    header = ",".join(f'"{c}"' for c in ["Date Time", *JENA_COLUMNS])
    lines = [header] + [
        t.strftime("%d.%m.%Y %H:%M:%S") + "," + ",".join(f"{v:.2f}" for v in row)
        for t, row in zip(times, values, strict=True)
    ]
    return "\n".join(lines) + "\n", values, times


def write_jena(folder: Path, rows: int = 600, zipped: bool = True, seed: int = 0) -> np.ndarray:
    """The Keras zip (with a macOS resource entry, as zips made on a Mac have) or the bare CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    text, values, _ = jena_text(rows, seed)
    if zipped:
        with zipfile.ZipFile(folder / "jena_climate_2009_2016.csv.zip", "w") as archive:
            archive.writestr("jena_climate_2009_2016.csv", text)
            archive.writestr("__MACOSX/._jena_climate_2009_2016.csv", b"\x00\x05junk")
    else:
        (folder / "jena_climate_2009_2016.csv").write_text(text)
    return values


def ett_lines(rows: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    values = smooth_values(rows, len(ETT_COLUMNS), period=24, seed=seed)
    start = datetime(2016, 7, 1)
    lines = ["date," + ",".join(ETT_COLUMNS)] + [
        (start + timedelta(hours=k)).strftime("%Y-%m-%d %H:%M:%S")
        + ","
        + ",".join(repr(float(v)) for v in row)
        for k, row in enumerate(values)
    ]
    return lines, values


def write_ett(folder: Path, rows: int = 600, seed: int = 0, lines: list[str] | None = None):
    """ETTh1.csv in the ETDataset layout, or the given (possibly broken) lines."""
    folder.mkdir(parents=True, exist_ok=True)
    if lines is None:
        lines, _ = ett_lines(rows, seed)
    (folder / "ETTh1.csv").write_text("\n".join(lines) + "\n")
    return folder / "ETTh1.csv"
