"""The SQLite schema, its forward-only migrations, and opening a private, durable connection.

Also the SQLite side of the store's seam (:class:`SqliteDb`), which the migrations use.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final

from monitor.errors import StoreError
from monitor.store._db import Column, Db, Params, Row, marks
from monitor.store._migrations import (
    Types,
    hash_index_tables,
    move_kv_rows,
    review_tables,
    slack_tables,
    spend_table,
    tables,
)

#: ``MIGRATIONS[n]`` takes a database from ``PRAGMA user_version`` n to n + 1. Append only:
#: a migration that has shipped is never edited, since databases in the field already ran it.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 1: the initial schema.
        # WITHOUT ROWID: the primary key is the only lookup, and the blobs are a few dozen
        # bytes, so clustering rows on it makes loading a snapshot one range scan.
        """CREATE TABLE entities (
            account_id   TEXT NOT NULL,
            kind         TEXT NOT NULL,
            entity_id    TEXT NOT NULL,
            updated_time INTEGER,
            rev          INTEGER NOT NULL,
            blob         BLOB NOT NULL,
            meta         BLOB NOT NULL DEFAULT x'',
            removed      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (account_id, kind, entity_id)
        ) WITHOUT ROWID""",
        # A row here is the mark that a baseline was taken, and with which watched fields.
        """CREATE TABLE snapshots (
            account_id TEXT NOT NULL,
            kind       TEXT NOT NULL,
            fields     TEXT NOT NULL,
            taken_at   REAL NOT NULL,
            PRIMARY KEY (account_id, kind)
        ) WITHOUT ROWID""",
        """CREATE TABLE events (
            id          TEXT PRIMARY KEY,
            type        TEXT NOT NULL,
            account_id  TEXT NOT NULL,
            entity_id   TEXT NOT NULL,
            detected_at REAL NOT NULL,
            body        BLOB NOT NULL
        )""",
        "CREATE INDEX events_detected_at ON events (detected_at)",
        "CREATE INDEX events_type ON events (type, detected_at)",
        # ON DELETE CASCADE: pruning an event takes its settled deliveries with it. The
        # UNIQUE constraint doubles as the index the foreign key needs on event_id.
        """CREATE TABLE deliveries (
            id              INTEGER PRIMARY KEY,
            event_id        TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
            route           TEXT NOT NULL,
            target          TEXT NOT NULL,
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error      TEXT,
            created_at      REAL NOT NULL,
            updated_at      REAL NOT NULL,
            UNIQUE (event_id, route, target)
        )""",
        "CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at)",
        """CREATE TABLE accounts (
            account_id           TEXT PRIMARY KEY,
            name                 TEXT,
            last_success_at      REAL,
            last_attempt_at      REAL,
            last_error           TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID""",
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    ),
    (  # 2: one delivery worker per target asks for that target's due rows only.
        "CREATE INDEX deliveries_due_target ON deliveries (target, status, next_attempt_at, id)",
    ),
    (  # 3: snapshots read in id ranges, in the order Pinterest lists (ids as numbers),
        # with each item's raw hash, so a cycle's memory does not grow with the account.
        "ALTER TABLE entities ADD COLUMN raw_hash INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX entities_by_number"
        " ON entities (account_id, kind, length(entity_id), entity_id)",
    ),
    (  # 4: reminders, mutes, targets and credentials in tables of their own (moved out
        # of kv by move_kv_rows), and the claim columns, so that the outbox SQL is the
        # one PostgreSQL runs (on SQLite nobody claims: they stay NULL).
        *tables(Types(key="TEXT", real="REAL", blob="BLOB", table=" WITHOUT ROWID")),
        "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT",
        "ALTER TABLE deliveries ADD COLUMN claimed_until REAL",
    ),
    (  # 5: `pinmon status` counts live entities by stored state and finds the rejected
        # ones off this covering index, without reading the table's rows. (PostgreSQL
        # aggregates a sequential scan instead: its b-tree entries are capped at ~2.7 kB,
        # and a blob of long reason labels can be longer.)
        "CREATE INDEX entities_by_state ON entities (account_id, kind, removed, blob)",
    ),
    (  # 6: the review clock (monitor.review_clock) and the landing pages found down.
        *review_tables(Types(key="TEXT", real="REAL", blob="BLOB", table=" WITHOUT ROWID")),
    ),
    (  # 7: the web board reads one ad's history (its timeline, when it was rejected or
        # entered review) by entity, type and time, without scanning every event.
        "CREATE INDEX events_by_entity ON events (entity_id, type, detected_at)",
    ),
    (  # 8: the last spend figures per ad (monitor.analytics), for reminders and restarts.
        spend_table("TEXT", "REAL", " WITHOUT ROWID"),
    ),
    (  # 9: each ad's Slack thread per slack-bot target (monitor.notify.slack).
        *slack_tables(Types(key="TEXT", real="REAL", blob="BLOB", table=" WITHOUT ROWID")),
    ),
    (  # 10: a steady cycle compares each page with its range's packed hashes, not rows.
        *hash_index_tables(Types(key="TEXT", real="REAL", blob="BLOB", table=" WITHOUT ROWID")),
    ),
)

#: What a migration does to the data, after its statements: by the version it makes.
DATA_MIGRATIONS: Final[dict[int, Callable[[Db], None]]] = {4: move_kv_rows}

#: The schema version this code reads and writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: UPSERT (``INSERT ... ON CONFLICT DO UPDATE``) arrived in SQLite 3.24.
_MIN_SQLITE: Final = (3, 24, 0)

#: How long to wait for another process (a `pinmon requeue` next to the daemon) to release
#: the write lock before failing with "database is locked".
BUSY_TIMEOUT_S: Final = 10.0


def connect(path: Path) -> sqlite3.Connection:
    """Open the database at ``path``, creating it owner-only on first run, and migrate it.

    Raises:
        StoreError: The file cannot be opened, is not a SQLite database, or was written
            by a newer pinmon.
    """
    if sqlite3.sqlite_version_info < _MIN_SQLITE:
        raise StoreError(
            f"SQLite {sqlite3.sqlite_version} is too old for pinmon's state store; "
            f"{'.'.join(map(str, _MIN_SQLITE))} or newer is needed"
        )
    try:
        _create_private(path)
        # isolation_level=None: the sqlite3 module must not open transactions behind our
        # back; every write says BEGIN IMMEDIATE itself (see `transaction`).
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot open the state database: {exc}") from exc
    try:
        _check_version(conn, path)
        _configure(conn)
        _migrate(conn, path)
        _ensure_instance(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{path}: cannot open the state database: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteDb(Db):
    """A SQLite connection (opened with ``isolation_level=None``: we say BEGIN ourselves)."""

    # IMMEDIATE takes the write lock up front, so a concurrent writer (a `pinmon
    # redeliver` next to the daemon) makes us wait for busy_timeout at BEGIN instead of
    # failing half-way through with SQLITE_BUSY. DEFERRED reads one consistent snapshot.
    begin_write = "BEGIN IMMEDIATE"
    begin_read = "BEGIN DEFERRED"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement."""
        return self.conn.execute(sql, params)

    def execute_many(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement per set of parameters; its row count sums the statements'."""
        return self.conn.executemany(sql, params).rowcount

    def insert_many(
        self, table: str, columns: Sequence[Column], rows: Sequence[Sequence[object]], tail: str
    ) -> int:
        """``executemany`` of one ``INSERT ... VALUES``; its row count sums the rows'."""
        names = ", ".join(name for name, _ in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks(len(columns))}) {tail}"
        return self.conn.executemany(sql, rows).rowcount

    def stream(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """Iterating the cursor (not fetchall) keeps one row tuple alive at a time."""
        yield from self.conn.execute(sql, params)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self.conn.in_transaction


def make_private_directory(folder: Path) -> None:
    """Create ``folder`` (and its parents) owner-only if missing.

    Raises:
        OSError: It cannot be created; a path component that is a file is named.
    """
    blocking = next((p for p in (folder, *folder.parents) if p.is_file()), None)
    if blocking is not None:
        # mkdir would say "File exists", which names neither the file nor the problem.
        raise NotADirectoryError(f"{blocking} is a file, not a directory")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def _create_private(path: Path) -> None:
    # The file holds OAuth tokens. Creating it ourselves with 0o600 (rather than letting
    # SQLite create it under the process umask) also covers the -wal and -shm sidecars:
    # SQLite gives those the permissions of the database file.
    make_private_directory(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    # Read before changing anything, so a newer pinmon's file is left exactly as it was.
    # This is also the first read of the file: garbage fails here with "not a database".
    version = _user_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the state database has schema version {version}, newer than this "
            f"pinmon understands ({SCHEMA_VERSION}); upgrade pinmon or use another state file"
        )


def _configure(conn: sqlite3.Connection) -> None:
    # WAL lets `pinmon status` read while the daemon writes, and makes commits append-only.
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL fsyncs the WAL at every commit. NORMAL survives a killed process but a power
    # cut can roll back the last commits: deliveries marked delivered would be pending
    # again (alerts sent twice) and a rotated OAuth refresh token written to kv could be
    # lost, leaving the daemon unable to authenticate. One fsync per cycle is cheap.
    conn.execute("PRAGMA synchronous = FULL")
    # Off by default in SQLite; the outbox relies on deliveries pointing at real events.
    conn.execute("PRAGMA foreign_keys = ON")
    # A one-off 200,000-entity baseline grows the WAL; do not keep that much disk after
    # the next checkpoint.
    conn.execute("PRAGMA journal_size_limit = 67108864")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if _user_version(conn) == SCHEMA_VERSION:
        return
    # All pending migrations in one transaction: DDL is transactional in SQLite, so a
    # failed upgrade leaves the old schema and data as they were.
    db = SqliteDb(conn)
    with db.transaction():
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = _user_version(conn)
        _check_version(conn, path)
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for sql in MIGRATIONS[number - 1]:
                conn.execute(sql)
            if number in DATA_MIGRATIONS:
                DATA_MIGRATIONS[number](db)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


#: The key/value row naming this database file: a file swapped in under the same name
#: (a copy, a restore) carries another instance, or none.
INSTANCE_KEY: Final = "store.instance"


def instance_of(conn: sqlite3.Connection) -> str | None:
    """The instance id of the database ``conn`` reads."""
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (INSTANCE_KEY,)).fetchone()
    return None if row is None else str(row[0])


def _ensure_instance(conn: sqlite3.Connection) -> None:
    # Read first: a read-only command beside the daemon must not queue for the write lock.
    if instance_of(conn) is not None:
        return
    with SqliteDb(conn).transaction():
        conn.execute(
            "INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", (INSTANCE_KEY, uuid.uuid4().hex)
        )


def _user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version
