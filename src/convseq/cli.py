"""The ``convseq`` command: ``list | run NAME | train text|forecast DATA | predict | evaluate |
export | compare | benchmark ltsf``.

Flags are made from the settings' fields (``config.py``) and the model's own
defaults, so a new setting or model needs no CLI code. This module is the
only one that touches process-wide state: torch's thread count for a
command (restored when ``main`` returns, so calling it in-process leaves the
caller's setting), and, when ``convseq`` is the process itself (``entry``),
OpenMP's wait policy and glibc's malloc thresholds. User mistakes become one
line on stderr and exit code 2. Modules that load torch are imported inside
the commands that need them, so that ``convseq --help`` and ``convseq list``
answer at once.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import sys
from contextlib import contextmanager

from convseq.config import field_specs, flag
from convseq.errors import UserError, closest
from convseq.version import __version__

ROLE_TITLES = {"source": "data", "shaping": "data shaping", "train": "training"}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are a single line naming the fix."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------ process state
def entry() -> None:
    """The installed ``convseq`` command and ``python -m convseq``: a process of its own."""
    # Spinning OpenMP waiters steal the core another process or torch thread needs: on a busy
    # 2-core machine that made training about 5x slower. Set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    keep_freed_memory()
    raise SystemExit(main())


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc keep freed blocks for reuse, so each training step does not page-fault afresh.

    A step allocates and frees the same few megabytes; glibc handed them back
    to the kernel, which zero-filled them again (about a tenth of an IMDB step).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(-3, mmap_threshold) and libc.mallopt(-1, trim_threshold))


@contextmanager
def process_group(device: str):
    """Under torchrun, join this process to the others (gloo on the CPU, nccl on CUDA) for the
    command, and silence every rank's stdout but rank 0's."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    import torch
    import torch.distributed as dist

    cuda = device != "cpu" and not device.startswith("mps") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    stdout = sys.stdout
    if dist.get_rank() != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (closed below)
    try:
        yield
    finally:
        if sys.stdout is not stdout:
            sys.stdout.close()
            sys.stdout = stdout
        dist.destroy_process_group()


@contextmanager
def torch_threads(threads: int):
    """The command's torch thread count (0: leave it), given back afterwards."""
    import torch  # here, not at the top: `convseq --help` and `list` need no torch

    if threads < 0:
        raise UserError(f"--threads must be 0 or positive, got {threads}")
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------ settings flags
def add_flag(group, name: str, kind, default, help: str, choices=None) -> None:
    """One option, typed by the field (lists as comma-separated text), its default shown."""
    if kind is bool:
        shown = "on" if default else "off"
        group.add_argument(
            flag(name), action=argparse.BooleanOptionalAction, help=f"{help} (default: {shown})"
        )
        return
    if isinstance(default, list):
        shown, metavar, kind = ",".join(map(str, default)) or "none", "A,B,...", str
    else:
        shown, metavar = default if default != "" else "none", (kind.__name__.upper())
    if choices:
        metavar = "{" + ",".join(choices) + "}"
    group.add_argument(flag(name), type=kind, metavar=metavar, help=f"{help} (default: {shown})")


def settings_parser(preset, model: str, prog: str, data_help: str = "") -> OneLineParser:
    """The parser of a preset's settings: its groups' fields, then its model's settings."""
    from convseq.models.registry import get_model, setting_type

    parser = OneLineParser(
        prog=prog,
        description=preset.description,
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,  # generated flags multiply: --hid must not silently mean --hidden
    )
    if data_help:
        parser.add_argument("data", nargs="?", metavar="DATA", help=data_help)
    defaults = preset.defaults()
    for role, cls in preset.groups.items():
        group = parser.add_argument_group(ROLE_TITLES[role])
        for name, kind, _, meta in field_specs(cls):
            if not (data_help and name == "data"):
                add_flag(group, name, kind, defaults[role][name], meta["help"], meta["choices"])
    group = parser.add_argument_group(f"model {model}: {preset.model_description(model)}")
    if preset.any_model:
        group.add_argument(
            "--model",
            help=f"model to train (default: {preset.model}); --help with it lists its settings",
        )
    for name, default in preset.model_defaults(model).items():
        add_flag(group, name, setting_type(default), default, get_model(model).help.get(name, name))
    run = parser.add_argument_group("run")
    run.add_argument("--out", help=f"run folder (default: runs/{preset.name}/TIMESTAMP)")
    run.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a killed run from its checkpoint"
    )
    run.add_argument(
        "--threads",
        type=int,
        help=f"torch CPU threads for this run (0: torch's default; default: {preset.threads})",
    )
    return parser


def run_preset(name: str, argv: list[str], data_help: str = "") -> int:
    """Parse a preset's options, then start or resume its run."""
    from convseq import pipelines
    from convseq.presets import get_preset

    preset = get_preset(name)
    model = chosen_model(preset, argv)
    options = vars(settings_parser(preset, model, preset.command, data_help).parse_args(argv))
    out, resume = options.pop("out", None), options.pop("resume", None)
    threads = options.pop("threads", preset.threads)
    given_model = options.pop("model", None)
    device = options.get("device", preset.train.get("device", "auto"))
    with torch_threads(threads), process_group(device):
        if resume:
            if out:
                raise UserError("--out and --resume name two folders; pass only --resume RUN_DIR")
            pipelines.resume(name, resume, options, given_model)
        else:
            pipelines.start(preset.make_run(options, model), out)
    return 0


def chosen_model(preset, argv: list[str]) -> str:
    """The model whose settings become flags: --model, else the resumed run's, else the preset's."""
    from convseq.runs import RunFolder

    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--model")
    early.add_argument("--resume")
    known = early.parse_known_args(argv)[0]
    if known.model:
        return known.model
    if known.resume:
        try:
            return RunFolder(known.resume).read_config().model
        except UserError:
            pass  # resuming reports what is wrong with the folder
    return preset.model


# ------------------------------------------------------------------ commands
def cmd_list(_args) -> int:
    from convseq.presets import list_presets

    presets = list_presets()
    width = max(len(p.name) for p in presets) + 2
    for p in presets:
        print(f"{p.name:<{width}}{p.description}")
    return 0


def cmd_run(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        if argv and argv[0] in ("-h", "--help"):
            print("usage: convseq run NAME [options]; 'convseq list' shows the names, "
                  "'convseq run NAME --help' the options")  # fmt: skip
            return 0
        raise UserError("convseq run needs an experiment name; run 'convseq list' to see them")
    return run_preset(argv[0], argv[1:])


TRAIN_KINDS = {
    "text": "labelled texts: a table (.csv, .tsv, .jsonl, .json, .parquet) or a folder with a "
    "sub-folder of .txt files per class",
    "forecast": "a series: a table with a time column and numeric columns (.csv, .tsv, "
    ".jsonl, .json, .parquet; plain, .gz, .bz2, .xz or .zip)",
    "classify": "labelled cases for training: a .ts, UCR .tsv or .txt file, or a .csv (a case "
    "per row, or a row per step with --case-column)",
}


def cmd_train(argv: list[str]) -> int:
    usage = ("usage: convseq train text DATA [options] | convseq train forecast DATA --target COL "
             "[options] | convseq train classify TRAIN [--test TEST] [options]")  # fmt: skip
    if not argv or argv[0] in ("-h", "--help"):
        if not argv:
            raise UserError(f"convseq train needs a kind and DATA; {usage}")
        print(usage + "; 'convseq train KIND --help' lists the options")
        return 0
    kind = argv[0]
    if kind not in TRAIN_KINDS:
        raise UserError(f"unknown kind {kind!r}{closest(kind, TRAIN_KINDS)}; {usage}")
    return run_preset(f"train-{kind}", argv[1:], TRAIN_KINDS[kind])


def cmd_compare(args) -> int:
    from convseq.evaluation.compare import compare

    compare(args.what, args.runs, args.output)
    return 0


# ------------------------------------------------------------ benchmark ltsf
def add_benchmark_command(sub) -> None:
    """``convseq benchmark ltsf``: the long-horizon forecasting table (pipelines/ltsf.py)."""
    bench = sub.add_parser("benchmark", help="benchmark tables: convseq benchmark ltsf ...")
    kinds = bench.add_subparsers(dest="benchmark", parser_class=OneLineParser, required=True)
    ltsf = kinds.add_parser(
        "ltsf",
        help="long-horizon multivariate forecasting (ETTh1, Weather or a CSV file)",
        description="Every model at every horizon under the LTSF benchmark protocol, chosen on "
        "validation, scored on all test windows; writes OUT/table.md, table.csv, results.json.",
    )
    ltsf.add_argument("--dataset", required=True, help="etth1, weather or the path of a CSV file")
    ltsf.add_argument("--models", default="ridge,repeat,nlinear,dlinear,conv,conv+ridge",
                      help="comma list; tcn is also offered (default: %(default)s)")  # fmt: skip
    ltsf.add_argument("--horizons", default="96,192,336,720", help="(default: %(default)s)")
    ltsf.add_argument("--lookback", type=int, default=336, help="(default: %(default)s)")
    ltsf.add_argument("--ridge-lookbacks", default="",
                      help="lookbacks the ridge chooses from on validation (default: the lookback "
                      "and 512 where the file allows)")  # fmt: skip
    ltsf.add_argument("--seeds", default="2021,2022,2023",
                      help="one run per seed; each trained model's forecast is the mean of its "
                      "seeds' (default: %(default)s)")  # fmt: skip
    ltsf.add_argument("--quantiles", default="",
                      help="e.g. 0.1,0.5,0.9: train the convnet with the pinball loss")  # fmt: skip
    ltsf.add_argument("--epochs", type=int, default=0, help="(default: the recipe's, 10)")
    ltsf.add_argument("--steps-per-epoch", type=int, default=-1,
                      help="batches per epoch (default: the recipe's; 0: every window)")  # fmt: skip
    ltsf.add_argument("--data-dir", help="folder holding ETTh1.csv / weather.csv.gz")
    ltsf.add_argument("--out", default="runs/ltsf", help="output folder (default: %(default)s)")
    ltsf.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")


def cmd_benchmark(args) -> int:
    from convseq.pipelines.ltsf import BenchmarkSettings, run_benchmark

    def numbers(option: str, text: str, kind):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--{option} {text!r} is not a comma list of numbers; e.g. --{option} "
                            "96,192") from None  # fmt: skip

    settings = BenchmarkSettings(
        dataset=args.dataset,
        out=args.out,
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        horizons=numbers("horizons", args.horizons, int),
        lookback=args.lookback,
        ridge_lookbacks=numbers("ridge-lookbacks", args.ridge_lookbacks, int),
        seeds=numbers("seeds", args.seeds, int),
        quantiles=numbers("quantiles", args.quantiles, float),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        data_dir=args.data_dir,
    )
    with torch_threads(args.threads):
        run_benchmark(settings, log=lambda line: print(line, flush=True))
    return 0


def build_parser() -> OneLineParser:
    from convseq.use import add_use_commands

    parser = OneLineParser(
        prog="convseq", description="Sequence processing with 1D convnets.", allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=f"convseq {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    sub.add_parser("list", help="list the experiments")
    sub.add_parser("run", help="run an experiment: convseq run NAME [options]", add_help=False)
    sub.add_parser(
        "train",
        help="train on your own data: convseq train text|forecast|classify DATA",
        add_help=False,
    )
    add_use_commands(sub)
    add_benchmark_command(sub)
    compare = sub.add_parser(
        "compare",
        help="compare finished runs: convseq compare DATASET, or convseq compare RUN_DIR ...",
        description="Tabulate finished runs side by side: every run of DATASET (as recorded in "
        "metrics.json: imdb, jena, etth1, or your file's name) found at any depth under --runs, "
        "or the run folders given.",
    )
    compare.add_argument("what", nargs="+", metavar="DATASET_OR_RUN_DIR")
    compare.add_argument("--runs", default="runs", help="folder searched for runs (default: runs)")
    compare.add_argument("--output", help="Markdown file to write (default: RUNS/compare-NAME.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from convseq.use import USE_COMMANDS

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "run":
            return cmd_run(argv[1:])
        if argv and argv[0] == "train":
            return cmd_train(argv[1:])
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "benchmark":
            return cmd_benchmark(args)
        if args.command in USE_COMMANDS:
            with torch_threads(args.threads):
                return USE_COMMANDS[args.command](args)
        build_parser().print_help()
        return 0
    except UserError as exc:
        one_line = " ".join(str(exc).split())  # a message quoting another error stays one line
        print(f"convseq: error: {one_line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `convseq predict ... | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (flushing at exit must not fail again)
        return 0
    except KeyboardInterrupt as interrupt:
        command = getattr(interrupt, "resume_command", None)
        hint = f"resume with: {command}" if command else "no epoch had finished, nothing to resume"
        print(f"convseq: interrupted; {hint}", file=sys.stderr)
        return 130
