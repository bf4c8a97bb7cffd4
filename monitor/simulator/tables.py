"""Typed reading of scenario tables (TOML or admin JSON), collecting one line per problem.

Scenario files are written by people rehearsing alerts: every mistake should come back
at once, each naming the file, the key path and the reason, never as a traceback.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from monitor.errors import ConfigError


class Problems:
    """Collects problems for one source (a file name or ``request``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []

    def add(self, where: str, reason: str) -> None:
        """Record that the value at ``where`` (a key path) is wrong for ``reason``."""
        self.lines.append(
            f"{self.source}: {where}: {reason}" if where else f"{self.source}: {reason}"
        )

    def raise_if_any(self) -> None:
        """Raise the collected problems as one :class:`ConfigError`.

        Raises:
            ConfigError: If any problem was recorded.
        """
        if self.lines:
            raise ConfigError(list(self.lines))


def join(where: str, key: str | int) -> str:
    """The key path of ``key`` inside ``where``: ``accounts[0].name``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def check_keys(table: Mapping[str, Any], allowed: Collection[str], where: str, p: Problems) -> None:
    """Report every key of ``table`` that is not in ``allowed`` (typos must not pass silently)."""
    for key in table:
        if key not in allowed:
            p.add(join(where, key), f"unknown key (expected one of: {', '.join(sorted(allowed))})")


def get_str(table: Mapping[str, Any], key: str, where: str, p: Problems) -> str | None:
    """``table[key]`` if it is a string; None (and a problem if present) otherwise."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        p.add(join(where, key), f"expected a string, got {type(value).__name__}")
        return None
    return value


def get_id(table: Mapping[str, Any], key: str, where: str, p: Problems) -> str | None:
    """An entity id: a digit string of at most 18 digits, as the spec's ``^\\d+$`` says.

    Integers are accepted and turned into strings because TOML makes ``id = 123`` natural.
    """
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not value.isdigit() or not value.isascii() or len(value) > 18:
        p.add(join(where, key), f"expected a digit string id (up to 18 digits), got {value!r}")
        return None
    return value


def get_number(
    table: Mapping[str, Any], key: str, where: str, p: Problems, *, integer: bool = False
) -> float | None:
    """``table[key]`` as a non-negative number (an int if ``integer``); None if absent or bad."""
    value = table.get(key)
    if value is None:
        return None
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or value < 0:
        kind = "a non-negative integer" if integer else "a non-negative number"
        p.add(join(where, key), f"expected {kind}, got {value!r}")
        return None
    return value  # type: ignore[no-any-return]


def get_bool(table: Mapping[str, Any], key: str, where: str, p: Problems) -> bool | None:
    """``table[key]`` if it is a boolean; None (and a problem if present) otherwise."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        p.add(join(where, key), f"expected true or false, got {value!r}")
        return None
    return value


def get_choice(
    table: Mapping[str, Any], key: str, choices: Collection[str], where: str, p: Problems
) -> str | None:
    """``table[key]`` if it is one of ``choices``."""
    value = get_str(table, key, where, p)
    if value is not None and value not in choices:
        p.add(join(where, key), f"{value!r} is not one of: {', '.join(choices)}")
        return None
    return value


def get_str_list(
    table: Mapping[str, Any],
    key: str,
    where: str,
    p: Problems,
    *,
    choices: Collection[str] | None = None,
) -> list[str] | None:
    """``table[key]`` as a list of strings, each in ``choices`` if given."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        p.add(join(where, key), "expected a list of strings")
        return None
    if choices is not None:
        bad = [v for v in value if v not in choices]
        if bad:
            p.add(join(where, key), f"unknown value(s) {', '.join(map(repr, bad))}")
            return None
    return list(value)


def get_tables(
    table: Mapping[str, Any], key: str, where: str, p: Problems
) -> list[Mapping[str, Any]]:
    """``table[key]`` as a list of tables (``[[key]]`` in TOML); [] if absent or bad."""
    value = table.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        p.add(join(where, key), "expected a list of tables (use [[...]] in TOML)")
        return []
    return value


def get_table(
    table: Mapping[str, Any], key: str, where: str, p: Problems
) -> Mapping[str, Any] | None:
    """``table[key]`` if it is a table."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        p.add(join(where, key), "expected a table")
        return None
    return value
