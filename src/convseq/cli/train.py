"""``convseq train KIND DATA [options]``: train on your own data into a run folder."""

from __future__ import annotations

from pathlib import Path

from convseq.errors import UserError, closest

KINDS = ("text",)


def absolute(path: str) -> str:
    """Data paths are recorded absolute, so a run resumes from any working folder."""
    return str(Path(path).resolve()) if path and path != "-" else path


def cmd_train(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(
            "usage: convseq train text DATA [options]; 'convseq train text --help' lists the options"
        )
        return 0
    if not argv:
        raise UserError("convseq train needs a kind: 'convseq train text DATA ...'; see --help")
    kind, rest = argv[0], argv[1:]
    if kind not in KINDS:
        raise UserError(
            f"unknown kind {kind!r}{closest(kind, KINDS)}; use 'convseq train text DATA ...'"
        )
    return train_text_command(rest)


def train_text_command(argv: list[str]) -> int:
    from convseq.cli.main import OneLineParser, add_settings
    from convseq.cli.run import run_in_folder
    from convseq.workflows.train_text import TRAIN_TEXT

    parser = OneLineParser(
        prog="convseq train text",
        description="Train a text classifier on a labelled CSV, TSV, JSONL/JSON file "
        "or a folder with one sub-folder of .txt files per class.",
    )
    parser.add_argument("data", nargs="?", metavar="DATA", help="labelled texts (file or folder)")
    add_settings(parser, TRAIN_TEXT, skip=("data",))
    parser.add_argument("--out", help="run folder (default: runs/train-text/TIMESTAMP)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint"
    )
    args = vars(parser.parse_args(argv))
    out, resume = args.pop("out"), args.pop("resume")
    settings = {key: args[key] for key in TRAIN_TEXT.defaults if key != "data"}
    settings["data"] = args["data"] or ""
    if not resume and not settings["data"]:
        raise UserError("convseq train text needs a DATA file or folder; see --help")
    for key in ("data", "val", "test"):
        settings[key] = absolute(settings[key])
    run_in_folder(TRAIN_TEXT, settings, out=out, resume=resume)
    return 0
