"""The seam between the store and a database: one connection, and what differs per backend.

The concept modules (``snapshots``, ``outbox``, ``accounts``, ``settings``) are synchronous
functions of a :class:`Db`. Their SQL is written once, in SQLite's parameter style (``?``
and ``:name``); SQLite (3.24+) and PostgreSQL share ``INSERT ... ON CONFLICT``, ``CAST``
and ``coalesce``, so only what truly differs is a method here, implemented per backend:
how a transaction begins, how a batch of rows goes in (``executemany`` against
``unnest`` over arrays), how a large result is streamed, and the parameter style.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeAlias, TypeVar, TypeVarTuple

from monitor.errors import StoreError

#: One result row.
Row: TypeAlias = tuple[Any, ...]
#: Positional (``?``) or named (``:name``) parameters.
Params: TypeAlias = Sequence[object] | Mapping[str, object]
#: A column of a batch insert: its name and its PostgreSQL type (for ``unnest``).
Column: TypeAlias = tuple[str, str]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: How many values one ``IN (...)`` list binds: under SQLite's host-parameter limit.
CHUNK: int = 500


class Cursor(Protocol):
    """What the concept modules read from an executed statement (DB-API)."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        ...


class Db(ABC):
    """One borrowed connection; each backend implements the few statements that differ."""

    #: Opens a transaction that writes; another writer waits for it to end.
    begin_write: str = "BEGIN"
    #: Opens a transaction that reads one consistent snapshot.
    begin_read: str = "BEGIN"

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement written in SQLite's parameter style."""

    @abstractmethod
    def execute_many(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement once per set of parameters (pipelined where the driver can);
        returns how many rows they changed in all."""

    @abstractmethod
    def insert_many(
        self, table: str, columns: Sequence[Column], rows: Sequence[Sequence[object]], tail: str
    ) -> int:
        """``INSERT INTO table (columns) <rows> tail`` (``tail``: an ``ON CONFLICT`` clause);
        returns how many rows were inserted or updated."""

    @abstractmethod
    def stream(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """The rows of a large result, a batch at a time (inside a transaction)."""

    @property
    @abstractmethod
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the connection."""

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        return self.execute(sql, params).fetchall()

    def any_of(
        self, sql: str, values: Sequence[object], params: Sequence[object] = ()
    ) -> list[Row]:
        """Rows of ``sql`` (whose ``{marks}`` stands for a list of ``?``) for every value,
        in chunks of :data:`CHUNK`; ``params`` bind before the list."""
        rows: list[Row] = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            rows += self.all(sql.format(marks=marks(len(chunk))), (*params, *chunk))
        return rows

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Db]:
        """One transaction: committed when the block ends, rolled back on any error."""
        self.execute(self.begin_write if write else self.begin_read)
        try:
            yield self
            self.execute("COMMIT")
        except BaseException:
            if self.in_transaction:
                self.execute("ROLLBACK")
            raise


def marks(count: int) -> str:
    """``?, ?, ...`` for ``count`` parameters."""
    return ", ".join("?" * count)


def call(
    lend: Callable[[str], AbstractContextManager[Db]],
    op: str,
    func: Callable[[Db, *_Ts], _T],
    args: tuple[*_Ts],
    *,
    where: str,
    errors: tuple[type[Exception], ...],
) -> _T:
    """``func(db, *args)`` on a connection ``lend(op)`` gives; the driver's ``errors``
    become a :class:`StoreError` naming the database and the operation.

    The one way a store call runs, whether in the async store's worker thread or in the
    read-only commands' own thread (``store/direct.py``), so both fail alike.
    """
    try:
        with lend(op) as db:
            return func(db, *args)
    except errors as exc:
        raise StoreError(f"{where}: {op} failed: {exc}") from exc
