"""The PostgreSQL store's own guarantees: migrations, and replicas sharing the work.

The shared contract runs against both backends in test_store.py and
test_store_settings.py, the migrations in test_migrations.py; these need
``PINMON_TEST_POSTGRES`` too and skip without it, except the few that need no server
(backend choice, URL masking).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import psycopg
import pytest

from monitor.errors import StoreError
from monitor.events import Event, to_json
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import Credentials, Settlement, _pg_schema
from monitor.store.factory import open_state
from monitor.store.postgres import PostgresStore, describe, open_postgres
from monitor.store.sqlite import SqliteStore
from tests.test_store import PG_SKIP, PG_URL, pg_schema

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

needs_pg = pytest.mark.skipif(PG_URL is None, reason=PG_SKIP)

T0 = 1_000.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema, dropped after the test."""
    if PG_URL is None:
        pytest.skip(PG_SKIP)
    with pg_schema(f"t_{secrets.token_hex(8)}") as url:
        yield url


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three replicas' stores on the same database, closed after the test."""
    opened = [await open_postgres(pg_url) for _ in range(3)]
    yield opened
    for store in opened:
        await store.close()


def event(n: int, *, type_: str = "ad.rejected", at: float = T0) -> Event:
    return Event(
        id=f"evt_{n:04d}",
        type=type_,
        entity="ad",
        entity_id=f"e{n}",
        ad_account_id="acc",
        detected_at=at,
    )


async def sql(url: str, query: str) -> list[tuple[object, ...]]:
    """Run one statement on its own connection; its rows (none for a command)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(query.encode())
        return await cur.fetchall() if cur.description else []


# -- migrations ---------------------------------------------------------------------------


@needs_pg
async def test_empty_database_is_migrated(pg_url: str) -> None:
    """A first open creates every table and records each migration once."""
    store = await open_postgres(pg_url)
    await store.close()
    versions = await sql(pg_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(n,) for n in range(1, _pg_schema.SCHEMA_VERSION + 1)]
    tables = {t for (t,) in await sql(pg_url, "SELECT tablename FROM pg_tables"
                                      " WHERE schemaname = current_schema()")}  # fmt: skip
    assert {"entities", "events", "deliveries", "kv", "account_leases", "budgets"} <= tables


@needs_pg
async def test_previous_version_is_upgraded_with_its_data(pg_url: str) -> None:
    """A version-1 database keeps its data and gains the replica tables and claim columns."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _pg_schema.migrate(conn, "test", target=1)
        conn.execute(
            "INSERT INTO entities (account_id, kind, entity_id, updated_time, rev, blob, meta)"
            " VALUES ('acc', 'ad', 'a', 7, 2, 'blob', 'meta')"
        )
        conn.execute("INSERT INTO snapshots VALUES ('acc', 'ad', '{status}', 1)")
        conn.execute(
            "INSERT INTO events VALUES ('evt_0001', 'ad.rejected', 'acc', 'e1', %s, %s)",
            (T0, to_json(event(1))),
        )
        conn.execute(
            "INSERT INTO deliveries (event_id, route, target, next_attempt_at, created_at,"
            " updated_at) VALUES ('evt_0001', 'r', 't', %s, %s, %s)",
            (T0, T0, T0),
        )
        conn.execute("INSERT INTO kv VALUES ('oauth.refresh_token', 'r1')")
    assert await sql(pg_url, "SELECT to_regclass('account_leases')") == [(None,)]

    store = await open_postgres(pg_url)
    try:
        snapshot = await store.load_snapshot("acc", Kind.AD)
        assert snapshot.entities == {"a": Stored(7, 2, b"blob")}
        assert snapshot.fields == ("status",)
        assert await store.entity_meta("acc", Kind.AD, ["a"]) == {"a": b"meta"}
        # The token moved out of the key/value table with schema 4 (test_migrations.py).
        assert await store.credentials() == Credentials("", None, None, "r1")
        (claimed,) = await store.claim_deliveries("r1", T0, target="t", limit=5, lease_s=30)
        assert claimed.event == event(1)
        assert await store.lease_accounts("r1", ["acc"], ttl_s=30, now=T0) == ["acc"]
    finally:
        await store.close()
    versions = await sql(pg_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(n,) for n in range(1, _pg_schema.SCHEMA_VERSION + 1)]


@needs_pg
async def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Several replicas opening an empty database at once all succeed (advisory lock)."""
    opened: list[PostgresStore] = []

    async def start() -> None:
        opened.append(await open_postgres(pg_url))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(start)
    for store in opened:
        await store.close()
    assert len(opened) == 4
    versions = await sql(pg_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(n,) for n in range(1, _pg_schema.SCHEMA_VERSION + 1)]


@needs_pg
async def test_newer_schema_is_a_store_error(pg_url: str) -> None:
    """A database migrated by a newer pinmon is refused, untouched, with a clear message."""
    store = await open_postgres(pg_url)
    await store.close()
    await sql(pg_url, "INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(StoreError, match=r"schema version 99, newer than this pinmon"):
        await open_postgres(pg_url)
    assert (await sql(pg_url, "SELECT max(version) FROM schema_version")) == [(99,)]


async def test_unreachable_server_is_a_store_error_without_password() -> None:
    """A server that cannot be reached fails with a StoreError naming it, password masked."""
    with pytest.raises(StoreError, match=r"postgresql://postgres@127\.0\.0\.1:1/x") as info:
        await open_postgres("postgresql://postgres:hunter2@127.0.0.1:1/x?connect_timeout=2")
    assert "hunter2" not in str(info.value)
    assert (
        describe("postgres://u:pw@db.example:6432/pinmon")
        == "postgresql://u@db.example:6432/pinmon"
    )


# -- the backend is chosen by the state setting ---------------------------------------------


async def test_open_state_picks_sqlite_for_a_path(tmp_path: Path) -> None:
    """A file path (str or Path) opens the SQLite store."""
    for spec in (tmp_path / "a.db", str(tmp_path / "b.db")):
        store = await open_state(spec)
        assert isinstance(store, SqliteStore)
        await store.close()


async def test_open_state_refuses_a_url_mangled_into_a_path(tmp_path: Path) -> None:
    """A PostgreSQL URL that went through Path() is an error, not a stray SQLite file."""
    with pytest.raises(StoreError, match="PostgreSQL URL read as a file path"):
        await open_state(tmp_path / Path("postgresql://u@h/db"))
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == []


@needs_pg
async def test_open_state_picks_postgres_for_a_url(pg_url: str) -> None:
    """Both URL spellings open the PostgreSQL store."""
    for spec in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        store = await open_state(spec)
        assert isinstance(store, PostgresStore)
        await store.close()


# -- backend details the contract does not reach --------------------------------------------


@needs_pg
async def test_lost_connections_are_replaced(pg_url: str) -> None:
    """Connections the server dropped (a restart, a failover) cost no failed call."""
    app = f"pinmon_{secrets.token_hex(4)}"
    store = await open_postgres(f"{pg_url}&application_name={app}")
    try:
        await store.set_values({"k": "v"})
        await sql(pg_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          f" WHERE application_name = '{app}'")  # fmt: skip
        assert await store.get_value("k") == "v"
    finally:
        await store.close()


@needs_pg
async def test_cancelled_commit_still_completes(stores: list[PostgresStore]) -> None:
    """Cancelling a task mid-commit waits for the transaction: all rows or none, never half."""
    rows = [SnapshotRow(f"{i:06d}", Stored(1, 1, b"x", b"m")) for i in range(50_000)]

    async def commit() -> None:
        await stores[0].commit_cycle(
            "acc", Kind.AD, fields=(), rows=rows, events=[], deliveries=[], at=T0
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(commit)
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    assert len((await stores[0].load_snapshot("acc", Kind.AD)).entities) == 50_000


@needs_pg
async def test_key_prefixes(stores: list[PostgresStore]) -> None:
    """Prefix reads and deletes treat '_' and '%' literally; delete_keys counts what existed."""
    store = stores[0]
    await store.set_values({"mute.a_1": "1", "mute.ab1": "2", "mute%": "3", "other": "4"})
    assert await store.get_prefix("mute.a_") == {"mute.a_1": "1"}
    assert await store.delete_keys(["mute.ab1", "missing", "mute.ab1"]) == 1
    assert await store.clear_prefix("mute") == 2
    assert await store.get_prefix("") == {"other": "4"}


# -- account leases --------------------------------------------------------------------------


@needs_pg
async def test_concurrent_leases_never_overlap(stores: list[PostgresStore]) -> None:
    """Three replicas leasing 300 accounts at once hold disjoint sets that cover them all."""
    accounts = [f"acc{n:03d}" for n in range(300)]
    share = math.ceil(len(accounts) / len(stores))
    ever: dict[str, set[str]] = {f"r{i}": set() for i in range(len(stores))}

    async def replica(name: str, store: PostgresStore) -> None:
        for round_ in range(6):
            held = await store.lease_accounts(
                name, accounts, ttl_s=60, now=T0 + round_, limit=share
            )
            assert len(held) <= share
            ever[name].update(held)

    async with anyio.create_task_group() as tg:
        for i, store in enumerate(stores):
            tg.start_soon(replica, f"r{i}", store)

    # Leases never expire here (ttl 60, six seconds pass) and nobody holds more than its
    # share, so an account handed to one replica at any point was never handed to another.
    sets = list(ever.values())
    assert all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    assert set().union(*sets) == set(accounts)


@needs_pg
async def test_expired_lease_is_taken_over(stores: list[PostgresStore]) -> None:
    """A renewed lease holds; once a replica stops renewing, another takes over after ttl_s."""
    a, b = stores[0], stores[1]
    ids = ["x", "y"]
    assert await a.lease_accounts("a", ids, ttl_s=30, now=T0) == ids
    assert await b.lease_accounts("b", ids, ttl_s=30, now=T0 + 10) == []
    assert await a.lease_accounts("a", ids, ttl_s=30, now=T0 + 20) == ids  # renewed to +50
    assert await b.lease_accounts("b", ids, ttl_s=30, now=T0 + 40) == []
    assert await b.lease_accounts("b", ids, ttl_s=30, now=T0 + 50) == ids  # a went quiet
    assert await a.lease_accounts("a", ids, ttl_s=30, now=T0 + 51) == []


@needs_pg
async def test_limit_and_release_hand_accounts_over(stores: list[PostgresStore]) -> None:
    """A lower limit sheds the excess and a release frees the rest, both at once."""
    a, b = stores[0], stores[1]
    ids = [f"acc{n}" for n in range(6)]
    assert await a.lease_accounts("a", ids, ttl_s=60, now=T0) == ids
    assert await a.lease_accounts("a", ids, ttl_s=60, now=T0 + 1, limit=4) == ids[:4]
    assert await b.lease_accounts("b", ids, ttl_s=60, now=T0 + 2) == ids[4:]
    await a.release_accounts("a", ids[:2])
    await a.release_accounts("someone-else", ids[2:])  # not theirs: nothing happens
    assert await b.lease_accounts("b", ids, ttl_s=60, now=T0 + 3) == [*ids[:2], *ids[4:]]


# -- delivery claims -------------------------------------------------------------------------


@needs_pg
async def test_claims_are_exclusive_until_settled_or_expired(
    stores: list[PostgresStore],
) -> None:
    """Concurrent claims hand each due delivery to one replica; a lapsed claim is due again."""
    pairs = [(f"evt_{n:04d}", "r", "hook") for n in range(30)]
    pairs += [(f"evt_{n:04d}", "r", "slack") for n in range(5)]
    await stores[0].record_events([event(n) for n in range(30)], deliveries=pairs, at=T0)
    claimed: dict[int, str] = {}

    async def replica(name: str, store: PostgresStore) -> None:
        while batch := await store.claim_deliveries(name, T0, target="hook", limit=4, lease_s=30):
            for d in batch:
                assert d.target == "hook"
                assert d.id not in claimed, "claimed twice"
                claimed[d.id] = name
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for i, store in enumerate(stores):
            tg.start_soon(replica, f"r{i}", store)
    assert len(claimed) == 30

    a = stores[0]
    assert [d.target for d in await a.due_deliveries(T0 + 29)] == ["slack"] * 5
    first, second, *_ = sorted(claimed)
    await a.mark_failed(first, error="HTTP 503", at=T0 + 1, retry_at=T0 + 2)
    await a.mark_delivered(second, at=T0 + 1)
    # The failed one is due again at once (its claim went with the attempt); the others
    # only once their claims lapse at T0 + 30; the delivered one never.
    retry = await a.claim_deliveries("r9", T0 + 2, target="hook", limit=100, lease_s=30)
    assert [d.id for d in retry] == [first]
    lapsed = await a.claim_deliveries("r9", T0 + 30, target="hook", limit=100, lease_s=30)
    assert sorted(d.id for d in lapsed) == sorted(claimed)[2:]


@needs_pg
async def test_a_probe_claims_the_oldest_whatever_its_slot(stores: list[PostgresStore]) -> None:
    """A replica's probe claims the oldest queued row even before its retry slot, and no
    other replica's probe or claim gets it while the claim lasts."""
    a, b = stores[0], stores[1]
    await a.record_events(
        [event(n) for n in range(2)], deliveries=[(f"evt_{n:04d}", "r", "hook") for n in range(2)],
        at=T0,
    )  # fmt: skip
    first, _ = await a.due_deliveries(T0, target="hook")
    await a.settle_many([Settlement.failed(first, T0 + 1, "HTTP 503", T0 + 300)])
    (probe,) = await a.claim_deliveries(
        "r1", T0 + 2, target="hook", limit=1, lease_s=30, probe=True
    )
    assert probe.id == first.id
    (other,) = await b.claim_deliveries(
        "r2", T0 + 2, target="hook", limit=1, lease_s=30, probe=True
    )
    assert other.id != first.id
    assert await b.claim_deliveries("r2", T0 + 2, target="hook", limit=5, lease_s=30) == []


@needs_pg
async def test_settle_many_releases_claims(stores: list[PostgresStore]) -> None:
    """Outcomes settled together release their claims as mark_* does: a retried row is
    due again at its retry time, not when its claim would have lapsed."""
    a = stores[0]
    await a.record_events(
        [event(n) for n in range(3)], deliveries=[(f"evt_{n:04d}", "r", "hook") for n in range(3)],
        at=T0,
    )  # fmt: skip
    first, second, third = await a.claim_deliveries("r1", T0, target="hook", limit=5, lease_s=30)
    settled = await a.settle_many(
        [Settlement.failed(first, T0 + 1, "HTTP 503", T0 + 2), Settlement.delivered(second, T0 + 1)]
    )
    assert settled == 2
    retry = await stores[1].claim_deliveries("r2", T0 + 2, target="hook", limit=5, lease_s=30)
    assert [d.id for d in retry] == [first.id]
    lapsed = await stores[1].claim_deliveries("r2", T0 + 30, target="hook", limit=5, lease_s=30)
    assert [d.id for d in lapsed] == [third.id]


# -- the shared budget and heartbeats --------------------------------------------------------


@needs_pg
async def test_budget_is_shared_and_never_overspent(stores: list[PostgresStore]) -> None:
    """Sixty concurrent takes at one instant get exactly `limit`; then it refills at the rate."""
    waits: list[float] = []

    async def take(store: PostgresStore) -> None:
        waits.append(await store.take_budget("token:u1", limit=10, window_s=60, now=T0))

    async with anyio.create_task_group() as tg:
        for n in range(60):
            tg.start_soon(take, stores[n % len(stores)])
    assert sorted(waits)[:11] == [0.0] * 10 + [pytest.approx(6.0)]

    a = stores[0]
    assert await a.take_budget("token:u1", limit=10, window_s=60, now=T0 + 3) == pytest.approx(3)
    assert await a.take_budget("token:u1", limit=10, window_s=60, now=T0 + 6) == 0.0
    assert await a.take_budget("token:u1", limit=10, window_s=60, now=T0 + 6) > 0
    assert await a.take_budget("token:u2", limit=10, window_s=60, now=T0 + 6) == 0.0
    # A clock behind the last taker's refills nothing rather than going backwards.
    assert await stores[1].take_budget("token:u1", limit=10, window_s=60, now=T0) > 0


@needs_pg
async def test_budget_rate_over_a_long_run(stores: list[PostgresStore]) -> None:
    """Callers polling every second for five minutes get at most a burst plus the rate."""
    granted: list[float] = []
    for second in range(300):
        now = T0 + second
        for store in stores:
            if await store.take_budget("k", limit=10, window_s=60, now=now) == 0.0:
                granted.append(now)
    # A token bucket's bound: over any span, the burst (`limit`) plus the refill.
    for start in granted:
        for span in (1.0, 60.0, 150.0):
            in_span = sum(1 for t in granted if start <= t < start + span)
            assert in_span <= 10 + 10 * span / 60
    assert len(granted) == 10 + 299 * 10 // 60


@needs_pg
async def test_heartbeat_counts_live_replicas(stores: list[PostgresStore]) -> None:
    """Replicas count as live for two ttls after their last heartbeat."""
    a, b, c = stores
    assert await a.heartbeat("a", now=T0, ttl_s=10) == 1
    assert await b.heartbeat("b", now=T0 + 5, ttl_s=10) == 2
    assert await c.heartbeat("c", now=T0 + 10, ttl_s=10) == 3
    assert await a.heartbeat("a", now=T0 + 25, ttl_s=10) == 3  # b was seen 20 s ago
    assert await a.heartbeat("a", now=T0 + 26, ttl_s=10) == 2  # b is gone
    assert await b.heartbeat("b", now=T0 + 27, ttl_s=10) == 3  # and back
