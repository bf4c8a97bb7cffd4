"""Id ranges in numeric order, as index-friendly queries: one per id length.

Pinterest orders listings by id as a number; ids are digit strings, so numeric order is
(length, text). A range over that pair cannot use an index in SQLite or PostgreSQL, but
"this length, text between a and b" can (an index on (account, kind, length(id), id)):
a range becomes one such query per id length it spans — in practice one or two.
"""

from __future__ import annotations

from typing import Final

#: Longest id a tail query looks for; Pinterest's are 12-19 digits.
MAX_ID_LENGTH: Final = 40


def length_spans(
    after: str | None, upto: str | None, lengths: tuple[int, int] | None = None
) -> list[tuple[int, str | None, str | None]]:
    """``(length, lower exclusive, upper inclusive)`` per id length the range covers,
    clamped to the ``lengths`` actually stored when they are known."""
    shortest, longest = lengths if lengths is not None else (1, MAX_ID_LENGTH)
    low = max(len(after) if after is not None else 1, shortest)
    high = min(len(upto) if upto is not None else max(MAX_ID_LENGTH, low), longest)
    return [
        (
            length,
            after if after is not None and length == len(after) else None,
            upto if upto is not None and length == len(upto) else None,
        )
        for length in range(low, high + 1)
    ]
