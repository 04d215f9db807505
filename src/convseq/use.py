"""``convseq predict | evaluate | export``: use a finished run folder from the command line.

Text runs label texts; forecasting runs forecast from a series. Results go
to stdout, or to ``--output``, written atomically; notes go to stderr, so
stdout stays a clean table. The modules that load torch are imported inside
the commands, so that ``convseq --help`` answers at once.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from convseq.atomic import write_text
from convseq.errors import UserError
from convseq.wording import plural


def add_use_commands(sub) -> None:
    predict = sub.add_parser(
        "predict",
        help="use a trained run: label texts, or forecast a series: convseq predict RUN_DIR INPUT",
        description="Text runs: one label and probability per input line (or per row of a "
        "table's text column). Forecasting runs: the forecast from the latest window of a "
        "series, or from every window with --all; a run trained with --horizon gives one row "
        "per step and target (and a column per --quantiles level).",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    predict.add_argument(
        "input",
        metavar="INPUT",
        help="text file, one text per line; '-' reads standard input; a .csv/.tsv/.jsonl/.json/"
        ".parquet table is read from its text column; for a forecasting run, a series table "
        "with the run's time column and columns; for a run that classifies cases, a file of "
        "cases (.ts, .tsv, UCR .txt, .csv)",
    )
    predict.add_argument("--all", action="store_true", help="forecasting: every window's forecast")
    predict.add_argument("--time-column", help="time column of a series (default: the run's)")
    predict.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    predict.add_argument("--output", metavar="FILE", help="write here (atomically), not to stdout")
    predict.add_argument("--text-column", help="text column of a table input (default: the run's)")
    predict.add_argument("--encoding", default="utf-8", help="encoding of INPUT (default: utf-8)")
    predict.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="texts (or windows) per forward pass (default: 256)",
    )
    evaluate = sub.add_parser(
        "evaluate",
        help="score a trained run on labelled data: convseq evaluate RUN_DIR DATA",
        description="Text runs: loss, accuracy, macro-F1 and the majority-class baseline on "
        "labelled texts. Forecasting runs: MAE (normalized and in units) of the model and of "
        "the common-sense baseline over every window of a series; with --horizon, MSE and MAE "
        "over every step and target, each target's MAE in its units and the quantiles' interval "
        "coverage.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    evaluate.add_argument(
        "data", metavar="DATA", help="labelled texts, a series table, or labelled cases"
    )
    evaluate.add_argument("--time-column", help="time column of a series (default: the run's)")
    evaluate.add_argument("--text-column", help="text column (default: the run's)")
    evaluate.add_argument("--label-column", help="label column (default: the run's)")
    evaluate.add_argument("--encoding", default="utf-8", help="encoding of DATA (default: utf-8)")
    evaluate.add_argument("--output", metavar="FILE", help="also write the scores as JSON here")
    export = sub.add_parser(
        "export",
        help="export a trained run: convseq export RUN_DIR --format onnx",
        description="ONNX model plus what is needed to use it (the tokenizer and labels, or the "
        "normalization statistics) and a signature.json describing its use.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="export format")
    export.add_argument("--out", metavar="DIR", help="export folder (default: RUN_DIR/export)")
    for command in (predict, evaluate):
        command.add_argument(
            "--device", default="cpu", help="where to compute: cpu, cuda, cuda:N, mps or auto"
        )
    for command in (predict, evaluate, export):
        command.add_argument(
            "--threads",
            type=int,
            default=1,
            help="torch CPU threads (default: 1, while a second thread encodes the next texts; "
            "0: torch's default)",
        )


def output_target(path: str | None, inputs: list[str]) -> Path | None:
    if path is None:
        return None
    target = Path(path)
    for given in inputs:
        if given != "-" and Path(given).exists() and Path(given).resolve() == target.resolve():
            raise UserError(f"--output {path} is an input file; pass another file to write to")
    if target.is_dir():
        raise UserError(f"--output {path} is a folder; pass a file name")
    return target


def emit(text: str, target: Path | None) -> None:
    if target is None:
        sys.stdout.write(text)
    else:
        write_text(target, text)


def refuse_options(args, kind: str, names: tuple[str, ...]) -> None:
    """Options that belong to the other kind of run are refused, not silently ignored."""
    for name in names:
        if getattr(args, name, None) not in (None, False):
            other = {"forecasting": "text", "text": "forecasting"}.get(kind, "text or forecasting")
            raise UserError(
                f"--{name.replace('_', '-')} is for {other} runs, and {args.run_dir} is a {kind} run"
            )


def table(rows: list[dict], columns: list[str], fmt: str) -> str:
    """Rows as CSV (empty cells for None) or JSON."""
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buffer.getvalue()


def cmd_predict(args) -> int:
    from convseq.data.text_files import read_texts
    from convseq.inference.cases import CaseClassifier
    from convseq.inference.load import load_run
    from convseq.inference.series import SeriesForecaster

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    target = output_target(args.output, [args.input, args.run_dir])
    predictor = load_run(args.run_dir, args.device)
    if isinstance(predictor, CaseClassifier):
        from convseq.use_classify import predict_cases

        refuse_options(args, "classify", ("all", "time_column", "text_column"))
        rows = predict_cases(args, predictor)
        emit(table(rows, ["case", "label", "probability"], args.format), target)
        return 0
    if isinstance(predictor, SeriesForecaster):
        refuse_options(args, "forecasting", ("text_column",))
        return predict_series(args, predictor, target)
    refuse_options(args, "text", ("all", "time_column"))
    texts = read_texts(args.input, args.text_column or predictor.text_column, args.encoding)
    present = [i for i, text in enumerate(texts) if text.strip()]
    if not present:
        raise UserError(f"{args.input} holds only empty lines; pass some texts")
    predictions = predictor.predict([texts[i] for i in present], batch_size=args.batch_size)
    rows: list[dict] = [{"label": None, "probability": None} for _ in texts]
    for i, prediction in zip(present, predictions, strict=True):
        rows[i] = {"label": prediction.label, "probability": round(prediction.probability, 6)}
    emit(table(rows, ["label", "probability"], args.format), target)
    skipped = len(texts) - len(present)
    if skipped:
        print(f"convseq: {plural(skipped, 'empty line')} got no prediction", file=sys.stderr)
    return 0


def _time(value) -> str | None:
    return None if value is None else value.isoformat(sep=" ")


def read_series_input(args, forecaster, path: str):
    if path == "-":
        raise UserError("a series is read from a file, not standard input; pass its path")
    given = forecaster.read(path, args.encoding, args.time_column)
    note = given.note()
    if note:
        print(f"convseq: {note}", file=sys.stderr)
    return given


def predict_series(args, forecaster, target: Path | None) -> int:
    given = read_series_input(args, forecaster, args.input)
    if args.all:
        forecasts = forecaster.predict_all(given, batch_size=args.batch_size)
    else:
        forecasts = [forecaster.predict(given, batch_size=args.batch_size)]
    if forecaster.steps:
        return predict_paths(args, forecaster, forecasts, target)
    rows = [
        {"window_end": _time(f.window_end), "time": _time(f.time), "forecast": round(f.value, 6)}
        for f in forecasts
    ]
    emit(table(rows, ["window_end", "time", "forecast"], args.format), target)
    if any(f.time is None for f in forecasts):
        untimed(f"each is {plural(forecaster.horizon, 'row')} after its window's last row")
    return 0


def untimed(how_far: str) -> None:
    """The note for forecasts past the end of an irregular time index, which have no time."""
    print(
        f"convseq: the time index is irregular, so forecasts past its end have no time; {how_far}",
        file=sys.stderr,
    )


def quantile_column(level: float) -> str:
    """``q0.1``: the column of a quantile level in ``convseq predict``'s output."""
    return f"q{level:g}"


def _plain(value):
    """numpy numbers as JSON numbers."""
    return value.item()


def _csv_cells(values) -> list:
    """A column's cells for CSV: empty for None, floats as Python writes them."""
    return ["" if v is None else v for v in values.tolist()]


def predict_paths(args, forecaster, paths, target: Path | None) -> int:
    """A ``--horizon`` run: one row per window, step and target (each step's targets in order),
    laid out as whole arrays: every window of a long series is millions of rows."""
    import numpy as np  # numpy is loaded by now; a local import keeps `convseq --help` light

    levels = forecaster.quantiles
    columns = ["window_end", "step", "time", "target", "forecast"]
    columns += [quantile_column(q) for q in levels]
    steps, names = forecaster.steps, list(paths[0].targets) if paths else []
    each = steps * len(names)  # rows per window
    cells = {
        "window_end": np.repeat([_time(p.window_end) for p in paths], each),
        "step": np.tile(np.repeat(np.arange(1, steps + 1), len(names)), len(paths)),
        "time": np.repeat([_time(w) for p in paths for w in p.times], len(names)),
        "target": np.tile(names, len(paths) * steps),
        "forecast": np.round([p.values for p in paths], 6).reshape(-1),
    }
    for q in levels:
        cells[quantile_column(q)] = np.round([p.quantiles[q] for p in paths], 6).reshape(-1)
    if args.format == "json":
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*cells.values(), strict=True)]
        text = json.dumps(rows, ensure_ascii=False, indent=1, default=_plain) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(zip(*(_csv_cells(cells[c]) for c in columns), strict=True))
        text = buffer.getvalue()
    emit(text, target)
    if any(when is None for path in paths for when in path.times):
        first, last = forecaster.rows_ahead[0], forecaster.rows_ahead[-1]
        untimed(
            f"steps 1..{forecaster.steps} are {first}..{last} rows after their window's last row"
        )
    return 0


def paths_summary(scores: dict) -> str:
    """What ``convseq evaluate`` prints for a ``--horizon`` run: the scores over every step and
    target beside the common-sense baseline's, then each target's MAE in its units."""
    mse, base = scores["mse"], scores["baseline_mse"]
    change = f", model {100 * (mse / base - 1):+.1f}% MSE" if base else ""
    line = (
        f"{scores['data']}: {plural(scores['windows'], 'window')} x "
        f"{plural(scores['horizon'], 'step')} x {plural(len(scores['targets']), 'target')}: "
        f"MSE {mse:.4f}, MAE {scores['mae']:.4f} | common-sense baseline: MSE {base:.4f}, "
        f"MAE {scores['baseline_mae']:.4f}{change}"
    )
    if scores["quantiles"]:
        low, high = scores["interval"]
        line += (
            f" | {100 * (high - low):.0f}% interval ({low:g}..{high:g}) coverage "
            f"{scores['coverage']:.3f}, mean width {scores['width']:.4f}"
        )
    units = f" {scores['units']}" if scores["units"] and len(scores["targets"]) == 1 else ""
    lines = [line, "MAE by target, in its units (common-sense baseline):"]
    for name, mae in scores["mae_by_target"].items():
        lines.append(f"  {name}: {mae:.4g}{units} ({scores['baseline_mae_by_target'][name]:.4g})")
    return "\n".join(lines)


def cmd_evaluate(args) -> int:
    from convseq.evaluation.classification import per_class_table
    from convseq.inference.cases import CaseClassifier
    from convseq.inference.load import load_run
    from convseq.inference.series import SeriesForecaster
    from convseq.pipelines.forecast import versus_baseline

    target = output_target(args.output, [args.data, args.run_dir])
    predictor = load_run(args.run_dir, args.device)
    if isinstance(predictor, CaseClassifier):
        from convseq.use_classify import evaluate_cases

        refuse_options(args, "classify", ("time_column", "text_column", "label_column"))
        scores = evaluate_cases(args, predictor)
    elif isinstance(predictor, SeriesForecaster):
        refuse_options(args, "forecasting", ("text_column", "label_column"))
        scores = predictor.evaluate(read_series_input(args, predictor, args.data))
        if predictor.steps:
            print(paths_summary(scores))
            return finish_evaluate(scores, target)
        label = f"{scores['data']}: {scores['windows']} windows, target {scores['target']!r}"
        scale = predictor.target_scale[0]
        print(versus_baseline(label, scores["mae"], scores["baseline_mae"], scale, scores["units"]))
    else:
        refuse_options(args, "text", ("time_column",))
        scores = predictor.evaluate(args.data, args.text_column, args.label_column, args.encoding)
        for note in scores.pop("notes"):
            print(note)
        print(
            f"{args.data}: {scores['texts']} texts: loss {scores['loss']:.4f}, acc "
            f"{scores['acc']:.4f}, macro-F1 {scores['macro_f1']:.4f} | majority-class baseline "
            f"({scores['baseline_class']!r}): acc {scores['baseline_acc']:.4f}, macro-F1 "
            f"{scores['baseline_macro_f1']:.4f}"
        )
        print(per_class_table(scores["per_class"]))
    return finish_evaluate(scores, target)


def finish_evaluate(scores: dict, target: Path | None) -> int:
    if target is not None:
        emit(json.dumps(scores, indent=2) + "\n", target)
    return 0


def cmd_export(args) -> int:
    from convseq.inference.load import load_run

    predictor = load_run(args.run_dir)
    out = predictor.export_onnx(args.out)
    files = ", ".join(sorted(p.name for p in out.iterdir()))
    print(f"exported {predictor.model_name} to {out}: {files}")
    return 0


USE_COMMANDS = {"predict": cmd_predict, "evaluate": cmd_evaluate, "export": cmd_export}
