"""What an item from Pinterest must be to be believed: a usable id, a stamp not from the
future; and how an unusable one is quoted in a log. Pure.

Everything Pinterest sends is evidence, not authority: one item without an id must not
silence an account, and one stamp from the year 2100 must not make every later change of
that ad look stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

#: How far past "now" an ``updated_time`` may lie and still be a version: clock skew
#: between Pinterest and us is seconds; a stamp beyond this is an API fault.
FUTURE_TOLERANCE_S: Final = 300.0

#: How much of an item is quoted when it is reported as bad: enough to recognise it.
EXCERPT_BYTES: Final = 120


@dataclass(frozen=True, slots=True)
class BadItem:
    """An item that was skipped: no usable id, or it does not decode as its kind.

    Attributes:
        page: Which page of the listing (1-based) it came in.
        excerpt: Its first bytes, printable.
        error: Why it was unusable.
    """

    page: int
    excerpt: str
    error: str


#: Longest id accepted: Pinterest ids are 64-bit integers (at most 20 digits).
MAX_ID_DIGITS: Final = 20


def usable_id(entity_id: object) -> bool:
    """Whether ``entity_id`` is the digit string Pinterest ids are (kept as strings)."""
    return (
        isinstance(entity_id, str)
        and 0 < len(entity_id) <= MAX_ID_DIGITS
        and entity_id.isascii()
        and entity_id.isdigit()
    )


def excerpt(raw: bytes | msgspec.Raw) -> str:
    """The start of a raw item as one short printable line, for a log."""
    data = memoryview(raw)
    text = bytes(data[:EXCERPT_BYTES]).decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text)
    return text + ("…" if len(data) > EXCERPT_BYTES else "")


def trusted_stamp(stamp: int | None, until: float | None) -> int | None:
    """``stamp`` as a version, or None when it cannot be one (after ``until``, or < 0).

    ``until`` None trusts every stamp (pure tests of other rules).
    """
    if stamp is None or until is None:
        return stamp
    return stamp if 0 <= stamp <= until else None
