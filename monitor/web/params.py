"""Query and form values, checked: a malformed one is a 400 page, never a 500."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

#: Longest free text a form may set (a mute's reason).
MAX_TEXT: Final = 300


class BadParam(ValueError):
    """A query or form value the board cannot use; the message names it for the 400 page."""


def digits(values: Mapping[str, str], name: str) -> str | None:
    """An optional Pinterest id (digits only, at most 32)."""
    value = values.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 32:
        raise BadParam(f"{name}: {value[:40]!r} is not an id (digits only)")
    return value


def required_digits(values: Mapping[str, str], name: str) -> str:
    """A Pinterest id that must be given."""
    value = digits(values, name)
    if value is None:
        raise BadParam(f"{name}: required")
    return value


def choice(values: Mapping[str, str], name: str, allowed: Sequence[str], default: str) -> str:
    """One of ``allowed``; ``default`` when absent."""
    value = values.get(name) or default
    if value not in allowed:
        raise BadParam(f"{name}: {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def text(values: Mapping[str, str], name: str, *, limit: int = MAX_TEXT) -> str | None:
    """Optional free text, stripped, at most ``limit`` characters."""
    value = (values.get(name) or "").strip()
    if len(value) > limit:
        raise BadParam(f"{name}: longer than {limit} characters")
    return value or None


def token_like(values: Mapping[str, str], name: str, *, prefix: str = "") -> str | None:
    """An opaque identifier of ours (an event id, an outbox key): printable, short."""
    value = values.get(name)
    if value is None or value == "":
        return None
    ok = len(value) <= 128 and value.isascii() and value.isprintable() and " " not in value
    if not ok or not value.startswith(prefix):
        raise BadParam(f"{name}: {value[:40]!r} is not a valid value")
    return value


def safe_next(value: str | None) -> str:
    """Where the login form returns to: a path on this board only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


#: The highest page number a list accepts (50 rows a page: five million rows).
MAX_PAGE: Final = 100_000


def page_number(values: Mapping[str, str], name: str = "page") -> int:
    """A page of a list, from 1; 1 when absent."""
    value = digits(values, name)
    if value is None:
        return 1
    number = int(value)
    if not 1 <= number <= MAX_PAGE:
        raise BadParam(f"{name}: a page from 1 to {MAX_PAGE}")
    return number
