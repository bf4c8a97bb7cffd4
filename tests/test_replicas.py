"""Three pinmon replicas on one PostgreSQL against 1,000 accounts; one is killed mid-run.

Real processes, a real PostgreSQL (``PINMON_TEST_POSTGRES``), the simulator in this
process (so its request log shows when each account was polled), signed webhooks into a
local sink (``webhook-id`` is the event id). Skips without the variable.
"""

from __future__ import annotations

import json
import signal
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import pytest

from monitor.simulator import Simulator
from monitor.store.postgres import open_postgres
from tests.sink import HttpSink
from tests.test_store_postgres import pg_url  # noqa: F401  (fixture)

# Generous: the waits below fail fast on a stall, so this only bounds a crawling machine.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]

ACCOUNTS = [str(549755000000 + i) for i in range(1000)]
TOKEN = "tok-replicas-0123456789"
SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="
# Short enough for a quick test, long enough that 1,000 accounts per cycle fit on the
# 2-core CI machine next to PostgreSQL and the simulator.
INTERVAL_S = 4.0
#: A wait fails when nothing at all happened for this long: no request, no delivery.
STALL_S = 5 * INTERVAL_S


def scenario() -> dict[str, Any]:
    return {
        "name": "replicas",
        "auth": {"access_tokens": [TOKEN]},
        "rate_limit": {"limit": 1_000_000},
        "accounts": [
            {
                "id": a,
                "name": f"Account {i}",
                "generate": {"ads": 2, "campaigns": 1, "ad_groups_per_campaign": 1},
            }
            for i, a in enumerate(ACCOUNTS)
        ],
    }


def config(path: Path, *, base_url: str, state: str, sink: HttpSink) -> Path:
    path.write_text(
        f"""
[pinterest]
base_url = "{base_url}"
access_token = "{TOKEN}"
requests_per_minute = 100000

[monitor]
interval = {INTERVAL_S}
state = "{state}"
concurrency = 16
shutdown_grace = "3s"

[[routes]]
name = "hooks"
events = ["ad.*"]
webhooks = [{{ url = "{sink.url("/in")}", secret = "{SECRET}" }}]
"""
    )
    return path


def first_pages(sim: Simulator) -> dict[str, list[float]]:
    """When each account's ads listing was started (first pages only)."""
    times: dict[str, list[float]] = defaultdict(list)
    for r in sim.requests:
        if r.path.endswith("/ads") and r.param("bookmark") is None and r.status == 200:
            times[r.path.split("/")[3]].append(r.at)
    return times


def open_log(path: Path) -> Any:
    """A file a replica's JSON log lines go to (read after it stopped)."""
    return path.open("wb")


def cycle_durations(logs: list[Path]) -> list[float]:
    """Every cycle's and every takeover poll's duration the replicas logged."""
    out = []
    for log in logs:
        for line in log.read_text().splitlines():
            if '"cycle.completed"' in line or '"replica.takeover_polled"' in line:
                out.append(float(json.loads(line)["duration_s"]))
    return out


async def wait_until(check: Any, progress: Any, stall_s: float) -> None:
    """Poll a condition on this loop (the simulator and the sink keep serving meanwhile).

    Fails only when nothing moves: ``progress()`` (a count of requests or deliveries)
    unchanged for ``stall_s``. A machine busy with something else makes the replicas
    slower, not stuck, and must not fail the test; one that stopped making progress does.
    """
    last, since = progress(), anyio.current_time()
    while not check():
        await anyio.sleep(0.1)
        now, seen = anyio.current_time(), progress()
        if seen != last:
            last, since = seen, now
        elif now - since > stall_s:
            raise TimeoutError(f"no progress for {stall_s:g}s (stuck at {seen})")


async def test_three_replicas_share_1000_accounts_and_survive_a_kill(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    """Every change is reported exactly once by id; no account waits over two intervals."""
    async with Simulator(scenario=scenario()) as sim, HttpSink() as sink:
        path = config(tmp_path / "pinmon.toml", base_url=sim.base_url, state=pg_url, sink=sink)
        cmd = [sys.executable, "-m", "monitor", "run", "-c", str(path), "--log-format", "json"]
        logs = [tmp_path / f"replica-{i}.log" for i in range(3)]
        files = [open_log(log) for log in logs]
        replicas = [await anyio.open_process(cmd, stderr=f) for f in files]
        try:
            # Every account baselined (listed twice, so the second is a diff).
            requests = lambda: len(sim.requests)  # noqa: E731
            delivered = lambda: len(sink.requests)  # noqa: E731
            await wait_until(
                lambda: (
                    len(first_pages(sim)) == 1000 and min(map(len, first_pages(sim).values())) >= 2
                ),
                requests,
                STALL_S,
            )
            steady_at = sim.now()  # start-up (baselines, rebalancing) is over
            wave1 = ACCOUNTS[:100]
            for a in wave1:
                sim.world.reject_ad(str(sim.world.ids_of(a, "ads")[0]), reasons=["HASHTAGS"])
            await wait_until(
                lambda: len({r.headers["webhook-id"] for r in sink.requests}) >= 100,
                lambda: (requests(), delivered()),
                STALL_S,
            )
            killed_at = sim.now()
            replicas[0].send_signal(signal.SIGKILL)
            await replicas[0].wait()
            wave2 = ACCOUNTS[500:600]
            for a in wave1:
                sim.world.approve_ad(str(sim.world.ids_of(a, "ads")[0]))
            for a in wave2:
                sim.world.pause(str(sim.world.ids_of(a, "ads")[1]))
            await wait_until(
                lambda: len({r.headers["webhook-id"] for r in sink.requests}) >= 300,
                lambda: (requests(), delivered()),
                STALL_S,
            )
            # Two more intervals, to see that every account keeps being polled.
            end = sim.now() + 2 * INTERVAL_S
            await wait_until(lambda: sim.now() >= end, requests, STALL_S)
        finally:
            for p in replicas:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                codes = [await p.wait() for p in replicas]
            for f in files:
                f.close()
        assert codes[1:] == [0, 0]

        ids = [r.headers["webhook-id"] for r in sink.requests]
        store = await open_postgres(pg_url)
        try:
            events = await store.events(limit=10_000)
        finally:
            await store.close()
        # One event per change, each delivered (at least once; a kill mid-send may repeat).
        by_change = defaultdict(set)
        for e in events:
            by_change[(e.entity_id, e.type)].add(e.id)
        assert len(events) == 300
        assert all(len(v) == 1 for v in by_change.values())
        assert set(ids) == {e.id for e in events}
        assert sorted(t for _, t in by_change) == sorted(
            ["ad.rejected"] * 100 + ["ad.approved"] * 100 + ["ad.status_changed"] * 100
        )
        # No account went unpolled for long, the kill included. How long is "long" follows
        # from the interval I and the longest cycle C the replicas measured (on a loaded
        # 2-core machine C is seconds): a cycle that overruns starts the next one at the
        # next free slot, so a steady gap is at most I + 2C; a dead replica's account waits
        # at most I + C for its last poll, I/3 for its lease to expire, I/9 for a survivor
        # to notice, then up to C more in the takeover poll — both under 2I + 2C.
        longest = max(cycle_durations(logs))
        polled = first_pages(sim)
        gaps = [
            b - a
            for times in polled.values()
            for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
            if a >= steady_at
        ]
        assert max(gaps) <= 2 * INTERVAL_S + 2 * longest, (max(gaps), longest, killed_at)
