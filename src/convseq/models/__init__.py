"""Model zoo: every model is built by name through the registry, from its own defaults."""

from convseq.models.registry import (
    SeriesShape,
    TextShape,
    build_model,
    get_model,
    list_models,
    register_model,
)

__all__ = ["SeriesShape", "TextShape", "build_model", "get_model", "list_models", "register_model"]
