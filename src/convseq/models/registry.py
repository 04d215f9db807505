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
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from convseq.config import coerce
from convseq.errors import UserError, closest


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
    to the window's last row (calendar phases).
    """

    num_features: int
    window: int
    target_index: int = 0
    absolute_features: tuple[int, ...] = ()
    horizons: int = 1


SHAPES = {"text": TextShape, "forecast": SeriesShape}


def example_shape(task: str) -> TextShape | SeriesShape:
    return TextShape(vocab_size=50) if task == "text" else SeriesShape(num_features=3, window=96)


def example_input(shape, batch: int = 2, length: int = 64) -> torch.Tensor:
    """A small input batch for ``shape``: token ids, or windows of normal noise."""
    generator = torch.Generator().manual_seed(0)
    if isinstance(shape, TextShape):
        return torch.randint(1, shape.vocab_size, (batch, length), generator=generator)
    return torch.randn(batch, shape.window, shape.num_features, generator=generator)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str  # "text" or "forecast"
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
        return chosen

    def make(self, shape, settings: dict | None = None) -> nn.Module:
        """The model for ``shape`` with its defaults plus ``settings``."""
        try:
            return self.build(shape, **self.settings(settings))
        except ValueError as exc:
            raise UserError(f"model {self.name!r}: {exc}") from None

    def check(self, settings: dict) -> None:
        """Build a small copy, so impossible settings fail before any data is read."""
        self.make(example_shape(self.task), {**settings, **self.example_settings})


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
        _ENTRIES[name] = ModelEntry(
            name, task, build, description, defaults, help or {}, trainable, example_settings or {}
        )
        return build

    return decorate


def _load_all() -> None:
    """Import every module of this package so their ``@register_model`` lines run."""
    import convseq.models as package

    for info in pkgutil.iter_modules(package.__path__):
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
    """A model from the name, shape and settings recorded with its weights."""
    entry = get_model(metadata["model"])
    shape = SHAPES[entry.task](**metadata["shape"])
    if isinstance(shape, SeriesShape):
        shape = SeriesShape(
            **{**asdict(shape), "absolute_features": tuple(shape.absolute_features)}
        )
    return entry.make(shape, metadata["settings"])
