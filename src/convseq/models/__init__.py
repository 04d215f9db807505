"""Model zoo: every model is built by name through the registry."""

from convseq.models.registry import build_model, list_models, register_model

__all__ = ["build_model", "list_models", "register_model"]
