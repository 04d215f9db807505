"""Entry point: ``convseq list | run NAME | train text DATA | predict | evaluate | export | compare``.

User mistakes (``UserError``) and argparse errors become one line on stderr
with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import sys

from convseq import __version__
from convseq.cli.use import USE_COMMANDS, add_use_commands
from convseq.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are a single line naming the fix."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def add_settings(parser: argparse.ArgumentParser, experiment, skip=()) -> None:
    """One option per default setting, typed by the default's type."""
    for key, default in experiment.defaults.items():
        if key in skip:
            continue
        flag = "--" + key.replace("_", "-")
        kind = type(default)
        if kind is bool:
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=experiment.help_for(key),
            )
        else:
            parser.add_argument(
                flag,
                type=kind,
                default=default,
                metavar=kind.__name__.upper(),
                help=f"{experiment.help_for(key)} (default: {default})",
            )


def cmd_list(args) -> int:
    from convseq.experiments import list_experiments

    experiments = list_experiments()
    width = max(len(e.name) for e in experiments) + 2
    for e in experiments:
        print(f"{e.name:<{width}}{e.description}")
    return 0


def cmd_run(argv: list[str]) -> int:
    from convseq.cli.run import run_experiment
    from convseq.experiments import get_experiment

    if not argv or argv[0].startswith("-"):
        if argv and argv[0] in ("-h", "--help"):
            print(
                "usage: convseq run NAME [options]; 'convseq list' shows the names, "
                "'convseq run NAME --help' the options"
            )
            return 0
        raise UserError("convseq run needs an experiment name; run 'convseq list' to see them")
    experiment = get_experiment(argv[0])
    parser = OneLineParser(
        prog=f"convseq run {experiment.name}", description=experiment.description
    )
    add_settings(parser, experiment)
    parser.add_argument("--out", help="run folder (default: runs/NAME/TIMESTAMP)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint"
    )
    args = vars(parser.parse_args(argv[1:]))
    out, resume = args.pop("out"), args.pop("resume")
    settings = {key: args[key] for key in experiment.defaults}
    run_experiment(experiment.name, settings, out=out, resume=resume)
    return 0


def cmd_compare(args) -> int:
    from convseq.evaluation.compare import compare

    compare(args.dataset, args.runs, args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="convseq", description="Sequence processing with 1D convnets.")
    parser.add_argument("--version", action="version", version=f"convseq {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    sub.add_parser("list", help="list the experiments")
    sub.add_parser("run", help="run an experiment: convseq run NAME [options]", add_help=False)
    sub.add_parser("train", help="train on your own data: convseq train text DATA", add_help=False)
    add_use_commands(sub)
    compare = sub.add_parser("compare", help="compare the finished runs of a dataset")
    compare.add_argument("dataset", help="imdb, jena or etth1")
    compare.add_argument(
        "--runs", default="runs", help="folder holding the run folders (default: runs)"
    )
    compare.add_argument(
        "--output", help="Markdown file to write (default: RUNS/compare-DATASET.md)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "run":
            return cmd_run(argv[1:])
        if argv and argv[0] == "train":
            from convseq.cli.train import cmd_train

            return cmd_train(argv[1:])
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command in USE_COMMANDS:
            return USE_COMMANDS[args.command](args)
        build_parser().print_help()
        return 0
    except UserError as exc:
        one_line = " ".join(str(exc).split())  # a message quoting another error stays one line
        print(f"convseq: error: {one_line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convseq: interrupted; resume with --resume RUN_DIR", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
