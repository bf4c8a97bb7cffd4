"""The PostgreSQL schema, its forward-only migrations (under an advisory lock), and the pool.

Also the PostgreSQL side of the store's seam (:class:`PostgresDb`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

from monitor.errors import StoreError
from monitor.store._db import Column, Db, Params, Row
from monitor.store._migrations import (
    Types,
    hash_index_tables,
    move_kv_rows,
    review_tables,
    slack_tables,
    spend_table,
    tables,
)

Conn = psycopg.Connection[Any]

#: ``MIGRATIONS[n]`` takes a database from schema version n to n + 1. Append only: a
#: migration that has shipped is never edited, since databases in the field already ran it.
#: Text columns that are compared or sorted use the "C" collation, so that ids sort by
#: byte as they do in SQLite, whatever locale the database was created with.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # 1: the schema of the SQLite store, table for table.
        """CREATE TABLE entities (
            account_id   TEXT COLLATE "C" NOT NULL,
            kind         TEXT COLLATE "C" NOT NULL,
            entity_id    TEXT COLLATE "C" NOT NULL,
            updated_time BIGINT,
            rev          BIGINT NOT NULL,
            blob         BYTEA NOT NULL,
            meta         BYTEA NOT NULL DEFAULT '',
            removed      BOOLEAN NOT NULL DEFAULT false,
            PRIMARY KEY (account_id, kind, entity_id)
        )""",
        # A row here is the mark that a baseline was taken, and with which watched fields.
        """CREATE TABLE snapshots (
            account_id TEXT COLLATE "C" NOT NULL,
            kind       TEXT COLLATE "C" NOT NULL,
            fields     TEXT[] NOT NULL,
            taken_at   DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (account_id, kind)
        )""",
        # The body is the event's exact JSON bytes: JSONB would reorder keys and respell
        # numbers, and consumers get (and webhooks sign) the documented encoding.
        """CREATE TABLE events (
            id          TEXT COLLATE "C" PRIMARY KEY,
            type        TEXT COLLATE "C" NOT NULL,
            account_id  TEXT COLLATE "C" NOT NULL,
            entity_id   TEXT COLLATE "C" NOT NULL,
            detected_at DOUBLE PRECISION NOT NULL,
            body        BYTEA NOT NULL
        )""",
        "CREATE INDEX events_detected_at ON events (detected_at)",
        "CREATE INDEX events_type ON events (type, detected_at)",
        # ON DELETE CASCADE: pruning an event takes its settled deliveries with it. The
        # UNIQUE constraint doubles as the index the foreign key needs on event_id.
        """CREATE TABLE deliveries (
            id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id        TEXT COLLATE "C" NOT NULL
                            REFERENCES events (id) ON DELETE CASCADE,
            route           TEXT COLLATE "C" NOT NULL,
            target          TEXT COLLATE "C" NOT NULL,
            status          TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION NOT NULL,
            last_error      TEXT,
            created_at      DOUBLE PRECISION NOT NULL,
            updated_at      DOUBLE PRECISION NOT NULL,
            UNIQUE (event_id, route, target)
        )""",
        "CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at)",
        """CREATE TABLE accounts (
            account_id           TEXT COLLATE "C" PRIMARY KEY,
            name                 TEXT,
            last_success_at      DOUBLE PRECISION,
            last_attempt_at      DOUBLE PRECISION,
            last_error           TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE kv (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)""",
    ),
    (  # 2: sharing the work between replicas (see _leases).
        # A NULL replica is a released lease; -infinity never blocks a claim.
        """CREATE TABLE account_leases (
            account_id TEXT COLLATE "C" PRIMARY KEY,
            replica    TEXT COLLATE "C",
            expires_at DOUBLE PRECISION NOT NULL DEFAULT '-infinity'
        )""",
        "CREATE INDEX account_leases_replica ON account_leases (replica)",
        """ALTER TABLE deliveries
            ADD COLUMN claimed_by    TEXT COLLATE "C",
            ADD COLUMN claimed_until DOUBLE PRECISION""",
        # Claims poll one target's due rows many times a minute: keep that a short scan.
        """CREATE INDEX deliveries_due_target ON deliveries (target, next_attempt_at, id)
            WHERE status = 'pending'""",
        # `granted` records whether the last take spent a token, so that one
        # INSERT ... ON CONFLICT DO UPDATE ... RETURNING answers the caller.
        """CREATE TABLE budgets (
            key        TEXT COLLATE "C" PRIMARY KEY,
            tokens     DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            granted    BOOLEAN NOT NULL
        )""",
        """CREATE TABLE replicas (
            replica TEXT COLLATE "C" PRIMARY KEY,
            seen_at DOUBLE PRECISION NOT NULL
        )""",
    ),
    (  # 3: snapshots read in id ranges, in the order Pinterest lists (ids as numbers),
        # with each item's raw hash, so a cycle's memory does not grow with the account.
        "ALTER TABLE entities ADD COLUMN raw_hash BIGINT NOT NULL DEFAULT 0",
        """CREATE INDEX entities_by_number
            ON entities (account_id, kind, length(entity_id), entity_id)""",
    ),
    (  # 4: reminders, mutes, targets and credentials in tables of their own (moved out
        # of kv by move_kv_rows); the field set as JSON text, as SQLite stores it, so that
        # both read it with one query.
        *tables(Types(key='TEXT COLLATE "C"', real="DOUBLE PRECISION", blob="BYTEA")),
        "ALTER TABLE snapshots ALTER COLUMN fields TYPE TEXT USING array_to_json(fields)::text",
    ),
    (  # 5: the review clock (monitor.review_clock) and the landing pages found down.
        *review_tables(Types(key='TEXT COLLATE "C"', real="DOUBLE PRECISION", blob="BYTEA")),
    ),
    (  # 6: the web board reads one ad's history (its timeline, when it was rejected or
        # entered review) by entity, type and time, without scanning every event.
        "CREATE INDEX events_by_entity ON events (entity_id, type, detected_at)",
    ),
    (  # 7: the last spend figures per ad (monitor.analytics), for reminders and restarts.
        spend_table('TEXT COLLATE "C"', "DOUBLE PRECISION", ""),
    ),
    (  # 8: each ad's Slack thread per slack-bot target (monitor.notify.slack).
        *slack_tables(Types(key='TEXT COLLATE "C"', real="DOUBLE PRECISION", blob="BYTEA")),
    ),
    (  # 9: a steady cycle compares each page with its range's packed hashes, not rows.
        *hash_index_tables(Types(key='TEXT COLLATE "C"', real="DOUBLE PRECISION", blob="BYTEA")),
    ),
)

#: What a migration does to the data, after its statements: by the version it makes.
DATA_MIGRATIONS: Final[dict[int, Callable[[Db], None]]] = {4: move_kv_rows}

#: The schema version this code reads and writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: First key of the migration advisory lock ("pin"); the second is the schema's name, so
#: deployments in different schemas of one database do not wait for each other.
_LOCK_CLASS: Final = 0x70696E
#: Rows per batch statement: big enough to amortise the round trip, small enough that
#: one statement's parameters stay a few megabytes.
_BATCH: Final = 5_000
# `:name` but not the `::` of a cast.
_NAMED: Final = re.compile(r"(?<![:\w]):(\w+)")


@functools.lru_cache(maxsize=1024)
def pyformat(sql: str) -> bytes:
    """``sql`` in SQLite's parameter style (``?``, ``:name``) in psycopg's (``%s``, ``%(x)s``)."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%")).replace("?", "%s").encode()


class PostgresDb(Db):
    """A pooled PostgreSQL connection (autocommit: we say BEGIN ourselves)."""

    begin_write = "BEGIN"
    # One snapshot of the database for several reads (the field set and the blobs
    # encoded with it must match).
    begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        """Run one statement; results come in binary (bytea without hex decoding)."""
        return self.conn.execute(pyformat(sql), params, binary=True)

    def execute_many(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement per set of parameters, pipelined: one round trip in all;
        psycopg's row count sums the statements'."""
        if not params:
            return 0
        with self.conn.cursor() as cur:
            cur.executemany(pyformat(sql), params)
            return max(cur.rowcount, 0)

    def insert_many(
        self, table: str, columns: Sequence[Column], rows: Sequence[Sequence[object]], tail: str
    ) -> int:
        """One ``INSERT ... SELECT FROM unnest(arrays)`` per few thousand rows: a round trip
        per batch, not per row."""
        names = ", ".join(name for name, _ in columns)
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}".encode()
        count = 0
        for start in range(0, len(rows), _BATCH):
            chunk = rows[start : start + _BATCH]
            cur = self.conn.execute(sql, [list(column) for column in zip(*chunk, strict=True)])
            count += max(cur.rowcount, 0)
        return count

    def stream(self, sql: str, params: Params = ()) -> Iterator[Row]:
        """A server-side cursor fetched 10,000 rows at a time."""
        with self.conn.cursor(name="pinmon_stream", binary=True) as cur:
            cur.itersize = 10_000
            cur.execute(pyformat(sql), params)
            yield from cur

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (or failed and not yet rolled back)."""
        return self.conn.info.transaction_status != TransactionStatus.IDLE


def connect(url: str, *, max_connections: int, timeout_s: float) -> ConnectionPool[Conn]:
    """Migrate the database at ``url``, then open a pool of autocommit connections to it.

    Raises:
        StoreError: The server cannot be reached, refuses the login, or holds a schema
            written by a newer pinmon.
    """
    # Imported here: the read-only commands open one connection (`connect_one`) and
    # need no pool, nor its threads.
    from psycopg_pool import ConnectionPool

    where = describe(url)
    try:
        conninfo = _conninfo(url)
        with psycopg.Connection.connect(conninfo, autocommit=True) as conn:
            migrate(conn, where)
        pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max_connections,
            timeout=timeout_s,
            configure=functools.partial(_limit_statements, timeout_s=timeout_s),
            # A checkout costs one round trip, and a call made after a database restart
            # or failover does not fail: the pool replaces dead connections, not lends them.
            check=ConnectionPool.check_connection,
            name="pinmon",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=timeout_s)
        except BaseException:
            pool.close()
            raise
    except psycopg.Error as exc:
        raise StoreError(f"{where}: cannot open the state database: {exc}") from exc
    return pool


def connect_one(url: str, *, timeout_s: float) -> Conn:
    """One autocommit connection to the database at ``url``, migrated like :func:`connect`
    does and with the same statement timeout: what a read-only command needs.

    Raises:
        StoreError: As :func:`connect`.
    """
    where = describe(url)
    try:
        conn = psycopg.Connection.connect(_conninfo(url), autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"{where}: cannot open the state database: {exc}") from exc
    try:
        migrate(conn, where)
        _limit_statements(conn, timeout_s=timeout_s)
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(f"{where}: cannot open the state database: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _conninfo(url: str) -> str:
    params = conninfo_to_dict(url)
    # Connections show up as pinmon in pg_stat_activity; an unreachable host fails
    # within seconds instead of the kernel's TCP timeout. The URL's own values win.
    return make_conninfo(
        url,
        application_name=params.get("application_name", "pinmon"),
        connect_timeout=params.get("connect_timeout", "10"),
    )


def _limit_statements(conn: Conn, *, timeout_s: float) -> None:
    # No statement runs longer than a call may take.
    timeout = f"{int(timeout_s * 1000)}ms"
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout,))


def describe(url: str) -> str:
    """``url`` without its password, to name the database in errors and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


def schema_version(conn: Conn) -> int:
    """The version the database is at: 0 before the first migration."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: Conn, where: str, *, target: int = SCHEMA_VERSION) -> None:
    """Bring the database at ``conn`` (autocommit) to schema version ``target``.

    Several replicas may start at once: the first takes a transaction-scoped advisory
    lock and migrates, the others wait on the lock, re-read the version and find nothing
    to do. All pending migrations run in one transaction (PostgreSQL DDL is
    transactional), so a failed upgrade leaves the old schema and data as they were.

    Raises:
        StoreError: The database was written by a newer pinmon (checked before anything
            is changed).
    """
    # The common case (already current) takes no lock and writes nothing.
    version = schema_version(conn)
    _check(version, where)
    if version >= target:
        return
    db = PostgresDb(conn)
    with db.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(current_schema(), '')))",
            (_LOCK_CLASS,),
        )
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                version    INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )"""
        )
        # Re-read under the lock: another replica may have migrated meanwhile.
        version = schema_version(conn)
        _check(version, where)
        for number in range(version + 1, target + 1):
            for sql in MIGRATIONS[number - 1]:
                conn.execute(sql.encode())
            if number in DATA_MIGRATIONS:
                DATA_MIGRATIONS[number](db)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))


def _check(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: the state database has schema version {version}, newer than this "
            f"pinmon understands ({SCHEMA_VERSION}); upgrade pinmon or use another database"
        )
