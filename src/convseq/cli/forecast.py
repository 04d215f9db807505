"""``convseq predict`` and ``convseq evaluate`` for forecasting runs.

``cli/use.py`` parses the options and sends forecasting runs here. Forecasts
go to stdout (or ``--output``, written atomically) as CSV or JSON; notes about
gaps in the input go to stderr, so that stdout stays a clean table.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from pathlib import Path

from convseq.errors import UserError


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(sep=" ")


def forecast_rows(forecasts) -> list[dict]:
    return [
        {"window_end": _time(f.window_end), "time": _time(f.time), "forecast": round(f.value, 6)}
        for f in forecasts
    ]


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["window_end", "time", "forecast"])
    for row in rows:
        writer.writerow([row["window_end"], row["time"] or "", f"{row['forecast']:.6f}"])
    return buffer.getvalue()


def read_input(args, forecaster, path: str):
    if path == "-":
        raise UserError("a series is read from a CSV file, not standard input; pass its path")
    given = forecaster.read(path, args.encoding, args.time_column)
    note = given.note()
    if note:
        print(f"convseq: {note}", file=sys.stderr)
    return given


def predict_series(args, forecaster, target: Path | None) -> int:
    from convseq.cli.use import emit

    given = read_input(args, forecaster, args.input)
    if args.all:
        forecasts = forecaster.predict_all(given, batch_size=args.batch_size)
    else:
        forecasts = [forecaster.predict(given, batch_size=args.batch_size)]
    emit(render(forecast_rows(forecasts), args.format), target)
    if any(f.time is None for f in forecasts):
        print(
            "convseq: the time index is irregular, so forecasts past its end have no time; "
            f"each is {forecaster.horizon} rows after its window's last row",
            file=sys.stderr,
        )
    return 0


def evaluate_series(args, forecaster, target: Path | None) -> int:
    from convseq.cli.use import emit
    from convseq.workflows.train_forecast import versus_baseline

    given = read_input(args, forecaster, args.data)
    scores = forecaster.evaluate(given)
    scale = forecaster.target_scale[0]
    label = f"{scores['data']}: {scores['windows']} windows, target {scores['target']!r}"
    print(versus_baseline(label, scores["mae"], scores["baseline_mae"], scale, scores["units"]))
    if target is not None:
        emit(json.dumps(scores, indent=2) + "\n", target)
    return 0
