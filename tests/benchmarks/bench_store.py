"""Benchmark: the store's hot statements, hand-written SQL against SQLAlchemy Core 2.

The three statements a steady cycle of a big account spends its store time in, on the
same database and the same rows, measured both ways in one run:

- ``range``: load a 250-row id range (what a cycle reads per listing page; 800 of them
  for 200,000 ads),
- ``upsert``: upsert 2,000 entity rows in one transaction (a 1 % change of 200,000),
- ``events``: insert 200 events and 400 deliveries in one transaction.

"hand" is pinmon's own code (``monitor.store.snapshots``/``outbox`` on a ``Db``); "core"
is the same statements as SQLAlchemy Core 2 constructs (cached compilation, bound
parameters, the backend's ``insert().on_conflict_do_update``), on the same driver
connection. CPU time per operation, best of ``--repeat``. SQLAlchemy is not a dependency
of pinmon: install it to run this (``pip install 'sqlalchemy>=2'``).

    python tests/benchmarks/bench_store.py [--repeat 5]
    PINMON_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python tests/benchmarks/bench_store.py
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from monitor.events import Event, to_json
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import outbox, snapshots
from monitor.store._db import Db
from monitor.store._schema import SqliteDb, connect

ACCOUNT = "549755885175"
ADS = 200_000
META = b"\x94\xad626735565838\xad2680059592705\xb2394205773611545468\xa4name"

md = sa.MetaData()
entities = sa.Table(
    "entities", md,
    *(sa.Column(n, t) for n, t in (
        ("account_id", sa.Text), ("kind", sa.Text), ("entity_id", sa.Text),
        ("updated_time", sa.BigInteger), ("rev", sa.BigInteger), ("blob", sa.LargeBinary),
        ("meta", sa.LargeBinary), ("removed", sa.Boolean), ("raw_hash", sa.BigInteger))),
)  # fmt: skip
events_t = sa.Table(
    "events", md,
    *(sa.Column(n, t) for n, t in (
        ("id", sa.Text), ("type", sa.Text), ("account_id", sa.Text), ("entity_id", sa.Text),
        ("detected_at", sa.Float), ("body", sa.LargeBinary))),
)  # fmt: skip
deliveries_t = sa.Table(
    "deliveries", md,
    *(sa.Column(n, t) for n, t in (
        ("event_id", sa.Text), ("route", sa.Text), ("target", sa.Text), ("status", sa.Text),
        ("attempts", sa.Integer), ("next_attempt_at", sa.Float), ("created_at", sa.Float),
        ("updated_at", sa.Float))),
)  # fmt: skip
c = entities.c
RANGE = (
    sa.select(c.entity_id, c.updated_time, c.rev, c.blob, c.removed, c.raw_hash)
    .where(c.account_id == sa.bindparam("a"), c.kind == sa.bindparam("k"),
           sa.func.length(c.entity_id) == sa.bindparam("n"), c.entity_id > sa.bindparam("low"),
           c.entity_id <= sa.bindparam("high"))
    .order_by(sa.func.length(c.entity_id), c.entity_id)
    .limit(sa.bindparam("limit"))
)  # fmt: skip


def ad_id(i: int) -> str:
    return str(687195134316 + i)


def rows(rev: int, count: int, step: int = 1) -> list[SnapshotRow]:
    return [
        SnapshotRow(ad_id(i), Stored(1_700_000_000 + rev, rev, b"\x91\xa6ACTIVE" * 3, META, False, i))
        for i in range(0, count * step, step)
    ]


def batch(n: int) -> tuple[list[Event], list[tuple[str, str, str]]]:
    evs = [Event(id=f"evt_{n}_{i}", type="ad.rejected", entity="ad", entity_id=ad_id(i),
                 ad_account_id=ACCOUNT, detected_at=float(n)) for i in range(200)]  # fmt: skip
    return evs, [(e.id, "r", t) for e in evs for t in ("slack", "hook")]


def best(repeat: int, func: Callable[[int], object]) -> tuple[float, float]:
    """The best CPU time and the best wall time of ``repeat`` calls."""
    cpu, wall = [], []
    for n in range(repeat):
        started, ticks = time.perf_counter(), time.process_time()
        func(n)
        cpu.append(time.process_time() - ticks)
        wall.append(time.perf_counter() - started)
    return min(cpu), min(wall)


class Hand:
    """pinmon's own functions on its Db seam."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def range(self, n: int) -> None:
        for page in range(40):
            low, high = ad_id(page * 5000 + n), ad_id(page * 5000 + n + 249)
            got = snapshots.load_range(self.db, ACCOUNT, Kind.AD, low, high, 250, (12, 12))
            assert len(got) == 249

    def upsert(self, n: int) -> None:
        with self.db.transaction():
            snapshots.upsert_rows(self.db, ACCOUNT, Kind.AD, rows(10 + n, 2000, 100))

    def events(self, n: int) -> None:
        evs, pairs = batch(n)
        with self.db.transaction():
            outbox.insert_events(self.db, evs, pairs, float(n))


class Core:
    """The same statements as SQLAlchemy Core 2 constructs, on the same driver connection."""

    def __init__(self, engine: sa.Engine, dialect: Any) -> None:
        # Reads in autocommit (one statement each, as pinmon's); writes in a transaction.
        self.read = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.conn = engine.connect()
        up = dialect.insert(entities)
        self.upsert_stmt = up.on_conflict_do_update(
            index_elements=["account_id", "kind", "entity_id"],
            set_={
                "updated_time": up.excluded.updated_time, "rev": up.excluded.rev,
                "blob": up.excluded.blob, "removed": up.excluded.removed,
                "raw_hash": up.excluded.raw_hash,
                "meta": sa.case((sa.func.length(up.excluded.meta) == 0, entities.c.meta),
                                else_=up.excluded.meta),
            },
        )  # fmt: skip
        self.events_stmt = dialect.insert(events_t).on_conflict_do_nothing(index_elements=["id"])
        self.deliveries_stmt = dialect.insert(deliveries_t).on_conflict_do_nothing(
            index_elements=["event_id", "route", "target"]
        )

    def range(self, n: int) -> None:
        for page in range(40):
            low, high = ad_id(page * 5000 + n), ad_id(page * 5000 + n + 249)
            params = {"a": ACCOUNT, "k": "ad", "n": 12, "low": low, "high": high, "limit": 250}
            got = [
                (r[0], Stored(r[1], r[2], r[3], b"", bool(r[4]), r[5]))
                for r in self.read.execute(RANGE, params)
            ]
            assert len(got) == 249

    def upsert(self, n: int) -> None:
        params = [
            {"account_id": ACCOUNT, "kind": "ad", "entity_id": r.entity_id,
             "updated_time": s.updated_time, "rev": s.rev, "blob": s.blob, "meta": s.meta,
             "removed": s.removed, "raw_hash": s.raw_hash}
            for r in rows(20 + n, 2000, 100) for s in (r.stored,)
        ]  # fmt: skip
        with self.conn.begin():
            self.conn.execute(self.upsert_stmt, params)

    def events(self, n: int) -> None:
        evs, pairs = batch(1000 + n)
        at = float(n)
        with self.conn.begin():
            self.conn.execute(self.events_stmt, [
                {"id": e.id, "type": e.type, "account_id": e.ad_account_id,
                 "entity_id": e.entity_id, "detected_at": e.detected_at, "body": to_json(e)}
                for e in evs])  # fmt: skip
            self.conn.execute(self.deliveries_stmt, [
                {"event_id": i, "route": r, "target": t, "status": "pending", "attempts": 0,
                 "next_attempt_at": at, "created_at": at, "updated_at": at}
                for i, r, t in pairs])  # fmt: skip


def report(name: str, hand: Hand, core: Core, repeat: int) -> None:
    for op, per in (("range", 40), ("upsert", 1), ("events", 1)):
        (h, hw), (k, kw) = (best(repeat, getattr(x, op)) for x in (hand, core))
        print(
            f"{name:<8} {op:<7} CPU hand {h / per * 1e3:7.2f} ms  core {k / per * 1e3:7.2f} ms"
            f"  core/hand {k / h:4.2f}   | wall hand {hw / per * 1e3:7.2f} ms"
            f"  core {kw / per * 1e3:7.2f} ms"
        )


def on_sqlite(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        conn = connect(path)
        db = SqliteDb(conn)
        with db.transaction():
            snapshots.upsert_rows(db, ACCOUNT, Kind.AD, rows(1, ADS))
        engine = sa.create_engine(f"sqlite:///{path}")
        report("sqlite", Hand(db), Core(engine, sqlite), repeat)
        engine.dispose()
        conn.close()


def on_postgres(url: str, repeat: int) -> None:
    import psycopg

    from monitor.store._pg_schema import PostgresDb, migrate

    schema = f"bench_store_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}".encode())
        try:
            with psycopg.connect(url, autocommit=True, options=f"-csearch_path={schema}") as conn:
                migrate(conn, "bench")
                db = PostgresDb(conn)
                with db.transaction():
                    snapshots.upsert_rows(db, ACCOUNT, Kind.AD, rows(1, ADS))
                conn.execute("ANALYZE")
                engine = sa.create_engine(
                    "postgresql+psycopg://", creator=lambda: psycopg.connect(
                        url, options=f"-csearch_path={schema}"))  # fmt: skip
                report("postgres", Hand(db), Core(engine, postgresql), repeat)
                engine.dispose()
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"sqlite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}; CPU per operation, "
          f"best of {args.repeat}; range = one 250-row read (of 40 per run)")  # fmt: skip
    on_sqlite(args.repeat)
    url = os.environ.get("PINMON_TEST_POSTGRES")
    if url:
        on_postgres(url, args.repeat)


if __name__ == "__main__":
    main()
