"""The hash index: a steady cycle compares pages with packed stored hashes instead of rows.

The index is a cache of the entities table and must never change what a cycle concludes:
the pure core (ids as numbers, positions, applying writes), the store's contract on every
backend (stamped with the snapshot's version, retired by any other write), and the real
daemon against the simulator, cycle after cycle, beside a state that has no index.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.config import load_config
from monitor.daemon import EXIT_OK, run_once
from monitor.hashindex import HashIndex, number, numbers
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import StateStore
from tests import test_store as contract
from tests.harness import ACCOUNT, ADS, GROUP, rig

# The contract's fixtures: every backend, a fresh store each.
opener, db_path, store = contract.opener, contract.db_path, contract.store

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def index_of(pairs: dict[str, int], version: int = 0) -> HashIndex:
    index = HashIndex.empty(version)
    ids = sorted(pairs, key=int)
    assert index.extend(ids, [pairs[i] for i in ids])
    return index


def as_dict(index: HashIndex) -> dict[str, int]:
    return {str(i): h for i, h in zip(index.ids, index.hashes, strict=True)}


def live(raw_hash: int) -> Stored:
    return Stored(1, 1, b"\x91\xa6ACTIVE", b"", False, raw_hash)


def gone() -> Stored:
    return Stored(1, 2, b"\x91\xa6ACTIVE", b"", True, 0)


# -- the pure core ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_id", "expected"),
    [
        ("0", 0),
        ("687195134316", 687195134316),
        ("18446744073709551615", 2**64 - 1),
        ("18446744073709551616", None),  # above 2**64 - 1
        ("0123", None),  # a leading zero would come back as "123"
        ("+1", None),
        (" 1", None),
        ("1_0", None),
        ("١٢", None),  # other digits than ASCII's
        ("", None),
        ("1" * 21, None),
    ],
)
def test_number_takes_only_ids_that_come_back_the_same(entity_id: str, expected: int | None) -> None:
    assert number(entity_id) == expected
    assert numbers([entity_id]) == (None if expected is None else [expected])


def test_numbers_refuses_a_list_with_one_bad_id() -> None:
    assert numbers(["1", "2", "03"]) is None
    assert numbers(["1", "-2"]) is None
    assert numbers(["9", "10"]) == [9, 10]
    index = HashIndex.empty(0)
    assert not index.extend(["1", "x"], [5, 6])
    assert len(index) == 0, "nothing appended from a refused list"


def test_position_places_any_digit_string_in_numeric_order() -> None:
    index = index_of({"7": 1, "9": 2, "10": 3, "998": 4, "1000": 5, "1001": 6})
    assert index.position("9") == 2
    assert index.position("8") == 1
    assert index.position("10", 2) == 3
    assert index.position("0999") == 4, "after 998, before 1000, as (length, text) orders it"
    assert index.position("00") == 2, "after every one-digit id"
    assert index.position("99999999999999999999") == 6, "above 2**64: after all"
    assert index.position("1") == 0
    assert index.held(2, 4) == [3, 4]
    assert index.id_at(4) == "1000"


def test_applied_updates_inserts_and_removes_in_place_and_by_merge() -> None:
    base = index_of({"10": 1, "20": 2, "30": 3})
    rows = [
        SnapshotRow("20", live(22)),
        SnapshotRow("25", live(25)),
        SnapshotRow("30", gone()),
        SnapshotRow("40", gone()),  # a tombstone of nothing live: no trace
        SnapshotRow("10", live(9)),
        SnapshotRow("10", live(11)),  # the last write of an id wins
    ]
    fresh = base.applied(7, rows)
    assert fresh is not None
    assert (fresh.version, as_dict(fresh)) == (7, {"10": 11, "20": 22, "25": 25})
    assert as_dict(base) == {"10": 1, "20": 2, "30": 3}, "the base is left as it was"
    many = base.applied(8, [SnapshotRow(str(n), live(n)) for n in range(100, 300)])
    assert many is not None
    assert list(many.ids) == [10, 20, 30, *range(100, 300)]
    assert base.applied(9, [SnapshotRow("007", live(1))]) is None, "an id no index holds"


def test_pack_round_trips_and_a_torn_value_is_refused() -> None:
    index = index_of({"1": 5, "18446744073709551615": 2**62}, version=3)
    ids, hashes = index.pack()
    again = HashIndex.unpack(3, ids, hashes)
    assert again is not None
    assert as_dict(again) == as_dict(index)
    assert HashIndex.unpack(3, ids[:-1], hashes[:-1]) is None
    assert HashIndex.unpack(3, ids, hashes[:8]) is None
    assert array("Q", ids).tolist() == [1, 2**64 - 1] or sys_is_big_endian()


def sys_is_big_endian() -> bool:
    import sys

    return sys.byteorder == "big"


# -- the store's contract, on every backend ----------------------------------------------


async def commit_rows(
    store: StateStore, rows: dict[str, Stored], *, index: HashIndex | None = None,
    mark: bool = True, refresh: bool = False,
) -> None:  # fmt: skip
    await store.commit_cycle(
        "acc", Kind.AD, fields=("status",), rows=[SnapshotRow(k, v) for k, v in rows.items()],
        events=[], deliveries=[], at=5.0, mark=mark, index=index, refresh_index=refresh,
    )  # fmt: skip


async def test_an_index_is_stamped_with_the_version_and_retired_by_other_writes(
    store: StateStore,
) -> None:
    """The index describes the rows as committed with it; a write that did not bring it
    up to date (another replica's, a lookup's) makes it unusable, never wrong."""
    await commit_rows(store, {"1": live(10), "2": live(20)})  # the baseline
    info = await store.snapshot_info("acc", Kind.AD)
    assert info.version == 0
    assert await store.load_hash_index("acc", Kind.AD) is None
    # A steady cycle read rows, collected them, and commits a change with the index.
    base = index_of({"1": 10, "2": 20}, version=info.version)
    await commit_rows(store, {"2": live(21), "3": live(30)}, index=base)
    index = await store.load_hash_index("acc", Kind.AD)
    assert index is not None
    assert (index.version, as_dict(index)) == (1, {"1": 10, "2": 21, "3": 30})
    assert (await store.snapshot_info("acc", Kind.AD)).version == 1
    # A lookup's commit that refreshes the stored index keeps it current.
    await commit_rows(store, {"1": gone()}, mark=False, refresh=True)
    index = await store.load_hash_index("acc", Kind.AD)
    assert index is not None
    assert (index.version, as_dict(index)) == (2, {"2": 21, "3": 30})
    # One that does not retires it.
    await commit_rows(store, {"2": live(22)}, mark=False)
    assert await store.load_hash_index("acc", Kind.AD) is None
    assert (await store.snapshot_info("acc", Kind.AD)).version == 3
    # A cycle that started from an index read before another write does not store its own.
    stale = index_of({"2": 21, "3": 30}, version=2)
    await commit_rows(store, {"3": live(31)}, index=stale)
    assert await store.load_hash_index("acc", Kind.AD) is None
    assert not await store.save_hash_index("acc", Kind.AD, stale)
    current = index_of({"2": 22, "3": 31}, version=4)
    assert await store.save_hash_index("acc", Kind.AD, current)
    index = await store.load_hash_index("acc", Kind.AD)
    assert index is not None
    assert as_dict(index) == {"2": 22, "3": 31}
    # An id no index can hold: the kind goes without one.
    await commit_rows(store, {"0042": live(1)}, index=index)
    assert await store.load_hash_index("acc", Kind.AD) is None


async def test_a_commit_without_rows_keeps_the_index(store: StateStore) -> None:
    await commit_rows(store, {"1": live(10)})
    assert await store.save_hash_index("acc", Kind.AD, index_of({"1": 10}, version=0))
    await store.commit_cycle("acc", Kind.AD, fields=("status", "name"), rows=[], events=[],
                             deliveries=[], at=6.0)  # fmt: skip
    index = await store.load_hash_index("acc", Kind.AD)
    assert index is not None
    assert as_dict(index) == {"1": 10}


# -- the daemon, against the simulator ---------------------------------------------------


_ROWS = (
    "SELECT kind, entity_id, updated_time, blob, meta, removed, raw_hash FROM entities"
    " ORDER BY kind, entity_id"
)


class State:
    """A state to run the daemon on: a SQLite file or a PostgreSQL schema."""

    def __init__(self, where: str) -> None:
        self.where = where

    def _run(self, sql: str) -> list[tuple[object, ...]]:
        if self.where.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(self.where, autocommit=True) as conn:
                cursor = conn.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        with sqlite3.connect(self.where) as db:
            return db.execute(sql).fetchall()

    def rows(self) -> list[tuple[object, ...]]:
        return self._run(_ROWS)

    def drop_index(self) -> None:
        self._run("DELETE FROM hash_index")


@pytest.fixture(params=["sqlite", "postgres"])
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[State, State]]:
    """Two empty states on the backend under test (PostgreSQL: two throwaway schemas)."""
    if request.param == "sqlite":
        yield State(str(tmp_path / "state.db")), State(str(tmp_path / "plain.db"))
        return
    if contract.PG_URL is None:
        pytest.skip(contract.PG_SKIP)
    with (
        contract.pg_schema(f"t_{secrets.token_hex(8)}") as one,
        contract.pg_schema(f"t_{secrets.token_hex(8)}") as two,
    ):
        yield State(one), State(two)


def how_read(logs: list[dict[str, object]]) -> dict[str, tuple[object, object]]:
    return {
        str(e["kind"]): (e["stored"], e["stored_rows_read"])
        for e in logs
        if e.get("event") == "poll.listed"
    }


async def test_cycles_against_the_index_conclude_what_cycles_against_rows_do(
    tmp_path: Path, states: tuple[State, State]
) -> None:
    """Two states follow one account through rejections, approvals, pauses, new ads,
    removals and a removed ad listed again: one keeps its hash index, the other loses it
    before every cycle (so it reads rows). Both send the same alerts and store the same
    rows; the first reads only the rows of what changed."""
    rng = random.Random(7)
    async with rig(tmp_path, stream=True) as r:
        ads = list(ADS)
        for _ in range(20):
            ads.append(r.sim.world.create_ad(ad_group_id=GROUP, name=f"Ad {len(ads)}").id)
        with_index, without = states
        configs = []
        for n, state in enumerate(states):
            path = tmp_path / f"pinmon{n}.toml"
            path.write_text(r.path.read_text().replace('"state.db"', json.dumps(state.where)))
            configs.append(load_config(path))
        indexed, plain = configs
        for config in (indexed, plain):  # baselines, then one cycle that collects the index
            assert await run_once(config) == EXIT_OK
            assert await run_once(config) == EXIT_OK
        removed: list[str] = []
        for step in range(6):
            before = len(r.messages())
            world = r.sim.world
            for ad in rng.sample([a for a in ads if a not in removed], 3):
                change = rng.choice(["reject", "pause", "review", "approve"])
                if change == "reject":
                    world.reject_ad(ad, reasons=["HASHTAGS"], bump=rng.random() < 0.5)
                else:
                    {"pause": world.pause, "review": world.set_pending,
                     "approve": world.approve_ad}[change](ad)  # fmt: skip
            if step == 1:
                ads.append(world.create_ad(ad_group_id=GROUP, name="New one").id)
            if step == 2:
                removed.append(ads[3])
                world.remove(ads[3])
            if step == 4:  # the removed ad is listed again
                world.create_ad(ad_group_id=GROUP, ad_id=removed.pop(), name="Back again")
            with capture_logs() as logs:
                assert await run_once(indexed) == EXIT_OK
            got = how_read(logs)
            assert got["ad"][0] == "index", got
            sent = r.messages()[before:]
            without.drop_index()
            with capture_logs() as logs:
                assert await run_once(plain) == EXIT_OK
            assert how_read(logs)["ad"][0] == "rows, collecting an index"
            assert r.messages()[before + len(sent) :] == sent, f"step {step}"
            assert sent, "each step changes something"
            assert with_index.rows() == without.rows()
        # A steady cycle with one change reads one stored row; with none, none.
        r.sim.world.reject_ad(ads[5], reasons=["HASHTAGS"])
        with capture_logs() as logs:
            assert await run_once(indexed) == EXIT_OK
        assert how_read(logs)["ad"] == ("index", 1)
        with capture_logs() as logs:
            assert await run_once(indexed) == EXIT_OK
        assert how_read(logs)["ad"] == ("index", 0)
        assert ACCOUNT in str(r.messages()[-1])
