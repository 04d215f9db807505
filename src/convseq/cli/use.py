"""``convseq predict | evaluate | export``: use a finished run folder."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from convseq.errors import UserError


def add_use_commands(sub) -> None:
    predict = sub.add_parser(
        "predict",
        help="use a trained run: label texts, or forecast a series: convseq predict RUN_DIR INPUT",
        description="Text runs: one label and probability per input line (or per row of a "
        "table's text column). Forecasting runs: the forecast from the latest window of a CSV "
        "series, or from every window with --all.",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    predict.add_argument(
        "input",
        metavar="INPUT",
        help="text file, one text per line; '-' reads standard input; "
        "a .csv/.tsv/.jsonl/.json file is read from its text column; "
        "for a forecasting run, a CSV series with the run's time column and columns",
    )
    predict.add_argument(
        "--all",
        action="store_true",
        help="forecasting runs: one forecast per window, not just the latest",
    )
    predict.add_argument("--time-column", help="time column of a series (default: the run's)")
    predict.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    predict.add_argument(
        "--output", metavar="FILE", help="write here (atomically) instead of stdout"
    )
    predict.add_argument("--text-column", help="text column of a table input (default: the run's)")
    predict.add_argument("--encoding", default="utf-8", help="encoding of INPUT (default: utf-8)")
    predict.add_argument(
        "--batch-size", type=int, default=256, help="texts (or series windows) per forward pass"
    )

    evaluate = sub.add_parser(
        "evaluate",
        help="score a trained run on a labelled file: convseq evaluate RUN_DIR DATA",
        description="Text runs: loss, accuracy, macro-F1 and the majority-class baseline on "
        "labelled texts. Forecasting runs: MAE (normalized and in units) of the model and of "
        "the common-sense baseline over every window of a CSV series.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    evaluate.add_argument(
        "data",
        metavar="DATA",
        help="labelled texts: a table or a folder per class; or a CSV series for a forecasting run",
    )
    evaluate.add_argument("--time-column", help="time column of a series (default: the run's)")
    evaluate.add_argument("--text-column", help="text column (default: the run's, else 'text')")
    evaluate.add_argument("--label-column", help="label column (default: the run's, else 'label')")
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
        from convseq.atomic import write_text

        write_text(target, text)


def is_forecaster(predictor) -> bool:
    from convseq.inference.series import SeriesForecaster

    return isinstance(predictor, SeriesForecaster)


def refuse_options(args, kind: str, names: tuple[str, ...]) -> None:
    """Options that belong to the other kind of run are refused, not silently ignored."""
    for name in names:
        value = getattr(args, name, None)
        if value not in (None, False):
            flag = "--" + name.replace("_", "-")
            other = "text" if kind == "forecasting" else "forecasting"
            raise UserError(f"{flag} is for {other} runs, and {args.run_dir} is a {kind} run")


def cmd_predict(args) -> int:
    from convseq.data.text_files import read_texts
    from convseq.inference.load import load_run

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    target = output_target(args.output, [args.input, args.run_dir])
    classifier = load_run(args.run_dir)
    if is_forecaster(classifier):
        from convseq.cli.forecast import predict_series

        refuse_options(args, "forecasting", ("text_column",))
        return predict_series(args, classifier, target)
    refuse_options(args, "text", ("all", "time_column"))
    texts = read_texts(args.input, args.text_column or classifier.text_column, args.encoding)
    present = [i for i, text in enumerate(texts) if text.strip()]
    if not present:
        raise UserError(f"{args.input} holds only empty lines; pass some texts")
    predictions = classifier.predict([texts[i] for i in present], batch_size=args.batch_size)
    rows: list[dict] = [{"label": None, "probability": None} for _ in texts]
    for i, prediction in zip(present, predictions, strict=True):
        rows[i] = {"label": prediction.label, "probability": round(prediction.probability, 6)}
    if args.format == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["label", "probability"])
        for row in rows:
            probability = "" if row["probability"] is None else f"{row['probability']:.6f}"
            writer.writerow([row["label"] or "", probability])
        text = buffer.getvalue()
    emit(text, target)
    skipped = len(texts) - len(present)
    if skipped:
        print(f"convseq: {skipped} empty lines have no prediction", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from convseq.inference.load import load_run

    target = output_target(args.output, [args.data, args.run_dir])
    classifier = load_run(args.run_dir)
    if is_forecaster(classifier):
        from convseq.cli.forecast import evaluate_series

        refuse_options(args, "forecasting", ("text_column", "label_column"))
        return evaluate_series(args, classifier, target)
    refuse_options(args, "text", ("time_column",))
    scores = classifier.evaluate(args.data, args.text_column, args.label_column, args.encoding)
    for note in scores.pop("notes"):
        print(note)
    print(
        f"{args.data}: {scores['texts']} texts: loss {scores['loss']:.4f}, acc {scores['acc']:.4f}, "
        f"macro-F1 {scores['macro_f1']:.4f} | majority-class baseline ({scores['baseline_class']!r}): "
        f"acc {scores['baseline_acc']:.4f}, macro-F1 {scores['baseline_macro_f1']:.4f}"
    )
    width = max(len(label) for label in scores["per_class"]) + 2
    print(f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for label, s in scores["per_class"].items():
        print(
            f"{label:<{width}}{s['precision']:>10.4f}{s['recall']:>10.4f}{s['f1']:>10.4f}"
            f"{s['support']:>10}"
        )
    if target is not None:
        emit(json.dumps(scores, indent=2) + "\n", target)
    return 0


def cmd_export(args) -> int:
    from convseq.inference.load import load_run

    classifier = load_run(args.run_dir)
    out = classifier.export_onnx(args.out)
    print(
        f"exported {classifier.model_name} to {out}: "
        + ", ".join(sorted(p.name for p in out.iterdir()))
    )
    return 0


USE_COMMANDS = {"predict": cmd_predict, "evaluate": cmd_evaluate, "export": cmd_export}
