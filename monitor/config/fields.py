"""Reading one config table: typed getters that record a problem instead of raising."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from monitor import vocab
from monitor.config.types import ENTITY_STATUSES, Secret

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: Any id in a config (campaigns, ads) is a digit string...
_ACCOUNT_ID = re.compile(r"^\d+$")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?", re.IGNORECASE)
_UNIT_BYTES: Final = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def parse_duration(value: object, *, zero_ok: bool = False) -> float:
    """``"5m"``, ``"1h30m"``, ``"30s"``, ``"2d"`` or a number of seconds → seconds.

    Args:
        zero_ok: Accept ``0`` (``"0s"``, ``0``) for settings where none is a meaning
            (no jitter, no grouping window), not a mistake.

    Raises:
        ValueError: not a duration, not finite (TOML has ``inf`` and ``nan``), negative,
            or zero when ``zero_ok`` is false.
    """
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "30s", "5m" or a number of seconds')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            if text == "0":
                return _at_least_zero(0.0, zero_ok)
            raise ValueError(f'{value!r} is not a duration such as "30s", "5m", "1h" or "2d"')
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    else:
        raise ValueError('expected a duration such as "30s", "5m" or a number of seconds')
    if not math.isfinite(seconds):
        raise ValueError("must be a finite duration")
    return _at_least_zero(seconds, zero_ok)


def _at_least_zero(seconds: float, zero_ok: bool) -> float:
    if seconds < 0:
        raise ValueError("must not be negative")
    if seconds == 0 and not zero_ok:
        raise ValueError("must be greater than zero")
    return seconds


def duration_or_zero(value: object) -> float:
    """:func:`parse_duration` for settings where ``0`` means "none" (jitter, group_interval)."""
    return parse_duration(value, zero_ok=True)


def _interpolate(value: Any, key: str, env: Mapping[str, str], problems: list[str]) -> Any:
    """Replace ``${VAR}`` from the environment in every string; ``$$`` is a literal ``$``."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "$"
            if name not in env:
                problems.append(f"{key}: environment variable {name} is not set")
                return ""
            return env[name]

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_interpolate(v, f"{key}[{i}]", env, problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{key}.{k}" if key else k, env, problems) for k, v in value.items()
        }
    return value


T = TypeVar("T")


class _Reader:
    """Typed access to one table that records a problem instead of raising."""

    def __init__(self, table: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
        self.table = table
        self.prefix = prefix
        self.problems = problems
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(f"{self.key(name)}: {reason}")

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        self.used.add(name)
        if name not in self.table:
            return default
        try:
            return convert(self.table[name])
        except (ValueError, TypeError) as exc:
            self.problem(name, str(exc))
            return default

    def unknown(self) -> None:
        for name in self.table:
            if name not in self.used:
                self.problem(name, "unknown key")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _nonempty_str(value: Any) -> str:
    text = _str(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _secret(value: Any) -> Secret:
    return Secret(_nonempty_str(value))


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _pos_int(limit: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {type(value).__name__}")
        if not 1 <= value <= limit:
            raise ValueError(f"must be between 1 and {limit}")
        return value

    return convert


def _str_list(check: Callable[[str], str | None] | None = None) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list of strings, got {type(value).__name__}")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise TypeError(f"item {i} must be a non-empty string")
            if check is not None and (reason := check(item)) is not None:
                raise ValueError(f"item {i}: {reason}")
            out.append(item)
        return tuple(out)

    return convert


def _account_id(item: str) -> str | None:
    # ...and an ad account id is what the API's path parameter allows, or every request
    # for it would be refused.
    if vocab.AD_ACCOUNT_ID.fullmatch(item):
        return None
    return f"{item!r} is not an ad account id (1 to 18 digits)"


def _entity_status(item: str) -> str | None:
    return (
        None if item in ENTITY_STATUSES else f"{item!r} is not one of {', '.join(ENTITY_STATUSES)}"
    )


def _url(value: Any) -> str:
    text = _nonempty_str(value).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("expected an http:// or https:// URL")
    return text


def _default_state(base: Path) -> Path | str:
    return base / "pinmon-state.db"


def _state_path(base: Path) -> Callable[[Any], Path | str]:
    def convert(value: Any) -> Path | str:
        text = _nonempty_str(value)
        if text.startswith(("postgresql://", "postgres://")):
            return text  # a URL stays a URL; Path() would fold its '//'
        path = Path(text).expanduser()
        # Relative to the config file, so a service finds the same file whatever its cwd.
        return path if path.is_absolute() else base / path

    return convert


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a table, got {type(value).__name__}")
    return value


def parse_size(value: object) -> int:
    """``"8MB"``, ``"512KB"`` or a number of bytes → bytes (binary units: 1 MB = 1024 KB).

    Raises:
        ValueError: not a size, or not positive.
    """
    if isinstance(value, bool):
        raise ValueError('expected a size such as "8MB", "512KB" or a number of bytes')
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        size = int(float(match.group(1)) * _UNIT_BYTES[(match.group(2) or "b").lower()])
    else:
        raise ValueError('expected a size such as "8MB", "512KB" or a number of bytes')
    if size <= 0:
        raise ValueError("must be greater than zero")
    return size
