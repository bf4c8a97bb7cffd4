"""Benchmark: every page of the web board over HTTP, with 100,000 ads and 1,000,000 events.

The state is written by the store's own writers, the ones the daemon's commit runs
(``snapshots.upsert_rows`` and ``mark_snapshot``, ``outbox.insert_events``,
``accounts.record_successes``, ``settings.save_labels``), in batches of one transaction
each, on a real SQLite file at the current schema: 10 accounts of 10,000 ads in 50
campaigns of 5 ad groups; 3 % of the ads rejected, 2 % in review, the rest active; ten
events an ad on average over the 30-day retention window (updates, status and review
changes, approvals, rejections; an ad's newest event agrees with its state), each with
its campaign and ad group names as the daemon fills them; one delivery per rejection
and approval to one of three targets, settled as delivered in bulk SQL (what
``settle_many`` writes), a few thousand left pending, failed or dead; 40 mutes. Building
it takes a minute or two; ``--state PATH`` keeps it for the next run.

Each page is asked ``--rounds`` times over loopback HTTP (aiohttp client, one request at a
time, after one warm-up); the median and the slowest are printed, with the goal (≤ 150 ms
median). ``--baseline-src DIR`` (a checkout of an earlier commit, e.g. ``git worktree add
/tmp/before HEAD~1``) serves the same state with that code in a subprocess, on a copy
whose schema is taken back to that code's version (the new index dropped), and times the
same pages beside it in the same run. ``--write-cost`` times commits of 200 events and
200 deliveries into the big history with and without the index ``events_by_entity``.

    python tests/benchmarks/bench_web.py [--state /tmp/web.db] [--rounds 15]
        [--baseline-src /tmp/before] [--write-cost]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ACCOUNTS = 10
CAMPAIGNS_PER_ACCOUNT = 50
GROUPS_PER_CAMPAIGN = 5
RETENTION_S = 30 * 86400.0
NOW = 1_780_000_000.0
TARGETS = {
    "webhook:3f1c9a": "webhook https://hooks.example.com/in/****",
    "apprise:8b2d44": "slack://****",
    "apprise:c07e11": "mailto://****@example.com",
}
GOAL_MS = 150.0


def _ids(n: int, start: int) -> list[str]:
    return [str(start + i * 7919) for i in range(n)]


def build(path: Path, *, ads: int, events: int, seed: int = 7) -> dict[str, Any]:
    """Write the state at ``path``; return the ids the pages are asked about."""
    from monitor.events import Event, FieldChange
    from monitor.models import DEFAULT_WATCHED, Kind, SnapshotRow, Stored
    from monitor.mutes import Mute
    from monitor.normal import encode_state, normaliser
    from monitor.store import accounts, alerting, outbox, settings, snapshots
    from monitor.store._schema import SqliteDb, connect

    rng = random.Random(seed)
    fields = DEFAULT_WATCHED[Kind.AD]
    norm = [normaliser(f) for f in fields]
    conn = connect(path)
    db = SqliteDb(conn)
    per_account = ads // ACCOUNTS
    events_per_ad = events / ads
    account_ids = _ids(ACCOUNTS, 549_755_000_000)
    sample: dict[str, Any] = {"rejected": [], "review": [], "accounts": account_ids}
    serial = 0
    kinds = [
        ("ad.updated", 30), ("ad.status_changed", 25), ("ad.review_status_changed", 15),
        ("ad.approved", 15), ("ad.rejected", 10), ("ad.created", 5),
    ]  # fmt: skip
    types = [t for t, _ in kinds]
    weights = [w for _, w in kinds]
    deliveries_total = 0
    for a_index, account_id in enumerate(account_ids):
        campaigns = _ids(CAMPAIGNS_PER_ACCOUNT, 626_735_000_000 + a_index * 10_000_000)
        rows: list[SnapshotRow] = []
        batch_events: list[Event] = []
        batch_deliveries: list[tuple[str, str, str]] = []
        for i, ad_id in enumerate(_ids(per_account, 687_000_000_000 + a_index * 100_000_000)):
            c = i % CAMPAIGNS_PER_ACCOUNT
            campaign_id = campaigns[c]
            group_id = str(
                int(campaign_id) + 1 + (i // CAMPAIGNS_PER_ACCOUNT) % GROUPS_PER_CAMPAIGN
            )
            pin_id = str(394_205_773_611_000_000 + a_index * 1_000_000 + i)
            name = f"Ad {a_index}-{i} · spring collection"
            roll = rng.random()
            if roll < 0.03:
                review, summary = "REJECTED", "REJECTED"
                reasons = [rng.choice(["LANDING_PAGE_BROKEN", "HASHTAGS", "PROHIBITED_PRODUCT"])]
                labels = [f"Policy: {reasons[0].replace('_', ' ').lower()}"]
                last = "ad.rejected"
                sample["rejected"].append(ad_id)
            elif roll < 0.05:
                review, summary, reasons, labels = "PENDING", "PENDING", [], []
                last = "ad.review_status_changed"
                sample["review"].append(ad_id)
            else:
                review, summary, reasons, labels = "APPROVED", "ACTIVE", [], []
                last = rng.choices(types, weights)[0]
            raw = ["ACTIVE", review, summary, reasons, labels, False]
            state = [n(v) for n, v in zip(norm, raw, strict=True)]
            meta = encode_state([campaign_id, group_id, pin_id, name])
            n_events = max(1, round(rng.expovariate(1 / events_per_ad)))
            times = sorted(NOW - rng.random() * RETENTION_S for _ in range(n_events))
            rows.append(
                SnapshotRow(ad_id, Stored(int(times[-1]), n_events, encode_state(state), meta))
            )
            values = dict(zip(fields, state, strict=True))
            for k, at in enumerate(times):
                kind = last if k == n_events - 1 else rng.choices(types, weights)[0]
                serial += 1
                change = {
                    "ad.rejected": {"review_status": FieldChange("PENDING", "REJECTED")},
                    "ad.approved": {"review_status": FieldChange("PENDING", "APPROVED")},
                    "ad.review_status_changed": {
                        "review_status": FieldChange("APPROVED", "PENDING")
                    },
                    "ad.status_changed": {"status": FieldChange("PAUSED", "ACTIVE")},
                }.get(kind, {})
                event = Event(
                    id=f"evt_{serial:016x}",
                    type=kind,
                    entity="ad",
                    entity_id=ad_id,
                    ad_account_id=account_id,
                    campaign_id=campaign_id,
                    ad_group_id=group_id,
                    ad_id=ad_id,
                    pin_id=pin_id,
                    name=name,
                    detected_at=at,
                    changes=change,
                    state=values,
                    campaign_name=f"Campaign {a_index}-{c} spring",
                    ad_group_name=f"Group {group_id[-4:]}",
                )
                batch_events.append(event)
                if kind in ("ad.rejected", "ad.approved"):
                    route = "rejections" if kind == "ad.rejected" else "approvals"
                    batch_deliveries.append((event.id, route, list(TARGETS)[serial % 3]))
            if len(batch_events) >= 20_000:
                deliveries_total += _write(
                    db, outbox, snapshots, account_id, rows, batch_events, batch_deliveries
                )
                rows, batch_events, batch_deliveries = [], [], []
        deliveries_total += _write(
            db, outbox, snapshots, account_id, rows, batch_events, batch_deliveries
        )
        with db.transaction():
            snapshots.mark_snapshot(db, account_id, Kind.AD, fields, NOW)
    accounts.record_successes(db, [(a, f"Account {a[-4:]}") for a in account_ids], NOW)
    settings.save_labels(db, TARGETS)
    with db.transaction():
        # What settle_many writes for a delivered row, in one statement for them all.
        db.execute(
            "UPDATE deliveries SET status = 'delivered', attempts = 1, updated_at = created_at + 2"
        )
        # The newest few thousand: some still pending, some failed or dead, with errors.
        open_rows = db.all("SELECT id FROM deliveries ORDER BY id DESC LIMIT 3000")
        for n, (delivery_id,) in enumerate(open_rows):
            status = ("pending", "failed", "dead")[n % 3]
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = 3, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?",
                (status, "HTTP 503: upstream unavailable", NOW + 60, delivery_id),
            )
    for n, ad_id in enumerate(sample["rejected"][:40]):
        alerting.set_mute(db, Mute("ad", ad_id, NOW + 3600 * (n + 1), NOW, "known, fixing"))
    conn.execute("ANALYZE")
    conn.close()
    sample["deliveries"] = deliveries_total
    sample["campaign"] = _ids(CAMPAIGNS_PER_ACCOUNT, 626_735_000_000)[3]
    return sample


def _write(
    db: Any, outbox: Any, snapshots: Any, account_id: str, rows: Any, events: Any, deliveries: Any
) -> int:
    from monitor.models import Kind

    with db.transaction():
        snapshots.upsert_rows(db, account_id, Kind.AD, rows)
        outbox.insert_events(db, events, deliveries, NOW)
    return len(deliveries)


def pick(path: Path) -> dict[str, Any]:
    """The ids the pages are asked about, read back from a kept state."""
    conn = sqlite3.connect(path)
    try:
        accounts = [a for (a,) in conn.execute("SELECT account_id FROM accounts ORDER BY 1")]
        rejected = [
            e for (e,) in conn.execute(
                "SELECT entity_id FROM events WHERE type = 'ad.rejected'"
                " ORDER BY detected_at DESC LIMIT 5"
            )
        ]  # fmt: skip
        busiest = conn.execute(
            "SELECT entity_id FROM events GROUP BY entity_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    finally:
        conn.close()
    return {
        "accounts": accounts,
        "rejected": rejected,
        "busiest": busiest,
        "campaign": _ids(CAMPAIGNS_PER_ACCOUNT, 626_735_000_000)[3],
    }


def pages(sample: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, path) of every page timed."""
    ad = sample["rejected"][0]
    return [
        ("now (cold)", "/"),
        ("now", "/"),
        ("now sort=name", "/?sort=name"),
        ("now sort=campaign", "/?sort=campaign"),
        ("now account", f"/?account={sample['accounts'][3]}"),
        ("now campaign", f"/?campaign={sample['campaign']}"),
        ("now page 20", "/?page=20"),
        ("now sort=name (cold)", "/?sort=name"),
        ("ad (rejected)", f"/ad/{ad}"),
        ("ad (most events)", f"/ad/{sample['busiest']}"),
        ("deliveries", "/deliveries"),
        ("deliveries target", "/deliveries?target=apprise:8b2d44"),
        ("deliveries route p2", "/deliveries?route=rejections&page=2"),
        ("mutes", "/mutes"),
        ("routes", "/routes"),
        ("routes test ad", f"/routes?type=ad.rejected&ad={ad}"),
        ("trends", "/trends"),
    ]


def bump(state: Path) -> None:
    """Take a snapshot of nothing: the state's version moves (as after any commit), so
    the board reads its standing afresh; the ads and the history are untouched."""
    conn = sqlite3.connect(state, timeout=10)
    with conn:
        conn.execute(
            "INSERT INTO snapshots (account_id, kind, fields, taken_at) VALUES"
            " ('bench', 'campaign', '[]', ?) ON CONFLICT (account_id, kind)"
            " DO UPDATE SET taken_at = excluded.taken_at",
            (time.time(),),
        )
    conn.close()


async def time_pages(
    base: str, paths: list[tuple[str, str]], rounds: int, state: Path
) -> dict[str, Any]:
    """Per page: HTTP status, median and slowest milliseconds over ``rounds``; a
    "(cold)" page after a commit each time (:func:`bump`, outside the timing)."""
    import aiohttp

    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for name, path in paths:
            async with session.get(base + path) as r:  # warm-up
                status = r.status
                await r.read()
            times = []
            for _ in range(rounds if status == 200 else 0):
                if name.endswith("(cold)"):
                    await asyncio.to_thread(bump, state)
                started = time.perf_counter()
                async with session.get(base + path) as r:
                    await r.read()
                times.append((time.perf_counter() - started) * 1000)
            out[name] = (
                status,
                statistics.median(times) if times else None,
                max(times, default=None),
            )
    return out


def _routes() -> Any:
    from monitor.config import Route

    return (
        Route(name="rejections", events=("ad.rejected",), webhooks=(), apprise=()),
        Route(name="approvals", events=("ad.approved",), campaigns=("626735000000",)),
    )


async def serve(state: Path, port_file: Path | None, ready: asyncio.Future[int] | None) -> None:
    """Serve the board over ``state`` with whatever code is importable (the baseline's),
    saying its port in ``port_file`` (a subprocess) or ``ready``."""
    from monitor.store.sqlite import open_store
    from monitor.web.app import serve_board

    store = await open_store(state)
    kwargs: dict[str, Any] = {}
    params = inspect.signature(serve_board).parameters
    if "routes" in params:
        kwargs["routes"] = _routes()
    if "now" in params:
        kwargs["now"] = lambda: NOW
    async with serve_board(store, host="127.0.0.1", port=0, token=None, **kwargs) as server:
        if port_file is not None:
            await asyncio.to_thread(port_file.write_text, str(server.port))
        if ready is not None:
            ready.set_result(server.port)
        await asyncio.Event().wait()


def downgrade(state: Path, to: Path) -> None:
    """A copy of ``state`` at the schema of the code before the board's index."""
    shutil.copyfile(state, to)
    conn = sqlite3.connect(to)
    conn.execute("DROP INDEX IF EXISTS events_by_entity")
    conn.execute("PRAGMA user_version = 5")
    conn.close()


async def baseline(
    src: Path, state: Path, paths: list[tuple[str, str]], rounds: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        copy, port_file = Path(tmp) / "before.db", Path(tmp) / "port"
        downgrade(state, copy)
        env = {**os.environ, "PYTHONPATH": str(src)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", str(copy), "--port-file", str(port_file),
            env=env,
            cwd=src,
        )  # fmt: skip
        try:
            port = await asyncio.to_thread(_wait_for, port_file)
            return await time_pages(f"http://127.0.0.1:{port}", paths, rounds, copy)
        finally:
            proc.terminate()
            await proc.wait()


def _wait_for(port_file: Path) -> str:
    for _ in range(600):
        if port_file.exists() and port_file.read_text():
            return port_file.read_text()
        time.sleep(0.1)
    raise TimeoutError("the baseline board did not start")


def write_cost(state: Path, commits: int) -> tuple[float, float]:
    """Median seconds of a commit of 200 events and 200 deliveries into the big history,
    on two copies of the state, one without the index ``events_by_entity``, committing
    to each in turn (so that the machine's load falls on both alike). The event ids are
    random hex, as the daemon's digests are."""
    from monitor.events import Event
    from monitor.models import Kind
    from monitor.store import snapshots
    from monitor.store._schema import SqliteDb, connect

    rng = random.Random(3)
    with tempfile.TemporaryDirectory(dir=state.parent) as tmp:
        copies = {"with": Path(tmp) / "with.db", "without": Path(tmp) / "without.db"}
        for copy in copies.values():
            shutil.copyfile(state, copy)
        dbs = {name: SqliteDb(connect(path)) for name, path in copies.items()}
        dbs["without"].execute("DROP INDEX events_by_entity")
        spent: dict[str, list[float]] = {name: [] for name in dbs}
        try:
            for _ in range(commits):
                for name, db in dbs.items():
                    events = [
                        Event(
                            id=f"evt_{rng.getrandbits(96):024x}", type="ad.rejected",
                            entity="ad",
                            entity_id=str(687_000_000_000 + rng.randrange(10_000) * 7919),
                            ad_account_id="549755000000", detected_at=NOW + 1,
                            campaign_name="Campaign",
                        )
                        for _ in range(200)
                    ]  # fmt: skip
                    pairs = [(e.id, "rejections", "webhook:3f1c9a") for e in events]
                    started = time.perf_counter()
                    snapshots.commit_cycle(
                        db, "549755000000", Kind.AD, (), [], events, pairs, NOW, False
                    )
                    spent[name].append(time.perf_counter() - started)
        finally:
            for db in dbs.values():
                db.conn.close()
    return statistics.median(spent["with"]), statistics.median(spent["without"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, help="keep (or reuse) the state file here")
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline-src", type=Path)
    parser.add_argument("--write-cost", action="store_true")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve(args.serve, args.port_file, None)
        return
    tmp = tempfile.TemporaryDirectory()
    state = args.state or Path(tmp.name) / "web.db"
    if not state.exists():
        started = time.perf_counter()
        build(state, ads=args.ads, events=args.events)
        print(f"built {state} in {time.perf_counter() - started:.0f} s")
    sample = pick(state)
    conn = sqlite3.connect(state)
    counts = [
        conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("entities", "events", "deliveries")
    ]
    conn.close()
    print(
        f"state: {counts[0]:,} ads, {counts[1]:,} events, {counts[2]:,} deliveries, "
        f"{state.stat().st_size / 2**20:.0f} MiB; load {os.getloadavg()[0]:.2f}"
    )
    if args.rounds:  # --rounds 0: the write cost alone
        paths = pages(sample)
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve(state, None, ready))
        product = await time_pages(f"http://127.0.0.1:{await ready}", paths, args.rounds, state)
        server.cancel()
        before = (
            await baseline(args.baseline_src, state, paths, args.rounds)
            if args.baseline_src
            else {}
        )
        print(
            f"\n{'page':<22}{'median ms':>10}{'max ms':>9}   {'before: median':>15}{'max':>8}   goal ≤ {GOAL_MS:.0f}"
        )
        for name, _ in paths:
            status, med, worst = product[name]
            line = f"{name:<22}" + (
                f"{med:>10.1f}{worst:>9.1f}" if med is not None else f"{'HTTP ' + str(status):>19}"
            )
            if before:
                b_status, b_med, b_worst = before[name]
                line += (
                    f"   {b_med:>15.1f}{b_worst:>8.1f}"
                    if b_med is not None
                    else f"   {'HTTP ' + str(b_status):>23}"
                )
            line += (
                "   ok"
                if med is not None and med <= GOAL_MS
                else "   OVER"
                if med is not None
                else ""
            )
            print(line)
    print(f"load after: {os.getloadavg()[0]:.2f}")
    if args.write_cost:
        with_index, without = write_cost(state, 25)
        print(
            f"\ncommit of 200 events + 200 deliveries (median of 25): "
            f"{with_index * 1000:.1f} ms with events_by_entity, {without * 1000:.1f} ms without"
        )


if __name__ == "__main__":
    asyncio.run(main())
