"""Typed settings: every option of a run is a field here, checked once, where it is defined.

A run's config is a few groups of plain dataclasses: where the data comes
from (``ImdbSource``, ``TextFiles``, ``NamedSeries``, ``SeriesFile``), how
it is shaped (``TextShaping``, ``SeriesShaping``), how the model trains
(``Training``, ``ForecastTraining``), and the model (a registered name plus
its settings; ``models.registry`` checks those). The command line builds its
flags from these fields (``flags``), ``config.json`` is ``to_dict`` written
out and ``from_dict`` read back, and the Python API passes Python values
straight in. Nothing here imports torch.
"""

import re
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

from convseq.data.splits import parse_splits
from convseq.errors import UserError, closest

OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd")
SCHEDULES = ("none", "cosine", "onecycle", "plateau")
MONITORS = ("auto", "val_loss", "val_acc")  # a classifier's; a forecaster's: FORECAST_MONITORS
FORECAST_MONITORS = ("auto", "val_loss", "val_mae", "val_mse")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SIDES = ("pre", "post")
TIME_ORDERS = ("check", "as-given", "drop-repeats", "sort")
FILLS = ("none", "ffill", "interpolate")
HORIZONS = ("last", "all")
LOSSES = ("mae", "huber", "mse")
JENA_WIND = ["wv (m/s)", "max. wv (m/s)", "wd (deg)"]


def option(default, help: str, *, choices=None, low=None, high=None, above=None, below=None):
    """A settings field: its default, one line of help, and the values it allows.

    ``low``/``high`` are inclusive bounds, ``above``/``below`` exclusive ones.
    """
    meta = {"help": help, "choices": choices, "low": low, "high": high}
    meta.update(above=above, below=below)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def absolute(path: str) -> str:
    return str(Path(path).resolve()) if path else path


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_list(text: str, kind: type, name: str) -> list:
    """``"1,2,4"`` from the command line as ``[1, 2, 4]`` (an empty string is an empty list)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        return [kind(p) for p in parts]
    except ValueError:
        raise UserError(
            f"{flag(name)} must be {kind.__name__} values separated by commas, got {text!r}"
        ) from None


def coerce(name: str, kind, value):
    """``value`` as a ``kind`` (int, float, str, bool or list[...]), or a one-line error."""
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if isinstance(value, str):
            return parse_list(value, item, name)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{flag(name)} must be a list, got {value!r}")
        if item is str:  # a list of text may be given as numbers: --splits as [0.7, 0.15, 0.15]
            value = [
                str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                for v in value
            ]
        return [coerce(name, item, v) for v in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    kinds = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
    raise UserError(f"{flag(name)} must be {kinds[kind]}, got {value!r}")


def check_value(name: str, value, meta: dict) -> None:
    """The choices and bounds of one field, as a one-line error naming its flag."""
    values = value if isinstance(value, list) else [value]
    choices = meta.get("choices")
    for v in values:
        if choices and v not in choices:
            raise UserError(
                f"{flag(name)} must be one of {', '.join(map(str, choices))}, got {v!r}"
                f"{closest(str(v), map(str, choices))}"
            )
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        low, high, above, below = (meta.get(k) for k in ("low", "high", "above", "below"))
        if low is not None and v < low:
            least = "at least" if high is None else "between"
            span = f"{low}" if high is None else f"{low} and {high}"
            raise UserError(f"{flag(name)} must be {least} {span}, got {v}")
        if high is not None and v > high:
            raise UserError(f"{flag(name)} must be between {low} and {high}, got {v}")
        if above is not None and v <= above:
            raise UserError(f"{flag(name)} must be above {above}, got {v}")
        if below is not None and v >= below:
            raise UserError(f"{flag(name)} must be below {below}, got {v}")


@dataclass
class Settings:
    """A group of typed options. Construction checks every field, then ``check`` the group."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = coerce(f.name, hints[f.name], getattr(self, f.name))
            check_value(f.name, value, f.metadata)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Rules that involve several fields (none by default)."""

    @classmethod
    def from_dict(cls, values: dict, where: str = ""):
        """The group from a dict (config.json or the API), refusing names it does not have."""
        names = [f.name for f in fields(cls)]
        unknown = [k for k in values if k not in names]
        if unknown:
            raise UserError(
                f"unknown setting {unknown[0]!r}{where}{closest(unknown[0], names)}; "
                f"the settings are: {', '.join(names)}"
            )
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_changes(self, **changes):
        return replace(self, **changes)


def unused(settings: Settings, name: str, idle: bool, switch: str) -> None:
    """Refuse a setting changed from its default while the option that uses it is off."""
    default = next(f for f in fields(settings) if f.name == name)
    default = default.default if default.default is not MISSING else default.default_factory()
    if idle and getattr(settings, name) != default:
        raise UserError(f"{flag(name)} has no effect without {switch}; pass both, or neither")


def field_specs(cls) -> list[tuple[str, type, object, dict]]:
    """(name, type, default, metadata) of every field of a settings class."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()
        specs.append((f.name, hints[f.name], default, dict(f.metadata)))
    return specs


# ----------------------------------------------------------------- training
@dataclass
class Training(Settings):
    """How a model is fitted: the same loop for every task (``training/trainer.py``)."""

    epochs: int = option(10, "training epochs", low=1)
    batch_size: int = option(32, "samples per batch", low=1)
    optimizer: str = option(
        "rmsprop", "rmsprop (Keras defaults), adam, adamw or sgd", choices=OPTIMIZERS
    )
    lr: float = option(1e-3, "learning rate", above=0)
    weight_decay: float = option(0.0, "L2 (adamw: decoupled) weight decay", low=0)
    schedule: str = option(
        "none", "learning-rate schedule: none, cosine, onecycle or plateau", choices=SCHEDULES
    )
    grad_clip: float = option(0.0, "clip the global gradient norm to this value (0 = off)", low=0)
    patience: int = option(
        0, "stop after this many epochs without a better validation score (0 = off)", low=0
    )
    monitor: str = option(
        "auto",
        "validation score that picks the best epoch: val_loss, val_acc, or auto (val_acc, "
        "ties broken by the lower val_loss)",
        choices=MONITORS,
    )
    ema: float = option(
        0.0,
        "evaluate and save a moving average of the weights with this decay per step "
        "(e.g. 0.99; 0 = off)",
        low=0,
        below=1,
    )
    seed: int = option(0, "random seed for data order, initialisation and dropout", low=0)
    shards: int = option(
        1, "train each batch as N parts at once, one CPU thread each (1 = off)", low=1
    )
    device: str = option(
        "auto", "where to train: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps"
    )
    precision: str = option(
        "auto",
        "fp32, bf16 or fp16 (autocast; fp16 with a gradient scaler), or auto: bf16 on a CUDA "
        "GPU that has it, else fp32",
        choices=PRECISIONS,
    )
    budget: float = option(
        15.0,  # presets.AUTO_BUDGET
        "with --model auto: minutes for all candidates together (each trainer stops after the "
        "epoch that would pass its share; its best epoch is kept)",
        above=0,
    )

    def check(self) -> None:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise UserError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


@dataclass
class ForecastTraining(Training):
    """Training plus what a forecaster trains on: windows per epoch and the loss."""

    epochs: int = option(20, "training epochs", low=1)
    batch_size: int = option(128, "windows per batch", low=1)
    monitor: str = option(
        "auto",
        "validation score that picks the best epoch: val_mae, val_mse, val_loss, or auto "
        "(val_mae; with --horizon val_mse, with --quantiles val_loss)",
        choices=FORECAST_MONITORS,
    )
    steps_per_epoch: int = option(
        0, "batches of randomly drawn windows per epoch (0 = one shuffled pass)", low=0
    )
    eval_batch_size: int = option(1024, "windows per batch when validating and testing", low=1)
    loss: str = option(
        "mae",
        "training loss: mae, mse, or huber (squared below --huber-delta)",
        choices=LOSSES,
    )
    huber_delta: float = option(
        0.1, "where --loss huber turns from squared to absolute (normalized units)", above=0
    )
    horizons: str = option(
        "last",
        "train on the target's last value, or on its whole path from the row after the "
        "window (all); scores stay the final horizon's",
        choices=HORIZONS,
    )
    final_weight: float = option(
        0.0, "with --horizons all, the share of the loss on the final horizon", low=0, high=1
    )
    quantiles: list[float] = option(
        [],
        "with --horizon: forecast these quantiles (e.g. 0.1,0.5,0.9, trained with the pinball "
        "loss); the 0.5 level is the point forecast",
        above=0,
        below=1,
    )
    calibrate: bool = option(
        True,
        "with --quantiles: move the lowest and highest levels by margins fitted on validation "
        "(per step and target) so that they cover their nominal share there (conformalized "
        "quantile regression)",
    )

    def check(self) -> None:
        super().check()
        unused(self, "huber_delta", self.loss != "huber", "--loss huber")
        unused(self, "calibrate", not self.quantiles, "--quantiles")
        unused(self, "final_weight", self.horizons != "all", "--horizons all")
        q = self.quantiles
        if q and (sorted(set(q)) != q or 0.5 not in q or q[0] == 0.5 or q[-1] == 0.5):
            raise UserError(
                f"--quantiles {','.join(map(str, q))} must be increasing levels that include 0.5 "
                "(the point forecast) and levels below and above it (the interval), "
                "e.g. 0.1,0.5,0.9"
            )
        if q and self.loss != "mae":
            raise UserError(
                f"--loss {self.loss} has no effect with --quantiles, which trains on the pinball "
                "loss; drop one of them"
            )


# --------------------------------------------------------------------- text
@dataclass
class TextShaping(Settings):
    """How texts become token ids."""

    vocab_size: int = option(
        10_000, "largest vocabulary, padding and out-of-vocabulary ids included", low=3
    )
    max_len: int = option(
        500,
        "tokens per text after cutting and padding (0: from the data, the 95th percentile of "
        "the training texts' lengths)",
        low=0,
    )
    truncating: str = option(
        "pre",
        "which end long texts are cut from: pre (keep the last tokens) or post",
        choices=SIDES,
    )
    padding: str = option("pre", "which end short texts are padded at: pre or post", choices=SIDES)
    length_buckets: bool = option(
        False, "batch texts of similar length and cut their shared padding (models that mask it)"
    )
    keep_marks: bool = option(False, "keep '!' and '?' as tokens (other punctuation is dropped)")


@dataclass
class ImdbSource(Settings):
    """The IMDB reviews (``aclImdb_v1.tar.gz``), split 80/20 as Keras's validation_split."""

    data_dir: str = option(
        "", "folder holding the dataset file (else $CONVSEQ_DATA, the cache, then download)"
    )
    validation_split: float = option(
        0.2, "fraction of the shuffled training set held out for validation", above=0, below=1
    )
    limit: int = option(0, "use only N training and N test reviews (0 = all), for trials", low=0)
    labels: str = option(
        "sentiment",
        "sentiment (neg/pos, 2 classes) or rating (the stars in each file name, 1-4 and 7-10: "
        "8 classes)",
        choices=("sentiment", "rating"),
    )

    def check(self) -> None:
        self.data_dir = absolute(self.data_dir)  # recorded absolute: a run resumes from anywhere


@dataclass
class TextFiles(Settings):
    """A labelled file of one's own (CSV, TSV, JSON Lines, JSON, or a folder per class)."""

    data: str = option("", "labelled texts: a table or a folder with a sub-folder per class")
    val: str = option("", "labelled file for validation instead of a split of DATA")
    test: str = option("", "labelled file scored once, with the best epoch's weights")
    text_column: str = option("text", "column (or JSON field) holding the texts")
    label_column: str = option("label", "column (or JSON field) holding the class labels")
    encoding: str = option("utf-8", "text encoding of the files")
    classes: list[str] = option([], "classes to keep, in this order, e.g. neg,pos (empty = all)")
    validation_split: float = option(
        0.2, "fraction held out (stratified, seeded) when no --val file is given", above=0, below=1
    )
    limit: int = option(0, "use only N training texts (0 = all), for trials", low=0)
    unlabelled: str = option(
        "",
        "unlabelled texts (one per line, or a table's text column) to pretrain the region "
        "vectors on, with the training texts (text-region-cnn with --pretrain-epochs 1 or more)",
    )

    def check(self) -> None:
        if self.classes and len(set(self.classes)) < 2:
            raise UserError(f"--classes needs at least two different classes, got {self.classes}")
        for name in ("data", "val", "test", "unlabelled"):  # absolute: resumes from any folder
            setattr(self, name, absolute(getattr(self, name)))


# ------------------------------------------------------------------- series
@dataclass
class NamedSeries(Settings):
    """A dataset convseq knows by name (``data.series.DATASETS``), found or downloaded."""

    data_dir: str = option(
        "", "folder holding the dataset file (else $CONVSEQ_DATA, the cache, then download)"
    )
    time_order: str = option(
        "as-given",
        "rows whose time steps back or repeats: as-given (file order, counted), check "
        "(refuse), drop-repeats (keep the first of each time) or sort",
        choices=TIME_ORDERS,
    )

    def check(self) -> None:
        self.data_dir = absolute(self.data_dir)  # recorded absolute: a run resumes from anywhere


@dataclass
class SeriesFile(Settings):
    """A CSV (or .csv.gz, .zip, .parquet) series of one's own: a time column plus numbers."""

    data: str = option("", "the series file: a time column plus numeric columns")
    time_column: str = option("date", "name of the time column")
    time_format: str = option("", "strptime format of the times (empty = ISO 8601 and the like)")
    encoding: str = option("utf-8", "text encoding of the file")
    time_order: str = option(
        "check",
        "rows whose time steps back or repeats: check (refuse, naming the row), as-given "
        "(take rows in file order), drop-repeats (keep the first of each time) or sort",
        choices=TIME_ORDERS,
    )
    fill: str = option(
        "none",
        "gaps in the time index: none (report them), ffill (repeat the last row) or "
        "interpolate (straight line)",
        choices=FILLS,
    )
    units: str = option("", "units of the target column, for reports")

    def check(self) -> None:
        self.data = absolute(self.data)  # recorded absolute: a run resumes from any folder


@dataclass
class SeriesShaping(Settings):
    """Which columns, which rows, and how windows are cut from them."""

    target: str = option("", "column to forecast")
    features: list[str] = option(
        [], "input columns, comma-separated (empty = every numeric column); the target is added"
    )
    lookback: int = option(240, "rows of history in each window", low=1)
    step: int = option(
        1, "keep every STEP-th row of the lookback (6: hourly on 10-minute rows)", low=1
    )
    delay: int = option(
        23, "the target is this many rows after the row that follows the window", low=0
    )
    horizon: int = option(
        0,
        "forecast every row 1..H after the window, each as its own output, for every --targets "
        "column; --delay does not apply (0 = one value of --target, --delay rows after the "
        "row that follows the window)",
        low=0,
    )
    targets: list[str] = option(
        [], "with --horizon: columns to forecast, comma-separated, or all (empty = --target)"
    )
    splits: list[str] = option(
        ["0.7", "0.15", "0.15"],
        "train,validation,test as row ranges START:END (END empty = end of file) or fractions",
    )
    calendar: bool = option(False, "add time of day and day of year as sine and cosine columns")
    wind_vector: bool = option(
        False, "replace wind speed and direction columns by the wind's x and y components"
    )
    wind_columns: list[str] = option(
        JENA_WIND, "for --wind-vector: speed columns, then the direction column in degrees"
    )

    def check(self) -> None:
        if self.step > self.lookback:
            raise UserError(
                f"--step {self.step} is larger than --lookback {self.lookback}, so a window "
                "would hold one row; pass a step no larger than the lookback"
            )
        if len(set(self.features)) != len(self.features):
            raise UserError(f"--features names a column twice: {','.join(self.features)}")
        unused(self, "wind_columns", not self.wind_vector, "--wind-vector")
        unused(self, "targets", not self.horizon, "--horizon")
        if len(set(self.targets)) != len(self.targets) or (
            "all" in self.targets and len(self.targets) > 1
        ):
            raise UserError(
                f"--targets {','.join(self.targets)} names a column twice or mixes 'all' with "
                "names; pass all, or each column once"
            )
        if self.wind_vector and len(self.wind_columns) < 2:
            raise UserError(
                "--wind-columns needs one or more speed columns and then the direction column"
            )
        parse_splits(self.splits, None)  # the syntax; ranges are checked against the file

    @property
    def last_delay(self) -> int:
        """Rows from the one after the window to the last forecast row."""
        return self.horizon - 1 if self.horizon else self.delay

    def columns_to_read(self) -> list[str] | None:
        """The features plus what the target and wind vector need, or None for every column."""
        if not self.features:
            return None
        named = [t for t in self.targets if t != "all"]  # all: every column read
        needed = [self.target, *named, *(self.wind_columns if self.wind_vector else [])]
        return self.features + [c for c in needed if c and c not in self.features]


# ------------------------------------------------------- labelled cases
CASE_FORMATS = ("auto", "ts", "tsv", "ucr", "csv-wide", "csv-long")
NORMALIZATIONS = ("auto", "series", "channel", "none")


@dataclass
class CaseFiles(Settings):
    """Labelled cases of one's own: .ts, UCR .tsv or .txt, or a CSV (wide or long)."""

    data: str = option("", "the training cases: a .ts, .tsv, UCR .txt or .csv file")
    test: str = option("", "cases scored once, with the final model (same format)")
    val: str = option("", "cases for validation instead of a stratified split of DATA")
    file_format: str = option(
        "auto",
        "format of the files: auto (by name: .ts, .tsv, .csv, else UCR text), ts, tsv, ucr "
        "(label first, whitespace or commas), csv-wide (a case per row) or csv-long (a row per "
        "step, with --case-column)",
        choices=CASE_FORMATS,
    )
    label_column: str = option("label", "CSV: column holding the class labels")
    case_column: str = option("", "CSV in long format: column naming each row's case")
    time_column: str = option("", "CSV in long format: column ordering each case's rows")
    encoding: str = option("utf-8", "text encoding of the files")
    validation_split: float = option(
        0.2, "fraction of each class held out (seeded) without a --val file", above=0, below=1
    )

    def check(self) -> None:
        for name in ("data", "val", "test"):  # recorded absolute: a run resumes from any folder
            setattr(self, name, absolute(getattr(self, name)))


@dataclass
class UcrArchive(Settings):
    """A UCR/UEA archive: NAME_TRAIN and NAME_TEST (.ts, .tsv or .txt) in a data folder."""

    archive: str = option("GunPoint", "the archive's name, as in its files NAME_TRAIN.ts")
    data_dir: str = option(
        "", "folder holding the archive's files (else $CONVSEQ_DATA, then the cache)"
    )
    validation_split: float = option(
        0.2, "fraction of each training class held out (seeded) for validation", above=0, below=1
    )

    def check(self) -> None:
        self.data_dir = absolute(self.data_dir)  # recorded absolute: a run resumes from anywhere


@dataclass
class CaseShaping(Settings):
    """How cases are scaled (gaps inside a case are always filled by interpolation)."""

    normalize: str = option(
        "auto",
        "series (each case's channels z-normalized alone), channel (per-channel statistics of "
        "the training cases), none, or auto (series for univariate cases of equal length, "
        "else channel)",
        choices=NORMALIZATIONS,
    )


@dataclass
class CaseTraining(Training):
    """Training for the classifiers of cases: Adam, small batches, cosine decay."""

    epochs: int = option(100, "training epochs (rocket: none, it is fitted in closed form)", low=1)
    batch_size: int = option(16, "cases per batch", low=1)
    optimizer: str = option("adam", "rmsprop, adam, adamw or sgd", choices=OPTIMIZERS)
    schedule: str = option(
        "cosine", "learning-rate schedule: none, cosine, onecycle or plateau", choices=SCHEDULES
    )


# ---------------------------------------------------------------------- run
SOURCES = {
    "imdb": ImdbSource,
    "text-files": TextFiles,
    "named-series": NamedSeries,
    "series-file": SeriesFile,
    "case-files": CaseFiles,
    "ucr-archive": UcrArchive,
}
SHAPINGS = {"text": TextShaping, "forecast": SeriesShaping, "classify": CaseShaping}
TRAININGS = {"text": Training, "forecast": ForecastTraining, "classify": CaseTraining}


@dataclass
class RunConfig:
    """Everything a run was asked to do: ``config.json`` holds ``to_dict()``.

    ``model_settings`` is the model's full settings (its registry defaults
    with the preset's and the user's changes); ``dataset`` names the data in
    reports and ``convseq compare``. ``frame`` is a DataFrame given to the
    Python API instead of a file: it is used, never saved.
    """

    task: str  # "text", "forecast" or "classify"
    preset: str
    dataset: str
    source: Settings
    shaping: Settings
    train: Training
    model: str
    model_settings: dict
    frame: object = None
    deadline: float | None = None  # time.monotonic() by which training stops (--model auto)

    @property
    def source_kind(self) -> str:
        return next(k for k, cls in SOURCES.items() if type(self.source) is cls)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "preset": self.preset,
            "dataset": self.dataset,
            "source": {"kind": self.source_kind, **self.source.to_dict()},
            "shaping": self.shaping.to_dict(),
            "train": self.train.to_dict(),
            "model": {"name": self.model, "settings": self.model_settings},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        source = dict(data["source"])
        kind = source.pop("kind")
        task = data["task"]
        return cls(
            task,
            data["preset"],
            data["dataset"],
            SOURCES[kind].from_dict(source),
            SHAPINGS[task].from_dict(data["shaping"]),
            TRAININGS[task].from_dict(data["train"]),
            data["model"]["name"],
            dict(data["model"]["settings"]),
        )

    def settings(self) -> dict:
        """Every setting by its flat name (what the command line and the API call it)."""
        return {
            **self.source.to_dict(),
            **self.shaping.to_dict(),
            **self.train.to_dict(),
            **self.model_settings,
        }
