"""Name -> model, each entry carrying its own defaults, in the spirit of timm's registry.

A builder is a function ``build(shape, *, setting=default, ...)``: ``shape``
says what the data fixes (vocabulary and classes, or features, window and
target), the keyword-only arguments are the model's settings, and their
defaults are the model's defaults. Presets and ``--model`` start from them;
``config.json`` and the weights record the name, shape and settings, which
rebuild the model exactly. Model modules register themselves on import.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from convseq.config import coerce, flag
from convseq.errors import UserError, closest
from convseq.models.calibrated import Calibrated
from convseq.models.ensemble import Ensemble


@dataclass(frozen=True)
class TextShape:
    """What text data fixes: the vocabulary's size and the logits (1 for two classes)."""

    vocab_size: int
    num_outputs: int = 1
    padding_id: int = 0


@dataclass(frozen=True)
class SeriesShape:
    """What a series fixes: columns, steps per window, the target's column and path length.

    ``absolute_features`` are columns a residual model must not read relative
    to the window's last row (calendar phases). With ``targets`` (column
    indices; ``--horizon``) the model forecasts all of them at every step of
    the path, ``(batch, horizons, targets)``, and with ``quantiles`` each of
    those levels: ``(batch, horizons, targets, quantiles)``.
    """

    num_features: int
    window: int
    target_index: int = 0
    absolute_features: tuple[int, ...] = ()
    horizons: int = 1
    targets: tuple[int, ...] = ()
    quantiles: tuple[float, ...] = ()

    @property
    def layout(self) -> tuple:
        """What a forecaster's output layer needs: ``Anchored``'s arguments after ``residual``."""
        return (
            self.target_index, self.absolute_features, self.horizons, self.targets,
            len(self.quantiles),
        )  # fmt: skip


@dataclass(frozen=True)
class CaseShape:
    """What labelled cases fix: channels, the training cases' longest length, the logits (1 for
    two classes). Inputs are ``(cases, time, channels)``, NaN after each case's end."""

    num_channels: int
    length: int
    num_outputs: int = 1


SHAPES = {"text": TextShape, "forecast": SeriesShape, "classify": CaseShape}


def example_shape(task: str) -> TextShape | SeriesShape | CaseShape:
    if task == "classify":
        return CaseShape(num_channels=2, length=40)
    return TextShape(vocab_size=50) if task == "text" else SeriesShape(num_features=3, window=96)


def example_input(shape, batch: int = 2, length: int = 64) -> torch.Tensor:
    """A small input batch for ``shape``: token ids, or windows of normal noise."""
    generator = torch.Generator().manual_seed(0)
    if isinstance(shape, TextShape):
        return torch.randint(1, shape.vocab_size, (batch, length), generator=generator)
    if isinstance(shape, CaseShape):  # the last case ends early: NaN padding after it
        cases = torch.randn(batch, shape.length, shape.num_channels, generator=generator)
        cases[-1, shape.length // 2 :] = float("nan")
        return cases
    return torch.randn(batch, shape.window, shape.num_features, generator=generator)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str  # "text", "forecast" or "classify"
    build: Callable[..., nn.Module]
    description: str
    defaults: dict  # every setting with its default: the builder's keyword-only arguments
    help: dict = field(default_factory=dict)
    trainable: bool = True
    example_settings: dict = field(default_factory=dict)  # small values for smoke tests

    def settings(self, overrides: dict | None = None) -> dict:
        """The defaults with ``overrides``, typed as the defaults; unknown names are refused."""
        chosen = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in self.defaults:
                known = ", ".join(self.defaults) or "none"
                raise UserError(
                    f"model {self.name!r} has no setting {key!r}{closest(key, self.defaults)}; "
                    f"its settings are: {known}"
                )
            chosen[key] = coerce(key, setting_type(self.defaults[key]), value)
            check_sign(key, chosen[key], self.defaults[key])
        return chosen

    def make(self, shape, settings: dict | None = None) -> nn.Module:
        """The model for ``shape`` with its defaults plus ``settings``."""
        chosen = self.settings(settings)
        try:
            return self.build(shape, **chosen)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # torch's own checks
            shown = " ".join(f"{flag(k)} {v}" for k, v in chosen.items() if v != self.defaults[k])
            raise UserError(
                f"model {self.name!r} cannot be built with {shown or 'its defaults'} ({exc})"
            ) from None

    def check(self, settings: dict) -> nn.Module:
        """Build a small copy, so impossible settings fail before any data is read.

        Settings left at their defaults take the entry's small example values;
        settings the user changed are built as given.
        """
        small = {
            k: self.example_settings[k]
            if k in self.example_settings and v == self.defaults[k]
            else v
            for k, v in settings.items()
        }
        with torch.random.fork_rng(devices=[]):  # its random weights must not shift the run's
            return self.make(example_shape(self.task), small)


def check_sign(key: str, value, default) -> None:
    """No model takes a negative count or size, nor zero where its default is positive, nor a
    dropout outside [0, 1)."""
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if "dropout" in key and not 0 <= v < 1:
            raise UserError(f"{flag(key)} must be at least 0 and below 1, got {v}")
        if v < 0 or (isinstance(v, int) and v == 0 and _positive(default)):
            least = "at least 1" if isinstance(v, int) else "0 or more"
            raise UserError(f"{flag(key)} must be {least}, got {v}")


def _positive(default) -> bool:
    values = default if isinstance(default, list) else [default]
    return all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)


def setting_type(default) -> type:
    if isinstance(default, list):
        return list[type(default[0]) if default else str]
    return type(default)


_ENTRIES: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    task: str,
    description: str,
    help: dict | None = None,
    trainable: bool = True,
    example_settings: dict | None = None,
):
    """Register ``build(shape, *, settings...)``; its keyword-only defaults are the model's."""

    def decorate(build):
        params = inspect.signature(build).parameters.values()
        defaults = {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}
        for key, value in defaults.items():  # a setting must have a type the CLI can parse
            kind = type(value[0]) if isinstance(value, list) and value else type(value)
            if kind not in (bool, int, float, str):
                raise TypeError(f"model {name!r}: setting {key!r} needs a bool, int, float, str "
                                f"or non-empty list default, not {value!r}")  # fmt: skip
        _ENTRIES[name] = ModelEntry(
            name, task, build, description, defaults, help or {}, trainable, example_settings or {}
        )
        return build

    return decorate


def _load_all() -> None:
    """Import every module of this package so their ``@register_model`` lines run."""
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"convseq.models.{info.name}")


def list_models(task: str | None = None) -> list[str]:
    _load_all()
    return sorted(n for n, e in _ENTRIES.items() if task is None or e.task == task)


def get_model(name: str, task: str | None = None) -> ModelEntry:
    names = list_models(task)
    if name not in names:
        kind = f"{task} " if task else ""
        raise UserError(
            f"unknown {kind}model {name!r}{closest(name, names)}; choose one of {', '.join(names)}"
        )
    return _ENTRIES[name]


def build_model(name: str, shape, settings: dict | None = None) -> nn.Module:
    return get_model(name).make(shape, settings)


def rebuild(metadata: dict) -> nn.Module:
    """A model from the name, shape and settings recorded with its weights; an average of
    models (``--model auto``) from its members' records."""
    if "members" in metadata:
        return Ensemble([rebuild(member) for member in metadata["members"]])
    if metadata.get("calibrated"):  # a quantile model with validation margins
        inner = rebuild({k: v for k, v in metadata.items() if k != "calibrated"})
        shape = metadata["shape"]
        return Calibrated(inner, shape["horizons"], len(shape["targets"]))
    entry = get_model(metadata["model"])
    shape = dict(metadata["shape"])
    for key in ("absolute_features", "targets", "quantiles"):  # tuples, written to JSON as lists
        if key in shape:
            shape[key] = tuple(shape[key])
    with torch.random.fork_rng(devices=[]):  # initial weights, replaced by the saved ones
        return entry.make(SHAPES[entry.task](**shape), metadata["settings"])
