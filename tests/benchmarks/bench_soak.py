"""Benchmark: RSS growth over a 1,000-cycle soak of the real poll loop, next to a baseline.

One account of a few hundred generated ads in the in-process simulator; every cycle a few
ads are rejected, approved, paused or re-activated, so every cycle diffs, commits events to
a real SQLite file and delivers them (apprise json://) to a local HTTP sink. The ops layer
rides along as the daemon will wire it: a Metrics registry fed each cycle and each send,
the health listener up and scraped every 10 cycles.

RSS is read from /proc/self/statm after warm-up (cycle ``--warmup``) and at the end, each
after a full collection. Two phases run in separate processes so they share no heap:

- baseline: the same simulator, the same mutations, and the client reading every page
  (no differ, no store, no delivery): what the harness itself grows by;
- core:     the real Poller + Deliverer via ``open_runtime``, nothing else;
- full:     core plus the ops layer (metrics, health listener, outbox and entity counts).

Goal: the full loop grows by at most 5 MB between warm-up and the end.

    python tests/benchmarks/bench_soak.py [--cycles 1000] [--ads 300] [--warmup 100]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "549755885175"
TOKEN = "pina_soak_benchmark_token_0123456789"
GOAL_MB = 5.0


def rss_mb() -> float:
    """Resident set size of this process, after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def scenario(ads: int) -> dict[str, Any]:
    """One account, a few campaigns and ad groups, ``ads`` generated ads, some rejected."""
    return {
        "name": "soak",
        "auth": {"access_tokens": [TOKEN]},
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "Soak Test Shop",
                "generate": {
                    "ads": ads,
                    "campaigns": 3,
                    "ad_groups_per_campaign": 2,
                    "rejected_share": 0.05,
                    "paused_share": 0.1,
                },
            }
        ],
    }


def mutate(world: Any, ad_ids: list[str], rng: random.Random, per_cycle: int) -> None:
    """A few state changes a real account sees in five minutes."""
    for ad_id in rng.sample(ad_ids, per_cycle):
        ad = world.ad(ad_id)
        if ad.review_status == "REJECTED":
            world.approve_ad(ad_id, bump=rng.random() < 0.5)
        elif ad.status == "PAUSED":
            world.activate(ad_id)
        elif rng.random() < 0.5:
            world.reject_ad(ad_id, reasons=["LANDING_PAGE_BROKEN"], bump=rng.random() < 0.5)
        else:
            world.pause(ad_id)


async def soak(phase: str, cycles: int, ads: int, warmup: int, folder: Path) -> dict[str, Any]:
    """Run one phase; returns its figures."""
    import aiohttp

    from monitor.config import load_config
    from monitor.models import Kind
    from monitor.pinterest import PinterestClient, StaticToken
    from monitor.simulator import Simulator
    from tests.sink import HttpSink

    rng = random.Random(7)
    figures: dict[str, Any] = {"phase": phase, "cycles": cycles, "ads": ads}
    async with Simulator(scenario=scenario(ads), rate_limit=10**9) as sim, HttpSink() as sink:
        ad_ids = [e.id for e in sim.world.entities_of(ACCOUNT, "ads")]
        config_path = folder / "pinmon.toml"
        config_path.write_text(
            f'[pinterest]\nbase_url = "{sim.base_url}"\naccess_token = "{TOKEN}"\n'
            f'ad_accounts = ["{ACCOUNT}"]\npage_size = 250\nrequests_per_minute = 100000\n'
            f'[monitor]\ninterval = "1h"\nstate = "state.db"\n'
            f'[[routes]]\nname = "all"\napprise = ["{sink.url("/alerts", scheme="json")}"]\n'
        )
        config = load_config(config_path)
        started = time.perf_counter()
        if phase == "baseline":
            async with aiohttp.ClientSession() as session:
                client = PinterestClient(
                    session, base_url=sim.base_url, tokens=StaticToken(TOKEN), page_size=250
                )
                for cycle in range(1, cycles + 1):
                    mutate(sim.world, ad_ids, rng, 3)
                    async for page in client.list_entities_raw(Kind.AD, ACCOUNT):
                        del page
                    sim.requests.clear()
                    if cycle == warmup:
                        figures["rss_warm_mb"] = rss_mb()
            figures["rss_end_mb"] = rss_mb()
        else:
            await _daemon_loop(phase == "full", config, sim, sink, ad_ids, rng, figures, warmup)
            figures["events"] = len(await _events(folder / "state.db"))
        figures["seconds"] = time.perf_counter() - started
    figures["growth_mb"] = figures["rss_end_mb"] - figures["rss_warm_mb"]
    return figures


async def _daemon_loop(
    ops: bool,
    config: Any,
    sim: Any,
    sink: Any,
    ad_ids: list[str],
    rng: random.Random,
    figures: dict[str, Any],
    warmup: int,
) -> None:
    """The real Poller and Deliverer; with ``ops``, metrics and health wired as planned."""
    from contextlib import AsyncExitStack

    import aiohttp

    from monitor.daemon import open_runtime
    from monitor.health import Health, serve_health
    from monitor.metrics import Metrics
    from monitor.models import Kind
    from monitor.summary import outbox_summary, summary_counts

    metrics = Metrics()
    health = Health(interval_s=config.monitor.interval_s)
    cycles, failed, sent, trace = figures["cycles"], 0, 0, []
    async with AsyncExitStack() as stack:
        rt = await stack.enter_async_context(
            open_runtime(config, on_result=metrics.send_result if ops else None)
        )
        if ops:
            server = await stack.enter_async_context(serve_health(health, metrics, port=0))
            scraper = await stack.enter_async_context(aiohttp.ClientSession())
            health.store_opened()
        for cycle in range(1, cycles + 1):
            mutate(sim.world, ad_ids, rng, 3)
            t0 = time.monotonic()
            report = await rt.poller.run_cycle()
            failed += not report.ok
            sent += (await rt.deliverer.drain()).sent
            if ops:
                metrics.cycle_completed(time.monotonic() - t0, report.ok)
                health.cycle_finished(ok=report.ok, error=report.error)
                for record in sim.requests:
                    metrics.api_response(record.path, record.status, 0.0)
                outbox = await outbox_summary(rt.store, now=time.time(), statuses=("pending",))
                metrics.outbox(outbox.pending, outbox.oldest_pending_age_s)
                snapshot = await rt.store.load_snapshot(ACCOUNT, Kind.AD)
                counts = summary_counts(snapshot.entities.values(), snapshot.fields or ())
                metrics.entities("ad", counts)
                del snapshot
                if cycle % 10 == 0:
                    async with scraper.get(f"http://127.0.0.1:{server.port}/metrics") as r:
                        await r.read()
            # The harness's own request logs, not pinmon's memory.
            sim.requests.clear()
            sink.requests.clear()
            if cycle == warmup:
                figures["rss_warm_mb"] = rss_mb()
            if cycle % (cycles // 10 or 1) == 0:
                trace.append(round(rss_mb(), 2))
        figures["rss_end_mb"] = rss_mb()
    figures.update(trace_mb=trace, failed_cycles=failed, sends=sent)


async def _events(path: Path) -> list[Any]:
    from monitor.store.sqlite import open_store

    store = await open_store(path)
    try:
        return await store.events(limit=1_000_000)
    finally:
        await store.close()


def child(args: argparse.Namespace) -> None:
    import anyio

    from monitor import logs

    sys.path.insert(0, str(REPO))
    # Errors only, and to nowhere: 1,000 cycles of logs would measure the terminal.
    logs.configure(level="error", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    with tempfile.TemporaryDirectory(prefix="pinmon-soak-") as tmp:
        figures = anyio.run(soak, args.phase, args.cycles, args.ads, args.warmup, Path(tmp))
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--ads", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--phase", choices=["baseline", "core", "full"])
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    results = {}
    for phase in ("baseline", "core", "full"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                phase,
                "--cycles",
                str(args.cycles),
                "--ads",
                str(args.ads),
                "--warmup",
                str(args.warmup),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        results[phase] = json.loads(out.stdout.splitlines()[-1])
    print(f"# soak: {args.cycles} cycles, {args.ads} ads, 3 changes a cycle, warm-up {args.warmup}")
    print(f"{'phase':<10}{'RSS warm':>10}{'RSS end':>10}{'growth':>9}{'time':>8}")
    for phase, r in results.items():
        print(
            f"{phase:<10}{r['rss_warm_mb']:>8.1f}MB{r['rss_end_mb']:>8.1f}MB"
            f"{r['growth_mb']:>+7.2f}MB{r['seconds']:>7.1f}s"
        )
    for phase in ("core", "full"):
        r = results[phase]
        print(
            f"{phase} loop: {r['events']} events, {r['sends']} deliveries sent, "
            f"{r['failed_cycles']} failed cycles; RSS every tenth of the run (MB): "
            + " ".join(map(str, r["trace_mb"]))
        )
    full, core, base = results["full"], results["core"], results["baseline"]
    verdict = "PASS" if full["growth_mb"] <= GOAL_MB else "FAIL"
    print(
        f"{verdict}: full-loop growth {full['growth_mb']:+.2f} MB (goal <= {GOAL_MB} MB); "
        f"{full['growth_mb'] - base['growth_mb']:+.2f} MB over the baseline's, "
        f"{full['growth_mb'] - core['growth_mb']:+.2f} MB over the core loop's"
    )


if __name__ == "__main__":
    main()
