"""``convseq train KIND DATA [options]``: train on your own data into a run folder."""

from __future__ import annotations

from pathlib import Path

from convseq.errors import UserError, closest

KINDS = ("text", "forecast")
USAGE = (
    "usage: convseq train text DATA [options] | convseq train forecast DATA.csv --time-column T "
    "--target COL [options]; 'convseq train KIND --help' lists the options"
)


def absolute(path: str) -> str:
    """Data paths are recorded absolute, so a run resumes from any working folder."""
    return str(Path(path).resolve()) if path and path != "-" else path


def cmd_train(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not argv:
        raise UserError(
            "convseq train needs a kind: 'convseq train text DATA ...' or "
            "'convseq train forecast DATA.csv ...'; see --help"
        )
    kind, rest = argv[0], argv[1:]
    if kind not in KINDS:
        raise UserError(
            f"unknown kind {kind!r}{closest(kind, KINDS)}; use 'convseq train text DATA ...' "
            "or 'convseq train forecast DATA.csv ...'"
        )
    if kind == "forecast":
        from convseq.workflows.train_forecast import TRAIN_FORECAST

        return train_command(
            rest,
            TRAIN_FORECAST,
            "Train a forecaster on a CSV time series: a timestamp column plus numeric columns.",
            data_help="CSV time series: a timestamp column plus numeric columns",
            paths=("data",),
        )
    from convseq.workflows.train_text import TRAIN_TEXT

    return train_command(
        rest,
        TRAIN_TEXT,
        "Train a text classifier on a labelled CSV, TSV, JSONL/JSON file "
        "or a folder with one sub-folder of .txt files per class.",
        data_help="labelled texts (file or folder)",
        paths=("data", "val", "test"),
    )


def train_command(
    argv: list[str], experiment, description: str, data_help: str, paths: tuple[str, ...]
) -> int:
    """Parse ``DATA [options]`` from the experiment's defaults and run it into a run folder."""
    from convseq.cli.main import OneLineParser, add_settings
    from convseq.cli.run import run_in_folder

    kind = experiment.name.removeprefix("train-")
    parser = OneLineParser(prog=f"convseq train {kind}", description=description)
    parser.add_argument("data", nargs="?", metavar="DATA", help=data_help)
    add_settings(parser, experiment, skip=("data",))
    parser.add_argument("--out", help=f"run folder (default: runs/{experiment.name}/TIMESTAMP)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint"
    )
    args = vars(parser.parse_args(argv))
    out, resume = args.pop("out"), args.pop("resume")
    settings = {key: args[key] for key in experiment.defaults if key != "data"}
    settings["data"] = args["data"] or ""
    if not resume and not settings["data"]:
        raise UserError(f"convseq train {kind} needs DATA ({data_help}); see --help")
    for key in paths:
        settings[key] = absolute(settings[key])
    run_in_folder(experiment, settings, out=out, resume=resume)
    return 0
