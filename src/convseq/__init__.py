"""convseq: sequence processing with 1D convolutional networks on PyTorch."""

import os as _os

# Waiting OpenMP threads spin by default, stealing the core that another
# process or torch's other thread needs: on a busy 2-core machine that made
# training about 5x slower. Sleeping waiters cost little on an idle machine.
# A default only, and it must be set before torch loads (the CLI imports
# this package first).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["__version__", "load", "train_forecast", "train_text"]


def __getattr__(name: str):
    # The API pulls in torch; importing it lazily keeps `import convseq` (and the CLI) quick.
    if name in ("load", "train_text", "train_forecast"):
        from convseq import api

        return getattr(api, name)
    raise AttributeError(f"module 'convseq' has no attribute {name!r}")
