"""convseq: sequence processing with 1D convolutional networks on PyTorch.

Importing it changes nothing in the process: thread counts, environment
variables and allocator settings are the ``convseq`` command's business
(``convseq/cli.py``).
"""

from convseq.version import __version__

__all__ = ["__version__", "load", "run", "train_classify", "train_forecast", "train_text"]


def __getattr__(name: str):
    # the API pulls in torch; importing it on first use keeps `import convseq` (and the CLI) quick
    if name in ("load", "run", "train_text", "train_forecast", "train_classify"):
        from convseq import api

        return getattr(api, name)
    raise AttributeError(f"module 'convseq' has no attribute {name!r}")
