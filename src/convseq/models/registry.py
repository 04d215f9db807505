"""Name -> model builder, in the spirit of timm's registry.

Builders are plain functions taking keyword arguments, so a model is fully
described by its name plus a dict of settings that ``config.json`` records.
Model modules register themselves on import; ``_load_all`` imports them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from convseq.errors import UserError, closest

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    def decorate(fn):
        _BUILDERS[name] = fn
        return fn

    return decorate


def _load_all() -> None:
    """Import every module of this package so their ``@register_model`` lines run."""
    import importlib
    import pkgutil

    import convseq.models as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"convseq.models.{info.name}")


def list_models() -> list[str]:
    _load_all()
    return sorted(_BUILDERS)


def build_model(name: str, **settings) -> nn.Module:
    _load_all()
    if name not in _BUILDERS:
        raise UserError(
            f"unknown model {name!r}{closest(name, _BUILDERS)}; choose one of {', '.join(sorted(_BUILDERS))}"
        )
    return _BUILDERS[name](**settings)
