"""Train, validation and test row ranges from ``--splits``.

Either row ranges, ``["0:8640", "8640:11520", "11520:"]`` (an empty end is
the end of the file), or fractions of the rows, ``["0.7", "0.15", "0.15"]``
(on the command line: ``--splits 0.7,0.15,0.15``). A range
past the end of the file is refused with the file's row count, never cut
short silently.
"""

from __future__ import annotations

from convseq.errors import UserError

SPLIT_NAMES = ("train", "validation", "test")
EXAMPLE = "pass e.g. '0:8640,8640:11520,11520:14400' or '0.7,0.15,0.15'"


def parse_splits(
    parts: list[str], rows: int | None, source: str = "the file"
) -> list[tuple[int, int]]:
    """Three (start, end) row ranges; with ``rows`` None only the syntax is checked."""
    text = ",".join(parts)
    parts = [p.strip() for p in parts]
    if len(parts) != 3:
        raise UserError(
            f"--splits needs three parts (train, validation, test), got {text!r}; {EXAMPLE}"
        )
    if all(":" in p for p in parts):
        ranges = [_row_range(p, rows) for p in parts]
    elif any(":" in p for p in parts):
        raise UserError(f"--splits {text!r} mixes fractions and row ranges; {EXAMPLE}")
    else:
        ranges = _fractions(text, parts, rows)
    if rows is None:
        return ranges
    for name, (lo, hi) in zip(SPLIT_NAMES, ranges, strict=True):
        if hi > rows or lo >= rows:
            raise UserError(
                f"the {name} split {lo}:{hi} lies past the end of {source}, which has {rows:,} "
                f"rows; fix --splits (e.g. fractions such as 0.7,0.15,0.15)"
            )
        if not lo < hi:
            raise UserError(f"the {name} split {lo}:{hi} is empty; fix --splits")
    return ranges


def _row_range(part: str, rows: int | None) -> tuple[int, int]:
    start, _, end = part.partition(":")
    try:
        lo, hi = int(start or 0), int(end) if end else None
    except ValueError:
        raise UserError(f"--splits part {part!r} is not a row range START:END; {EXAMPLE}") from None
    if lo < 0 or (hi is not None and hi <= lo):
        raise UserError(f"--splits part {part!r} is not a range of rows (START < END); {EXAMPLE}")
    if hi is None:  # to the end of the file
        hi = rows if rows is not None else lo + 1
    return lo, hi


def _fractions(text: str, parts: list[str], rows: int | None) -> list[tuple[int, int]]:
    try:
        fractions = [float(p) for p in parts]
    except ValueError:
        raise UserError(
            f"--splits {text!r} is neither row ranges nor fractions; {EXAMPLE}"
        ) from None
    if any(f <= 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise UserError(f"--splits fractions must be positive and sum to at most 1, got {text!r}")
    if rows is None:
        return [(0, 1)] * 3
    bounds, total = [0], 0.0
    for f in fractions:
        total += f
        bounds.append(int(round(total * rows)))
    return [(bounds[k], bounds[k + 1]) for k in range(3)]
