"""The experiment registry behind ``convseq list`` and ``convseq run NAME``.

An experiment is a name, a one-line description, a dict of default settings
(which becomes the CLI's options, typed by their default values) and a
``run(settings, folder)`` function that returns the final metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from convseq.errors import UserError, closest

# Settings every experiment has, with their help text.
COMMON_HELP = {
    "epochs": "training epochs",
    "batch_size": "samples per batch",
    "lr": "learning rate",
    "optimizer": "rmsprop (Keras defaults), adam, adamw or sgd",
    "weight_decay": "L2 / decoupled weight decay",
    "schedule": "learning-rate schedule: none, cosine, onecycle or plateau",
    "grad_clip": "clip the global gradient norm to this value (0 = off)",
    "patience": "stop after this many epochs without a better validation score, restoring the best weights (0 = off)",
    "seed": "random seed for data order, initialisation and dropout",
    "ema": "evaluate and save a moving average of the weights with this decay per step "
    "(e.g. 0.99; 0 = off, the last weights)",
    "data_dir": "folder holding the dataset file (else $CONVSEQ_DATA, then the cache, then download)",
    "limit": "use only N training and N test samples (0 = all), for quick trials",
}
# The trainer's settings with the reference's values (RMSprop at Keras's defaults);
# each family of presets overrides what differs (epochs, batch size, ...).
TRAINING_DEFAULTS = {
    "lr": 1e-3,
    "optimizer": "rmsprop",
    "weight_decay": 0.0,
    "schedule": "none",
    "grad_clip": 0.0,
    "patience": 0,
    "seed": 0,
    "ema": 0.0,
}
TRAINING_KEYS = (
    "epochs",
    "optimizer",
    "lr",
    "weight_decay",
    "schedule",
    "grad_clip",
    "patience",
    "seed",
    "ema",
    "shards",
)


@dataclass
class Experiment:
    name: str
    description: str
    dataset: str
    defaults: dict
    run: Callable[[dict, object], dict]
    help: dict = field(default_factory=dict)
    check: Callable[[dict], None] | None = None

    def validate(self, settings: dict) -> None:
        """Refuse impossible settings before anything is loaded or written."""
        for key in ("epochs", "batch_size", "shards"):
            if key in settings and settings[key] < 1:
                raise UserError(
                    f"--{key.replace('_', '-')} must be at least 1, got {settings[key]}"
                )
        for key in ("lr",):
            if key in settings and settings[key] <= 0:
                raise UserError(f"--lr must be positive, got {settings[key]}; pass e.g. --lr 0.001")
        for key in ("limit", "patience", "grad_clip", "weight_decay", "threads"):
            if key in settings and settings[key] < 0:
                raise UserError(
                    f"--{key.replace('_', '-')} must be 0 or positive, got {settings[key]}"
                )
        if "ema" in settings and not 0 <= settings["ema"] < 1:
            raise UserError(
                f"--ema must be 0 (off) or a decay below 1, got {settings['ema']}; e.g. 0.99"
            )
        from convseq.training.optim import OPTIMIZERS, SCHEDULES

        for key, names in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
            if key in settings and settings[key] not in names:
                raise UserError(
                    f"unknown --{key} {settings[key]!r}{closest(settings[key], names)}; "
                    f"choose one of {', '.join(names)}"
                )
        if self.check:
            self.check(settings)

    def help_for(self, key: str) -> str:
        return self.help.get(key) or COMMON_HELP.get(key, "")


_EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    _EXPERIMENTS[experiment.name] = experiment
    return experiment


def _load_all() -> None:
    """Import every module of this package so their ``register(...)`` lines run."""
    import importlib
    import pkgutil

    import convseq.experiments as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"convseq.experiments.{info.name}")


def list_experiments() -> list[Experiment]:
    _load_all()
    return [_EXPERIMENTS[k] for k in sorted(_EXPERIMENTS)]


def get_experiment(name: str) -> Experiment:
    _load_all()
    if name not in _EXPERIMENTS:
        raise UserError(
            f"unknown experiment {name!r}{closest(name, _EXPERIMENTS)}; "
            "run 'convseq list' to see them"
        )
    return _EXPERIMENTS[name]
