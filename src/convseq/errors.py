"""One exception type for mistakes the user can fix.

The CLI turns a ``UserError`` into a single line on stderr and exit code 2, so
every check that guards user input raises this instead of a bare exception.
"""

from __future__ import annotations

import difflib


class UserError(Exception):
    """A problem with the user's input, with the fix in the message."""


def closest(name: str, choices) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""
