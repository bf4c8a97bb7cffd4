"""Choosing the state backend from the configured ``state``: a PostgreSQL URL or a file path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeGuard

from monitor.errors import StoreError

if TYPE_CHECKING:
    from monitor.store import StateStore

#: URL schemes that select the PostgreSQL backend (libpq accepts both spellings).
POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")

# What a PostgreSQL URL becomes once read as a path: Path collapses "//" to "/".
_MANGLED_URL: Final = re.compile(r"^postgres(ql)?:$")


def is_postgres_url(spec: str | Path) -> TypeGuard[str]:
    """Whether ``spec`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(spec, str) and spec.startswith(POSTGRES_SCHEMES)


async def open_state(spec: str | Path) -> StateStore:
    """Open the state store that ``spec`` names, migrated to the current schema.

    ``postgresql://`` and ``postgres://`` URLs open :class:`~monitor.store.postgres.
    PostgresStore` (imported only then, so SQLite users never load the driver); anything
    else is a SQLite file path, created on first run.

    Raises:
        StoreError: The store cannot be opened (see ``open_store`` and ``open_postgres``),
            or ``spec`` is a PostgreSQL URL that was turned into a file path.
    """
    if is_postgres_url(spec):
        from monitor.store.postgres import open_postgres

        return await open_postgres(spec)
    from monitor.store.sqlite import open_store

    return await open_store(sqlite_path(spec))


def sqlite_path(spec: str | Path) -> Path:
    """``spec`` (not a PostgreSQL URL) as the path of a SQLite file.

    Raises:
        StoreError: ``spec`` is a PostgreSQL URL that was turned into a file path.
    """
    path = Path(spec)
    if any(_MANGLED_URL.match(part) for part in path.parts):
        # Opening it would quietly create a SQLite file in a directory named "postgresql:".
        raise StoreError(
            f"{path}: this looks like a PostgreSQL URL read as a file path; "
            "pass the state setting to open_state as a string"
        )
    return path
