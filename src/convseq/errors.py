"""One exception type for mistakes the user can fix.

The CLI turns a ``UserError`` into a single line on stderr and exit code 2, so
every check that guards user input raises this instead of a bare exception.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input, with the fix in the message."""


class ModelDoesNotFit(UserError):
    """The data is fine but too small for this model (windows or texts too short): a run of
    that model stops, and ``--model auto`` leaves the model out."""


def closest(name: str, choices) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def exit_code_of(main: Callable[[], int]) -> int:
    """``main()``'s exit code, or 2 with one line on stderr when it raises a ``UserError``.

    For scripts with no CLI around them (``benchmarks/``): bad input ends
    there as it does in ``convseq``, with no traceback.
    """
    try:
        return main()
    except UserError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
