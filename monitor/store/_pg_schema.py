"""The PostgreSQL schema, its forward-only migrations (under an advisory lock), and the pool."""

from __future__ import annotations

from typing import Any, Final, LiteralString

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from monitor.errors import StoreError

#: ``MIGRATIONS[n]`` takes a database from schema version n to n + 1. Append only: a
#: migration that has shipped is never edited, since databases in the field already ran it.
#: Text columns that are compared or sorted use the "C" collation, so that ids sort by
#: byte as they do in SQLite, whatever locale the database was created with.
MIGRATIONS: Final[tuple[tuple[LiteralString, ...], ...]] = (
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
    (  # 2: sharing the work between replicas (see _pg_leases).
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
)

#: The schema version this code reads and writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)

#: First key of the migration advisory lock ("pin"); the second is the schema's name, so
#: deployments in different schemas of one database do not wait for each other.
_LOCK_CLASS: Final = 0x70696E

Conn = AsyncConnection[Any]


async def connect(url: str, *, max_connections: int, timeout_s: float) -> AsyncConnectionPool[Conn]:
    """Migrate the database at ``url``, then open a pool of autocommit connections to it.

    Raises:
        StoreError: The server cannot be reached, refuses the login, or holds a schema
            written by a newer pinmon.
    """
    where = describe(url)
    try:
        params = conninfo_to_dict(url)
        # Connections show up as pinmon in pg_stat_activity; an unreachable host fails
        # within seconds instead of the kernel's TCP timeout. The URL's own values win.
        conninfo = make_conninfo(
            url,
            application_name=params.get("application_name", "pinmon"),
            connect_timeout=params.get("connect_timeout", "10"),
        )
        async with await AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await migrate(conn, where)
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max_connections,
            timeout=timeout_s,
            # A checkout costs one round trip, and a call made after a database restart
            # or failover does not fail: the pool replaces dead connections, not lends them.
            check=AsyncConnectionPool.check_connection,
            name="pinmon",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=timeout_s)
        except BaseException:
            await pool.close()
            raise
    except psycopg.Error as exc:
        raise StoreError(f"{where}: cannot open the state database: {exc}") from exc
    return pool


def describe(url: str) -> str:
    """``url`` without its password, to name the database in errors and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


async def schema_version(conn: Conn) -> int:
    """The version the database is at: 0 before the first migration."""
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    exists = await cur.fetchone()
    if exists is None or not exists[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def migrate(conn: Conn, where: str, *, target: int = SCHEMA_VERSION) -> None:
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
    version = await schema_version(conn)
    _check(version, where)
    if version >= target:
        return
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(coalesce(current_schema(), '')))",
            (_LOCK_CLASS,),
        )
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                version    INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )"""
        )
        # Re-read under the lock: another replica may have migrated meanwhile.
        version = await schema_version(conn)
        _check(version, where)
        for number in range(version + 1, target + 1):
            for sql in MIGRATIONS[number - 1]:
                await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))


def _check(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: the state database has schema version {version}, newer than this "
            f"pinmon understands ({SCHEMA_VERSION}); upgrade pinmon or use another database"
        )
