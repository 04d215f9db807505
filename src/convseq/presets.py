"""Every preset as data: a name, a data set, a model, and the settings that differ from the defaults.

A preset's settings start from the defaults of the settings classes
(``config.py``) and of its model (its registry entry); the table below
lists only what differs. ``make_run`` turns a preset plus the user's
options (flat names, as the command line and the API give them) into a
checked ``RunConfig``; the task's pipeline then runs it. ``convseq train
text|forecast`` are the presets ``train-text`` and ``train-forecast``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from convseq.config import (
    SHAPINGS,
    TRAININGS,
    CaseFiles,
    ImdbSource,
    NamedSeries,
    RunConfig,
    SeriesFile,
    TextFiles,
    UcrArchive,
    field_specs,
    flag,
)
from convseq.errors import UserError, closest

AUTO_BUDGET = 15.0  # minutes: --budget's default (config.Training)
AUTO = "auto"  # --model auto: candidates trained and chosen on validation (pipelines/auto.py)


@dataclass(frozen=True)
class Preset:
    name: str
    task: str  # "text", "forecast" or "classify"
    dataset: str  # "imdb", "jena", "etth1", "ucr", or "file": the user's own (DATA or --data)
    model: str
    description: str
    data: dict = field(default_factory=dict)  # source and shaping settings
    model_settings: dict = field(default_factory=dict)  # for this preset's own model only
    train: dict = field(default_factory=dict)
    threads: int = 0  # the command line's torch thread count for it (0: torch's default)
    listed: bool = True
    any_model: bool = False  # --model may pick another registered model of the task

    @property
    def groups(self) -> dict[str, type]:
        """The settings classes of this preset's run, by role."""
        if self.task == "text":
            source = ImdbSource if self.dataset == "imdb" else TextFiles
        elif self.task == "classify":
            source = UcrArchive if self.dataset == "ucr" else CaseFiles
        else:
            source = SeriesFile if self.dataset == "file" else NamedSeries
        return {"source": source, "shaping": SHAPINGS[self.task], "train": TRAININGS[self.task]}

    def defaults(self) -> dict[str, dict]:
        """Each group's defaults with this preset's values."""
        result = {}
        for role, cls in self.groups.items():
            given = self.train if role == "train" else self.data
            values = {name: default for name, _, default, _ in field_specs(cls)}
            values.update({k: v for k, v in given.items() if k in values})
            result[role] = values
        known = {name for values in result.values() for name in values}
        stray = [k for k in (*self.data, *self.train) if k not in known]
        if stray:  # a typo in the table below must not pass silently
            raise ValueError(f"preset {self.name!r} sets {stray[0]!r}, which no settings group has")
        return result

    def model_defaults(self, model: str) -> dict:
        """The model's registry defaults, with this preset's changes when it is the preset's model."""
        from convseq.models.registry import get_model  # torch loads here, not at `import convseq`

        if model == AUTO:
            return {}  # each candidate has its own
        entry = get_model(model, self.task)
        return entry.settings(self.model_settings if model == self.model else {})

    def model_description(self, model: str) -> str:
        from convseq.models.registry import get_model

        if model == AUTO:
            return auto_description(self.task)
        return get_model(model, self.task).description

    def make_run(self, options: dict, model: str | None = None, frame=None) -> RunConfig:
        """A checked run of this preset with ``options`` (flat setting names) changed."""
        from convseq.models.registry import get_model, list_models  # torch loads here

        model = model or self.model
        if model != self.model and not self.any_model:
            raise UserError(f"preset {self.name!r} trains {self.model}; it has no --model option")
        values = self.defaults()
        if model == AUTO:
            time_column = values["source"].get("time_column")
            options = auto_options(self.task, options, bool(time_column))
        elif options.get("budget", AUTO_BUDGET) != AUTO_BUDGET:
            raise UserError("--budget times --model auto; pass --model auto, or leave --budget out")
        entry = None if model == AUTO else get_model(model, self.task)
        model_defaults = entry.defaults if entry else {}  # auto's candidates have their own
        settings = dict(self.model_settings) if model == self.model else {}
        for key, value in options.items():
            role = next((r for r, v in values.items() if key in v), None)
            if role is not None:
                values[role][key] = value
            elif key in model_defaults:
                settings[key] = value
            elif entry is None and models_with(self.task, key):
                raise UserError(
                    f"{flag(key)} is a setting of {', '.join(models_with(self.task, key))}; "
                    "--model auto picks its candidates' settings itself, so pass --model NAME "
                    "to set it"
                )
            else:
                models = [entry.name] if entry else list_models(self.task)
                known = [n for v in values.values() for n in v]
                known += [k for name in models for k in get_model(name).defaults]
                raise UserError(
                    f"{self.name} has no setting {key!r}{closest(key, known)}; "
                    f"'{self.command} --help' lists them"
                )
        if "delay" in options and values["shaping"].get("horizon"):
            raise UserError(
                "--delay has no effect with --horizon, which forecasts every row from the one "
                "after the window; drop --delay"
            )
        groups = {role: self.groups[role](**v) for role, v in values.items()}
        if entry:
            settings = entry.settings(settings)
            entry.check(settings)
        else:  # recorded in config.json: what the user fixed for every candidate
            settings = {"fixed_training": fixed_training(self.task, options)}
        return RunConfig(
            self.task,
            self.name,
            self.dataset_name(groups["source"], frame),
            groups["source"],
            groups["shaping"],
            groups["train"],
            model,
            settings,
            frame,
        )

    @property
    def command(self) -> str:
        """The command line that runs this preset."""
        if self.name.startswith("train-"):
            return f"convseq train {self.task}"
        return f"convseq run {self.name}"

    def dataset_name(self, source, frame) -> str:
        """The name runs of this data share in reports and ``convseq compare``."""
        if self.dataset == "ucr":  # the archive's own name; `convseq compare ucr` finds them all
            return source.archive
        if self.dataset == "imdb" and source.labels == "rating":
            return "imdb-ratings"  # 8 classes: compared apart from the 2-class runs
        if self.dataset != "file":
            return self.dataset
        if frame is not None:
            return "data-frame"
        if not source.data:
            raise UserError(f"{self.name} needs your data: pass DATA (a file or folder)")
        return Path(source.data).name.split(".")[0] or Path(source.data).name


# ------------------------------------------------------------------- table
STRONG_TEXT = {"vocab_size": 30_000, "max_len": 800, "length_buckets": True}
ONE_CYCLE_ADAM = {"optimizer": "adam", "schedule": "onecycle"}
JENA = {
    "lookback": 1440,
    "step": 6,
    "delay": 144,
    "splits": ["0:200000", "200001:300000", "300001:"],
    "target": "T (degC)",
}
JENA_TRAIN = {"epochs": 20, "steps_per_epoch": 500}
ETTH1 = {
    "lookback": 240,
    "step": 1,
    "delay": 23,
    "splits": ["0:8640", "8640:11520", "11520:14400"],
    "target": "OT",
    "features": ["OT"],
}
REFERENCE = {"residual": False}  # the chapter's models forecast the value, not the change
TCN_TRAIN = {"optimizer": "adam", "lr": 3e-4, "schedule": "cosine"}
# the patch convnets' recipe, chosen on ETTh1 validation (docs/ltsf.md): the best epoch is the
# lowest validation MSE (--monitor auto with --horizon)
PATCH_TRAIN = {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "schedule": "cosine",
               "loss": "mae", "epochs": 10, "patience": 3}  # fmt: skip
# the long-horizon benchmark's ETTh1 task: every variable, every hour of the next 4 days
ETTH1_PATHS = {**ETTH1, "features": [], "lookback": 336, "horizon": 96, "targets": ["all"]}

# the shared UCR/UEA archives (docs/classification.md): ROCKET by default, --model for the nets
UCR_ARCHIVES = ("GunPoint", "ItalyPowerDemand", "BasicMotions", "PickupGestureWiimoteZ")
UCR_PRESETS = [
    Preset(
        "ucr",
        "classify",
        "ucr",
        "rocket",
        "a UCR/UEA archive (--archive NAME, files NAME_TRAIN/_TEST.ts in --data-dir): ROCKET, "
        "or --model series-fcn|series-resnet|inceptiontime",
        threads=1,
        any_model=True,
    ),
    *(
        Preset(
            f"ucr-{name.lower()}",
            "classify",
            "ucr",
            "rocket",
            f"UCR/UEA {name}: ROCKET (10,000 kernels, ridge), or --model NAME",
            data={"archive": name},
            threads=1,
            any_model=True,
        )
        for name in UCR_ARCHIVES
    ),
]

PRESETS = {
    p.name: p
    for p in (
        Preset(
            "imdb-cnn",
            "text",
            "imdb",
            "text-cnn",
            "IMDB sentiment, the reference 1D convnet (Embedding 128 -> Conv1D x2 -> Dense), "
            "RMSprop, 10 epochs",
            train={"shards": 2},
            threads=1,  # one thread per half batch: docs/speed.md
        ),
        Preset(
            "imdb-ratings",
            "text",
            "imdb",
            "text-cnn",
            "IMDB star ratings, 8 classes (1-4, 7-10 stars, from the file names): the reference "
            "convnet, or --model NAME; a multi-class development set",
            data={"labels": "rating"},
            any_model=True,
        ),
        Preset(
            "imdb-region-cnn",
            "text",
            "imdb",
            "text-region-cnn",
            "IMDB sentiment, region-embedding convnet (regions 2+3, vectors pretrained on the "
            "unlabelled reviews) averaged with an NB-weighted bag of word pairs, Adam one-cycle",
            data={**STRONG_TEXT, "validation_split": 0.1},
            model_settings={"pretrain_epochs": 1, "ngram_bag": True},
            train={"epochs": 3, "batch_size": 100, "lr": 4e-3, **ONE_CYCLE_ADAM},
        ),
        Preset(
            "imdb-tcn",
            "text",
            "imdb",
            "text-tcn",
            "IMDB sentiment, dilated residual TCN over embeddings (non-causal), Adam one-cycle",
            data=STRONG_TEXT,
            train={"epochs": 4, "batch_size": 64, "lr": 2e-3, **ONE_CYCLE_ADAM},
        ),
        Preset(
            "jena-baseline",
            "forecast",
            "jena",
            "common-sense",
            "Jena temperature 24 h ahead: common-sense baseline (the last value), no training",
            data=JENA,
        ),
        Preset(
            "jena-cnn",
            "forecast",
            "jena",
            "series-cnn",
            "Jena: reference convnet (3 x Conv1D(32,5), max pools, global max), step 6, "
            "20 x 500 batches",
            data=JENA,
            model_settings=REFERENCE,
            train={**JENA_TRAIN, "shards": 2},
            threads=1,
        ),
        Preset(
            "jena-cnn-gru",
            "forecast",
            "jena",
            "series-cnn-gru",
            "Jena: Conv1D x2 -> GRU(32, dropout 0.1, recurrent dropout 0.5), step 3, "
            "20 x 500 batches",
            data={**JENA, "step": 3},
            model_settings=REFERENCE,
            train={**JENA_TRAIN, "shards": 2},
            threads=1,
        ),
        Preset(
            "jena-gru",
            "forecast",
            "jena",
            "series-gru",
            "Jena: GRU(32, dropout 0.2, recurrent dropout 0.2), step 6, 40 x 500 batches",
            data=JENA,
            model_settings=REFERENCE,
            train={**JENA_TRAIN, "epochs": 40, "shards": 2},
            threads=1,
        ),
        Preset(
            "jena-tcn",
            "forecast",
            "jena",
            "series-tcn",
            "Jena: causal dilated TCN (no recurrence), wind as a vector, calendar columns; "
            "step 6, 20 x 500 batches",
            data={**JENA, "calendar": True, "wind_vector": True},
            model_settings=REFERENCE,
            train={**JENA_TRAIN, **TCN_TRAIN},
            threads=1,
        ),
        Preset(
            "etth1-baseline",
            "forecast",
            "etth1",
            "common-sense",
            "ETTh1 oil temperature 24 h ahead: common-sense baseline (the last value), no training",
            data=ETTH1,
        ),
        Preset(
            "etth1-cnn",
            "forecast",
            "etth1",
            "series-cnn",
            "ETTh1: the reference convnet on OT's last 240 h, forecasting the change; 10 epochs",
            data=ETTH1,
            train={"epochs": 10},
            threads=1,
        ),
        Preset(
            "etth1-cnn-gru",
            "forecast",
            "etth1",
            "series-cnn-gru",
            "ETTh1: Conv1D x2 -> GRU(32) on OT's last 240 h, forecasting the change; 20 epochs",
            data=ETTH1,
            threads=1,
        ),
        Preset(
            "etth1-gru",
            "forecast",
            "etth1",
            "series-gru",
            "ETTh1: GRU(32) on OT's last 240 h, forecasting the change; 10 epochs",
            data=ETTH1,
            train={"epochs": 10},
            threads=1,
        ),
        Preset(
            "etth1-tcn",
            "forecast",
            "etth1",
            "series-tcn",
            "ETTh1: causal dilated TCN on OT's last 240 h and the calendar, averaged with a "
            "linear map of the window, forecasting the change with a Huber loss; 20 epochs",
            data={**ETTH1, "calendar": True},
            model_settings={"linear_member": True},  # chosen on validation MAE (docs/tcn.md)
            train={**TCN_TRAIN, "loss": "huber"},
            threads=1,
        ),
        Preset(
            "etth1-patch",
            "forecast",
            "etth1",
            "series-patch-conv",
            "ETTh1, all 7 variables, every hour of the next 96 from the last 336 (the long-horizon "
            "benchmark's task): channel-independent patch convnet, beside the ridge NLinear",
            data=ETTH1_PATHS,
            train=PATCH_TRAIN,
            threads=1,
            any_model=True,
        ),
        Preset(
            "series-csv",
            "forecast",
            "file",
            "series-cnn-gru",
            "any CSV series: --data PATH --time-column T --target COLUMN [--model NAME]",
            train={"epochs": 10},
            threads=1,
            any_model=True,
        ),
        *UCR_PRESETS,
        Preset(
            "train-classify",
            "classify",
            "file",
            "rocket",
            "a classifier of your own labelled cases (convseq train classify TRAIN --test TEST)",
            threads=1,
            listed=False,
            any_model=True,
        ),
        Preset(
            "train-text",
            "text",
            "file",
            AUTO,
            "a text classifier on your own labelled file (convseq train text DATA)",
            data={"max_len": 0},  # the length from the data
            listed=False,
            any_model=True,
        ),
        Preset(
            "train-forecast",
            "forecast",
            "file",
            AUTO,
            "a forecaster on your own series (convseq train forecast DATA)",
            train={"epochs": 10},
            threads=1,
            listed=False,
            any_model=True,
        ),
    )
}


# ------------------------------------------------------------ --model auto
@dataclass(frozen=True)
class Candidate:
    model: str
    settings: dict = field(default_factory=dict)  # beyond the model's registry defaults
    train: dict = field(default_factory=dict)  # its own training recipe


CANDIDATES = {
    "text": (
        # cheap and strong on long texts: first, so the region CNN gets the time left
        Candidate("text-ngram-bag", train={"epochs": 3, "patience": 1}),
        Candidate(
            "text-region-cnn",
            {"pretrain_epochs": 1},  # region vectors from the training (and --unlabelled) texts
            {"epochs": 3, "batch_size": 100, "lr": 4e-3, **ONE_CYCLE_ADAM},
        ),
    ),
    "forecast": (
        Candidate(
            "series-tcn",
            {"linear_member": True},
            {**TCN_TRAIN, "loss": "huber", "epochs": 20},  # as etth1-tcn
        ),
        Candidate("series-cnn-gru", train={"epochs": 20}),
        Candidate("series-cnn", train={"epochs": 10}),
    ),
    # --horizon: every step of every target; the ridge NLinear joins as a member (auto.py)
    "paths": (
        Candidate("series-patch-conv", train=PATCH_TRAIN),
        Candidate("series-patch-tcn", train=PATCH_TRAIN),
    ),
}
# data settings --model auto changes unless the user gave them: what its candidates need
SHAPING = {"text": {"vocab_size": 30_000, "length_buckets": True}, "forecast": {}}


def auto_description(task: str) -> str:
    names = " / ".join(c.model for c in CANDIDATES.get(task, ()))
    paths = " / ".join(c.model for c in CANDIDATES["paths"])
    extra = f"; with --horizon {paths} and the ridge NLinear" if task == "forecast" else ""
    return f"the best of {names} (or their average) on validation, within --budget{extra}"


def models_with(task: str, key: str) -> list[str]:
    """The registered models of ``task`` that have the setting ``key``."""
    from convseq.models.registry import get_model, list_models

    return [name for name in list_models(task) if key in get_model(name).defaults]


def auto_options(task: str, options: dict, has_time: bool) -> dict:
    """The user's options with --model auto's data defaults (the user's own win)."""
    if task not in CANDIDATES:
        raise UserError(f"--model auto trains text classifiers and forecasters, not {task}; "
                        "pass --model NAME")  # fmt: skip
    chosen = {**SHAPING[task], **options}
    if task == "forecast" and has_time and "calendar" not in options:
        chosen["calendar"] = True  # daily and yearly cycles, which real series have
    return chosen


def fixed_training(task: str, options: dict) -> list[str]:
    """Training settings of the candidates' recipes that the user set: theirs, for every one."""
    kinds = ("forecast", "paths") if task == "forecast" else (task,)
    recipes = {k for kind in kinds for c in CANDIDATES[kind] for k in c.train}
    return sorted(k for k in options if k in recipes)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        listed = [n for n, p in PRESETS.items() if p.listed]
        raise UserError(
            f"unknown experiment {name!r}{closest(name, listed)}; run 'convseq list' to see them"
        )
    return PRESETS[name]


def list_presets() -> list[Preset]:
    return [PRESETS[n] for n in sorted(PRESETS) if PRESETS[n].listed]
