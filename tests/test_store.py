"""The state store contract, run against every backend, plus SQLite's own file guarantees.

PostgreSQL runs too when ``PINMON_TEST_POSTGRES`` names a server (each test in a schema of
its own), and skips otherwise. Mutes, reminders, targets and credentials: test_store_settings.py.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import signal
import sqlite3
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import pytest

from monitor.errors import StoreError
from monitor.events import EVENT_TYPES, Event
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import Settlement, Snapshot, SnapshotInfo, StateStore
from monitor.store.sqlite import STATUSES, open_store

pytestmark = pytest.mark.anyio

Opener = Callable[[Path], Awaitable[StateStore]]

#: A PostgreSQL server to run the contract against too, e.g.
#: postgresql://postgres@127.0.0.1:5432/test; each test gets a schema of its own there.
PG_URL = os.environ.get("PINMON_TEST_POSTGRES")
PG_SKIP = "PINMON_TEST_POSTGRES not set: PostgreSQL contract tests skipped"


def schema_url(url: str, schema: str) -> str:
    """``url`` with its connections' search_path set to ``schema`` (via libpq options)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def schema_for(path: Path) -> str:
    """The PostgreSQL schema standing in for a store file: one per path, so reopening
    the same path finds the same data and every test (own tmp_path) starts empty."""
    return "t_" + hashlib.sha256(str(path).encode()).hexdigest()[:20]


@contextmanager
def pg_schema(schema: str) -> Iterator[str]:
    """Create ``schema`` on the test server, yield a URL that uses it, drop it after."""
    import psycopg

    assert PG_URL is not None
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(PG_URL, schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def open_postgres_at(path: Path) -> StateStore:
    """The PostgreSQL store in the schema standing in for ``path`` (see `schema_for`)."""
    from monitor.store.postgres import open_postgres

    assert PG_URL is not None
    return await open_postgres(schema_url(PG_URL, schema_for(path)))


#: Every backend the contract runs against, by fixture id.
OPENERS: dict[str, Opener] = {"sqlite": open_store, "postgres": open_postgres_at}

T0 = 1_000.0


@pytest.fixture(params=sorted(OPENERS))
def opener(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Opener]:
    """How to open the backend under test at a path (PostgreSQL: in a throwaway schema)."""
    if request.param != "postgres":
        yield OPENERS[request.param]
        return
    if PG_URL is None:
        pytest.skip(PG_SKIP)
    with pg_schema(schema_for(db_path)):
        yield OPENERS[request.param]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's store lives; a missing directory on purpose."""
    return tmp_path / "state" / "pinmon.db"


@pytest.fixture
async def store(opener: Opener, db_path: Path) -> AsyncIterator[StateStore]:
    """A fresh store, closed after the test."""
    s = await opener(db_path)
    yield s
    await s.close()


def stored(
    rev: int = 1, *, status: bytes = b"ACTIVE", removed: bool = False, meta: bool = True
) -> Stored:
    """A stored entity; ``meta=False`` is how load_snapshot returns it (meta stays on disk)."""
    return Stored(1_700_000_000 + rev, rev, b"\x91\xa6" + status, META if meta else b"", removed)


META = b"\x94\xc0\xc0\xc0\xa1n"


def event(n: int, *, type_: str = "ad.rejected", at: float = T0, account: str = "acc") -> Event:
    return Event(
        id=f"evt_{n:04d}",
        type=type_,
        entity=type_.partition(".")[0],
        entity_id=f"e{n}",
        ad_account_id=account,
        detected_at=at,
    )


async def commit(
    store: StateStore,
    *,
    rows: dict[str, Stored] | None = None,
    events: Sequence[Event] = (),
    deliveries: Sequence[tuple[str, str, str]] = (),
    account: str = "acc",
    kind: Kind = Kind.AD,
    fields: tuple[str, ...] = ("status",),
    at: float = T0,
) -> int:
    return await store.commit_cycle(
        account,
        kind,
        fields=fields,
        rows=[SnapshotRow(k, v) for k, v in (rows or {}).items()],
        events=events,
        deliveries=deliveries,
        at=at,
    )


async def one_delivery(store: StateStore, n: int = 1, *, at: float = T0) -> int:
    await commit(store, events=[event(n, at=at)], deliveries=[(f"evt_{n:04d}", "r", "t")], at=at)
    (d,) = [d for d in await store.deliveries(statuses=STATUSES) if d.event.id == f"evt_{n:04d}"]
    return d.id


# -- snapshots and the commit -------------------------------------------------------------


async def test_snapshot_before_first_commit(store: StateStore) -> None:
    """An account and kind never committed load as empty, with no field set (a baseline)."""
    assert await store.load_snapshot("acc", Kind.AD) == Snapshot({}, None)


async def test_snapshot_round_trip(store: StateStore) -> None:
    """Rows and fields come back as committed, upserted per entity, apart per account and kind."""
    await commit(store, rows={"a": stored(1), "b": stored(1)}, fields=("status", "name"))
    await commit(store, rows={"b": stored(2, removed=True), "c": stored(1, status=b"PAUSED")})
    await commit(store, rows={"a": stored(9)}, kind=Kind.CAMPAIGN, fields=())

    ads = await store.load_snapshot("acc", Kind.AD)
    assert ads.fields == ("status",)
    assert ads.entities == {
        "a": stored(1, meta=False),
        "b": stored(2, removed=True, meta=False),
        "c": stored(1, status=b"PAUSED", meta=False),
    }
    assert ads.entities["b"].removed is True
    assert await store.load_snapshot("acc", Kind.CAMPAIGN) == Snapshot(
        {"a": stored(9, meta=False)}, ()
    )
    # Meta stays on disk; entity_meta fetches it for the few entities that need it.
    assert await store.entity_meta("acc", Kind.AD, ["a", "c", "zz"]) == {"a": META, "c": META}
    assert await store.load_snapshot("other", Kind.AD) == Snapshot({}, None)


async def test_state_groups_count_live_entities_by_stored_state(store: StateStore) -> None:
    """`status` counts in the database: live entities per distinct blob, tombstones and
    other accounts and kinds apart; the entities of chosen states come with their meta."""
    empty = await store.state_groups("acc", Kind.AD)
    assert (empty.fields, empty.groups) == (None, [])
    rows = {"a": stored(1), "b": stored(1), "c": stored(1, status=b"PAUSED"),
            "d": stored(1, status=b"PAUSED", removed=True)}  # fmt: skip
    await commit(store, rows=rows, fields=("status",))
    await commit(store, rows={"e": stored(1)}, kind=Kind.CAMPAIGN, fields=())
    await commit(store, rows={"f": stored(1)}, account="other")
    groups = await store.state_groups("acc", Kind.AD)
    assert groups.fields == ("status",)
    active, paused = stored().blob, stored(status=b"PAUSED").blob
    assert sorted(groups.groups) == [(active, 2), (paused, 1)]
    assert await store.entities_in_states("acc", Kind.AD, [paused]) == [("c", paused, META)]
    assert await store.entities_in_states("acc", Kind.AD, []) == []


async def test_deliveries_counted_without_reading_them(store: StateStore) -> None:
    """Counts by status stop at the limit; the first pending is the oldest queued."""
    assert await store.count_deliveries(statuses=["pending"], limit=5) == {"pending": 0}
    assert await store.first_pending() is None
    ids = [await one_delivery(store, n, at=T0 + 10 - n) for n in (1, 2, 3, 4)]
    await store.mark_failed(ids[3], error="gave up", at=T0 + 20, retry_at=None)
    counts = await store.count_deliveries(statuses=["pending", "failed", "dead"], limit=2)
    assert counts == {"pending": 2, "failed": 0, "dead": 1}
    assert await store.count_deliveries(statuses=["pending"], limit=100) == {"pending": 3}
    first = await store.first_pending()
    assert first is not None
    assert first.id == ids[2]  # queued at T0 + 7, the earliest pending
    with pytest.raises(ValueError, match="unknown delivery status"):
        await store.count_deliveries(statuses=["lost"], limit=1)


async def test_failed_commit_changes_nothing(store: StateStore) -> None:
    """A commit that fails half-way leaves the previous snapshot, history and outbox intact."""
    await commit(
        store, rows={"a": stored(1)}, events=[event(1)], deliveries=[("evt_0001", "r", "t")]
    )
    before = await store.load_snapshot("acc", Kind.AD)

    with pytest.raises(StoreError):
        await commit(
            store,
            rows={"a": stored(2), "b": stored(1)},
            fields=("status", "name"),
            events=[event(2)],
            deliveries=[("evt_0002", "r", "t"), ("evt_missing", "r", "t")],
            at=T0 + 60,
        )

    assert await store.load_snapshot("acc", Kind.AD) == before
    assert [e.id for e in await store.events()] == ["evt_0001"]
    assert [d.event.id for d in await store.deliveries(statuses=STATUSES)] == ["evt_0001"]


async def test_recommitted_events_are_not_new(store: StateStore) -> None:
    """Re-committing known events counts 0 new and neither duplicates nor resets deliveries."""
    events = [event(1), event(2)]
    pairs = [("evt_0001", "r", "slack"), ("evt_0001", "r", "hook"), ("evt_0002", "r", "slack")]
    assert await commit(store, events=events, deliveries=pairs) == 2
    first = (await store.due_deliveries(T0))[0]
    await store.mark_delivered(first.id, at=T0 + 1)

    assert await commit(store, events=[*events, event(3)], deliveries=pairs, at=T0 + 60) == 1
    rows = await store.deliveries(statuses=STATUSES)
    assert len(rows) == 3
    assert {d.id: d.status for d in rows}[first.id] == "delivered"


# -- the outbox ---------------------------------------------------------------------------


async def test_delivery_retry_then_success(store: StateStore) -> None:
    """A failed attempt with a retry time is pending but not due until then; success settles it."""
    delivery_id = await one_delivery(store)
    assert await store.due_deliveries(T0 - 1) == []
    (due,) = await store.due_deliveries(T0)
    assert (due.id, due.status, due.attempts, due.event) == (delivery_id, "pending", 0, event(1))
    assert (due.route, due.target, due.created_at, due.last_error) == ("r", "t", T0, None)

    await store.mark_failed(delivery_id, error="HTTP 503", at=T0 + 1, retry_at=T0 + 30)
    assert await store.due_deliveries(T0 + 29) == []
    (due,) = await store.due_deliveries(T0 + 30)
    assert (due.status, due.attempts, due.last_error, due.next_attempt_at) == (
        "pending",
        1,
        "HTTP 503",
        T0 + 30,
    )

    await store.mark_delivered(delivery_id, at=T0 + 31)
    assert await store.due_deliveries(T0 + 10_000) == []
    (done,) = await store.deliveries(statuses=["delivered"])
    assert (done.id, done.attempts) == (delivery_id, 2)


async def test_a_probe_takes_the_oldest_queued_and_expedite_makes_all_due(
    store: StateStore,
) -> None:
    """A probe of a down target takes pending rows in queue order whatever their retry
    slots; a probe's failure ahead of a row's slot keeps its attempts and slot; expedite
    makes every pending row of the target due now, so they go in queue order."""
    first, second, third = [await one_delivery(store, n) for n in (1, 2, 3)]
    await store.settle_many(
        [
            Settlement(first, "evt_0001", "t", "pending", T0 + 1, "HTTP 503", T0 + 300),
            Settlement(second, "evt_0002", "t", "pending", T0 + 1, "HTTP 503", T0 + 5),
        ]
    )
    assert [d.id for d in await store.due_deliveries(T0 + 6, target="t")] == [third, second]
    probe = await store.due_deliveries(T0 + 6, target="t", limit=1, probe=True)
    assert [d.id for d in probe] == [first]  # not due until T0 + 300, but the oldest
    assert await store.due_deliveries(T0 + 6, target="other", probe=True) == []
    await store.settle_many([Settlement.probed(probe[0], T0 + 6, "HTTP 503 again")])
    (row,) = [d for d in await store.deliveries(statuses=["pending"]) if d.id == first]
    assert (row.attempts, row.next_attempt_at, row.last_error) == (1, T0 + 300, "HTTP 503 again")
    assert await store.expedite("t", T0 + 7) == 3
    assert [d.id for d in await store.due_deliveries(T0 + 7, target="t")] == [first, second, third]


async def test_dead_and_rejected_deliveries(store: StateStore) -> None:
    """Giving up marks a delivery dead, a permanent refusal failed; neither is due again."""
    dead, rejected = await one_delivery(store, 1), await one_delivery(store, 2)
    await store.mark_failed(dead, error="retries exhausted", at=T0 + 1, retry_at=None)
    await store.mark_rejected(rejected, error="HTTP 400", at=T0 + 1)

    assert await store.due_deliveries(T0 + 10_000) == []
    by_status = {d.status: d for d in await store.deliveries(statuses=["dead", "failed"])}
    assert (by_status["dead"].id, by_status["dead"].attempts) == (dead, 1)
    assert (by_status["failed"].id, by_status["failed"].last_error) == (rejected, "HTTP 400")
    assert await store.deliveries(statuses=["pending"]) == []


async def test_requeue_by_event_and_failed(store: StateStore) -> None:
    """Requeue by event resends whatever the status; --failed takes every failed and dead one."""
    delivered, dead, rejected, pending = [await one_delivery(store, n) for n in (1, 2, 3, 4)]
    await store.mark_delivered(delivered, at=T0 + 1)
    await store.mark_failed(dead, error="gave up", at=T0 + 1, retry_at=None)
    await store.mark_rejected(rejected, error="HTTP 400", at=T0 + 1)
    await store.mark_failed(pending, error="HTTP 503", at=T0 + 1, retry_at=T0 + 3600)

    assert await store.requeue(event_id="evt_0001") == 1
    assert await store.requeue(event_id="evt_unknown") == 0
    assert await store.requeue(failed=True) == 2

    due = {d.id: d for d in await store.due_deliveries(T0 + 2)}
    assert sorted(due) == sorted([delivered, dead, rejected])
    assert all(d.attempts == 1 for d in due.values())
    assert due[dead].last_error == "gave up"


async def test_deliveries_newest_first(store: StateStore) -> None:
    """The outbox listing shows the newest deliveries first and honours the limit."""
    ids = [await one_delivery(store, n, at=T0 + n) for n in (1, 2, 3)]
    assert [d.id for d in await store.deliveries(statuses=["pending"])] == ids[::-1]
    assert [d.id for d in await store.deliveries(statuses=["pending"], limit=2)] == ids[:0:-1]


async def test_settle_many_records_every_outcome_in_one_call(store: StateStore) -> None:
    """One call settles delivered, retried, dead and refused rows as the mark_* calls would,
    and leaves alone a row that no longer names the outcome's event and target."""
    ids = [await one_delivery(store, n) for n in (1, 2, 3, 4, 5)]
    due = {d.id: d for d in await store.due_deliveries(T0)}
    delivered, retried, dead, refused, stale = (due[i] for i in ids)
    settled = await store.settle_many(
        [
            Settlement.delivered(delivered, T0 + 1),
            Settlement.failed(retried, T0 + 1, "HTTP 503", T0 + 30),
            Settlement.failed(dead, T0 + 1, "retries exhausted", None),
            Settlement.rejected(refused, T0 + 1, "HTTP 400"),
            # The id of a row, but another event: a state started over reuses ids.
            Settlement.delivered(stale, T0 + 1)._replace(event_id="evt_9999"),
            Settlement.delivered(stale, T0 + 1)._replace(delivery_id=12345),
        ]
    )
    assert settled == 4
    rows = {d.id: d for d in await store.deliveries(statuses=STATUSES)}
    assert [(rows[i].status, rows[i].attempts, rows[i].last_error) for i in ids] == [
        ("delivered", 1, None),
        ("pending", 1, "HTTP 503"),
        ("dead", 1, "retries exhausted"),
        ("failed", 1, "HTTP 400"),
        ("pending", 0, None),
    ]
    assert rows[retried.id].next_attempt_at == T0 + 30
    assert [d.id for d in await store.due_deliveries(T0 + 30)] == [stale.id, retried.id]
    assert await store.settle_many([]) == 0


async def test_settling_an_unknown_delivery_fails(store: StateStore) -> None:
    """Marking a delivery id that does not exist is an error, not a silent no-op."""
    with pytest.raises(StoreError, match="no delivery"):
        await store.mark_delivered(12345, at=T0)


# -- event history ------------------------------------------------------------------------


async def test_event_history_filters(store: StateStore) -> None:
    """History is newest first, ``since`` is inclusive, type globs select, limit caps."""
    events = [
        event(1, type_="ad.created", at=T0),
        event(2, type_="ad.rejected", at=T0 + 10),
        event(3, type_="campaign.status_changed", at=T0 + 20),
        event(4, type_="ad.approved", at=T0 + 30),
    ]
    await commit(store, events=events)

    def ids(found: list[Event]) -> list[int]:
        return [int(e.id[4:]) for e in found]

    assert await store.events() == events[::-1]
    assert ids(await store.events(since=T0 + 10)) == [4, 3, 2]
    assert ids(await store.events(types=["ad.*"])) == [4, 2, 1]
    assert ids(await store.events(types=["ad.rejected", "campaign.*"])) == [3, 2]
    assert ids(await store.events(since=T0 + 5, types=["ad.*"], limit=1)) == [4]


@pytest.mark.parametrize(
    "pattern",
    ["ad.*", "*.removed", "*status_changed", "ad.?e*", "ad.[ru]*", "ad.[!ru]*", "[", "*[^a]*"],
)
async def test_type_globs_match_like_fnmatch(store: StateStore, pattern: str) -> None:
    """A type filter selects exactly what fnmatch would, negated sets and stray brackets too."""
    types = sorted(EVENT_TYPES | {"[odd", "^caret"})
    await commit(store, events=[event(n, type_=t) for n, t in enumerate(types)])
    found = {e.type for e in await store.events(types=[pattern])}
    assert found == {t for t in types if fnmatch.fnmatchcase(t, pattern)}


async def test_prune_keeps_events_with_pending_deliveries(store: StateStore) -> None:
    """Pruning drops old settled history with its deliveries, never an event still owed a send."""
    settled, owed = await one_delivery(store, 1), await one_delivery(store, 2)
    await commit(store, events=[event(3), event(4, at=T0 + 100)])
    await store.mark_delivered(settled, at=T0 + 1)

    assert await store.prune_events(before=T0 + 50) == 2
    assert sorted(e.id for e in await store.events()) == ["evt_0002", "evt_0004"]
    assert [d.id for d in await store.deliveries(statuses=STATUSES)] == [owed]


async def test_repeats_within_one_batch(store: StateStore) -> None:
    """A row or event repeated in one commit acts as applied in order."""
    rows = [
        SnapshotRow("a", Stored(1, 1, b"x", b"meta")),
        SnapshotRow("a", Stored(2, 2, b"y", b"")),
    ]
    new = await store.commit_cycle(
        "acc", Kind.AD, fields=(), rows=rows, events=[event(1), event(1)], deliveries=[], at=T0
    )
    assert new == 1
    assert (await store.load_snapshot("acc", Kind.AD)).entities == {"a": Stored(2, 2, b"y")}
    assert await store.entity_meta("acc", Kind.AD, ["a"]) == {"a": b"meta"}


@pytest.mark.parametrize(
    "pattern", ["[z-a]*", "[!z-a]*", "a[b-]*", "*[\\]*", "[]a]*", "[!]", "[c-b-a]", "ad.*[!_]"]
)
async def test_odd_type_globs(store: StateStore, pattern: str) -> None:
    """Empty ranges, stray dashes, backslashes and brackets filter exactly as fnmatch does."""
    types = ["a", "ab", "a-", "a\\b", "]x", "[!]", "c", "-", "ad.x_", "ad.xy", "zz"]
    events = [event(n, type_=t) for n, t in enumerate(types)]
    await store.record_events(events, deliveries=[], at=T0)
    found = {e.type for e in await store.events(types=[pattern])}
    assert found == {t for t in types if fnmatch.fnmatchcase(t, pattern)}


# -- accounts and key/value ---------------------------------------------------------------


async def test_record_poll_counts_failures(store: StateStore) -> None:
    """Failures count up and keep the last success; a success resets the count and error."""
    first = await store.record_poll("acc", name="Shop", ok=False, at=T0, error="HTTP 500")
    assert (first.consecutive_failures, first.last_error, first.last_success_at) == (
        1,
        "HTTP 500",
        None,
    )
    ok = await store.record_poll("acc", name="Shop", ok=True, at=T0 + 60)
    assert (ok.consecutive_failures, ok.last_error, ok.last_success_at) == (0, None, T0 + 60)
    await store.record_poll("acc", name=None, ok=False, at=T0 + 120, error="timeout")
    state = await store.record_poll("acc", name=None, ok=False, at=T0 + 180, error="HTTP 401")

    assert state.name == "Shop"
    assert (state.consecutive_failures, state.last_error) == (2, "HTTP 401")
    assert (state.last_success_at, state.last_attempt_at) == (T0 + 60, T0 + 180)
    assert await store.accounts() == [state]


async def test_key_values_round_trip(store: StateStore) -> None:
    """Values written together read back; a later write replaces; a missing key is None."""
    assert await store.get_value("oauth.refresh_token") is None
    await store.set_values({"oauth.access_token": "a1", "oauth.refresh_token": "r1"})
    await store.set_values({"oauth.access_token": "a2"})
    assert await store.get_value("oauth.access_token") == "a2"
    assert await store.get_value("oauth.refresh_token") == "r1"


# -- lifecycle and concurrency ------------------------------------------------------------


async def test_reopen_keeps_everything(opener: Opener, db_path: Path) -> None:
    """Everything written survives close and reopen; close twice is fine, use after close is not."""
    store = await opener(db_path)
    await commit(
        store, rows={"a": stored(3)}, events=[event(1)], deliveries=[("evt_0001", "r", "t")]
    )
    await store.record_poll("acc", name="Shop", ok=True, at=T0)
    await store.set_values({"k": "v"})
    await store.close()
    await store.close()
    with pytest.raises(StoreError):
        await store.get_value("k")

    again = await opener(db_path)
    try:
        assert await again.load_snapshot("acc", Kind.AD) == Snapshot(
            {"a": stored(3, meta=False)}, ("status",)
        )
        assert await again.events() == [event(1)]
        assert [d.event.id for d in await again.due_deliveries(T0)] == ["evt_0001"]
        assert [a.name for a in await again.accounts()] == ["Shop"]
        assert await again.get_value("k") == "v"
    finally:
        await again.close()


async def test_concurrent_calls(store: StateStore) -> None:
    """Twenty commits and loads from concurrent tasks all succeed without interfering."""
    loaded: list[Snapshot] = []

    async def write(n: int) -> None:
        rows = {f"ad{i}": stored(n) for i in range(200)}
        pairs = [(f"evt_{n:04d}", "r", "t")]
        await commit(store, account=f"acc{n}", rows=rows, events=[event(n)], deliveries=pairs)

    async def read(n: int) -> None:
        loaded.append(await store.load_snapshot(f"acc{n}", Kind.AD))

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(write, n)
            tg.start_soon(read, n)

    assert len(loaded) == 10
    assert all(len(s.entities) in (0, 200) for s in loaded)
    for n in range(10):
        snapshot = await store.load_snapshot(f"acc{n}", Kind.AD)
        assert set(snapshot.entities.values()) == {stored(n, meta=False)}
    assert len(await store.due_deliveries(T0)) == 10


async def test_large_snapshot_loads(store: StateStore) -> None:
    """A 200,000-entity baseline commits and loads back whole."""
    rows = {f"{i:018d}": stored(1) for i in range(200_000)}
    await commit(store, rows=rows)
    snapshot = await store.load_snapshot("acc", Kind.AD)
    assert len(snapshot.entities) == 200_000
    assert snapshot.entities["000000000000199999"] == stored(1, meta=False)


# -- SQLite specifics ---------------------------------------------------------------------


async def test_first_open_creates_private_files(tmp_path: Path) -> None:
    """The database, its WAL sidecars and a directory it had to create are owner-only."""
    path = tmp_path / "new" / "dir" / "pinmon.db"
    store = await open_store(path)
    try:
        await commit(store, rows={"a": stored()}, events=[event(1)])
        files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))]
        assert all(f.exists() for f in files)
        assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(0o600)}
        assert oct(stat.S_IMODE(path.parent.stat().st_mode)) == oct(0o700)
    finally:
        await store.close()


async def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    """A file that is not a SQLite database is refused with its path named, and left untouched."""
    path = tmp_path / "pinmon.db"
    garbage = b"definitely not sqlite\n" * 300
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match=r"pinmon\.db") as info:
        await open_store(path)
    assert "not a database" in str(info.value)
    assert path.read_bytes() == garbage


async def test_newer_schema_is_a_store_error(tmp_path: Path) -> None:
    """A database written by a newer pinmon is refused instead of being misread."""
    path = tmp_path / "pinmon.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await open_store(path)


async def test_commit_survives_sigkill(tmp_path: Path) -> None:
    """A process killed right after commit_cycle returned loses nothing (WAL, synchronous=FULL)."""
    path = tmp_path / "pinmon.db"
    script = textwrap.dedent(
        f"""
        import os, signal, anyio
        from monitor.events import Event
        from monitor.models import Kind, SnapshotRow, Stored
        from monitor.store.sqlite import open_store

        async def main():
            store = await open_store({str(path)!r})
            event = Event(id="evt_kill", type="ad.rejected", entity="ad", entity_id="a",
                          ad_account_id="acc", detected_at=1.0)
            await store.commit_cycle(
                "acc", Kind.AD, fields=("status",),
                rows=[SnapshotRow("a", Stored(1, 2, b"blob", b"meta"))],
                events=[event], deliveries=[("evt_kill", "r", "t")], at=1.0)
            os.kill(os.getpid(), signal.SIGKILL)

        anyio.run(main)
        """
    )
    done = await anyio.run_process([sys.executable, "-c", script], check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    # The commit is still only in the WAL: reopening must replay it.
    assert (await anyio.Path(path.with_name(path.name + "-wal")).stat()).st_size > 0

    store = await open_store(path)
    try:
        snapshot = await store.load_snapshot("acc", Kind.AD)
        assert snapshot == Snapshot({"a": Stored(1, 2, b"blob", b"")}, ("status",))
        assert [d.event.id for d in await store.due_deliveries(1.0)] == ["evt_kill"]
    finally:
        await store.close()


async def test_snapshot_info_and_ranges_in_numeric_id_order(store: StateStore) -> None:
    """Ranges follow ids as numbers (9 < 10 < 100), honour bounds, limits and lengths."""
    assert await store.snapshot_info("acc", Kind.AD) == SnapshotInfo(None)
    ids = ["7", "9", "10", "11", "99", "100", "1000"]
    rows = {i: Stored(1, 1, b"\x91\xa6ACTIVE", b"", False, int(i) * 7) for i in ids}
    await commit(store, rows=rows, at=5.0)
    info = await store.snapshot_info("acc", Kind.AD)
    assert (info.fields, info.taken_at, info.count, info.lengths) == (("status",), 5.0, 7, (1, 4))

    async def ids_in(after: str | None, upto: str | None, **kw: object) -> list[str]:
        got = await store.load_range("acc", Kind.AD, after=after, upto=upto, **kw)  # type: ignore[arg-type]
        return [entity_id for entity_id, _ in got]

    assert await ids_in(None, None) == ids
    assert await ids_in(None, "10") == ["7", "9", "10"]
    assert await ids_in("9", "99") == ["10", "11", "99"]
    assert await ids_in("99", None) == ["100", "1000"]
    assert await ids_in("8", None, limit=3) == ["9", "10", "11"]
    assert await ids_in(None, None, lengths=info.lengths) == ids
    (_, stored), *_ = await store.load_range("acc", Kind.AD, after="99", upto="100")
    assert stored.raw_hash == 700
    assert await store.load_range("other", Kind.AD, after=None, upto=None) == []


async def test_record_successes_in_one_go(store: StateStore) -> None:
    """A cycle's successes are recorded together: times set, failure counts reset."""
    await store.record_poll("a1", name="A", ok=False, at=1.0, error="boom")
    await store.record_successes([("a1", None), ("a2", "Two")], at=5.0)
    by_id = {a.account_id: a for a in await store.accounts()}
    assert (
        by_id["a1"].name,
        by_id["a1"].last_success_at,
        by_id["a1"].consecutive_failures,
        by_id["a1"].last_error,
    ) == ("A", 5.0, 0, None)
    assert (by_id["a2"].name, by_id["a2"].last_attempt_at) == ("Two", 5.0)
    await store.record_successes([], at=6.0)
