"""convseq: sequence processing with 1D convolutional networks on PyTorch."""

__version__ = "0.1.0"

__all__ = ["__version__", "load", "train_forecast", "train_text"]


def __getattr__(name: str):
    # The API pulls in torch; importing it lazily keeps `import convseq` (and the CLI) quick.
    if name in ("load", "train_text", "train_forecast"):
        from convseq import api

        return getattr(api, name)
    raise AttributeError(f"module 'convseq' has no attribute {name!r}")
