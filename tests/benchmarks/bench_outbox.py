"""Benchmark: the outbox draining to local webhook targets, against a plain aiohttp POST loop.

One sink process (aiohttp's low-level server, one port per target, answering 200 to every
POST) stands in for the receivers, so that the client side is what is measured. For one
target and for ten, in the same run:

- **plain**: one ``aiohttp.ClientSession`` POSTs the same event bodies (the JSON pinmon
  sends), one request at a time per target, every target at once: the same concurrency
  the outbox allows itself (one send in flight per target);
- **pinmon drain**: a real state file filled with the events and their outbox rows (one
  per event and target, through the planner), then the daemon's own runtime
  (``open_runtime``: the config's signed webhooks on the guarded session, metrics, JSON
  logs to a file) and ``Deliverer.drain()``, the ``run --once`` path;
- **pinmon run**: the same, through ``Deliverer.run()``, the daemon's loop, stopped when
  the last send's result is in; its time includes the shutdown's last write.

Every pinmon figure is checked: every row delivered in the state file, and the sink
counted every POST. Deliveries per second, best of ``--rounds`` (each round runs every
side once, back to back), and pinmon's ratio to the plain loop within each round.

    python tests/benchmarks/bench_outbox.py [--events 3000] [--events-ten 1000] [--rounds 3]
        [--profile] [--log-level info]

Goals (issue #13): >= 1,000 deliveries/s to ten targets, and >= 0.5x the plain loop on one
target. ``--profile`` also drains ten targets once under cProfile (CPU time of every thread,
the store's worker threads included) and prints the top of it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HERE))

from monitor.events import Event, FieldChange, to_json  # noqa: E402

ACCOUNT = "549755885175"
#: Subprocesses without PYTHONDONTWRITEBYTECODE (this machine sets it): an installed
#: pinmon and aiohttp run from compiled bytecode, so should they here.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
#: The CPU seconds (this process, every thread) of the last measured plain loop or delivery:
#: unlike the rate, hardly moved by what else loads the machine.
LAST_CPU_S = [0.0]
SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="

SINK = """
import asyncio, json, sys, threading
from aiohttp import web

async def main(n):
    counts = [0] * n
    ports = []
    for i in range(n):
        async def handle(request, i=i):
            if request.method == "GET":
                return web.Response(text=json.dumps(counts))
            await request.read()
            counts[i] += 1
            return web.Response()
        runner = web.ServerRunner(web.Server(handle), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])
    print(" ".join(map(str, ports)), flush=True)
    # Ends with the benchmark (its stdin closes), and by itself after an hour at most.
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)),
                     daemon=True).start()
    try:
        await asyncio.wait_for(done.wait(), 3600)
    except TimeoutError:
        pass

asyncio.run(main(int(sys.argv[1])))
"""


def events(n: int) -> list[Event]:
    """``n`` ad rejections as the differ makes them: names, changes and state filled in."""
    return [
        Event(
            id=f"evt_{i:024x}",
            type="ad.rejected",
            entity="ad",
            entity_id=str(687195134316 + i),
            ad_account_id=ACCOUNT,
            campaign_id="626735565838",
            ad_group_id="2680059592705",
            ad_id=str(687195134316 + i),
            pin_id=str(394205773611545468 + i),
            name=f"Spring sale — creative {i}",
            updated_time=1_700_000_000 + i,
            detected_at=1_700_000_100.0 + i,
            changes={
                "review_status": FieldChange("PENDING", "REJECTED"),
                "rejected_reasons": FieldChange(None, ["HASHTAGS", "LANDING_PAGE_BROKEN"]),
            },
            state={"status": "ACTIVE", "review_status": "REJECTED", "summary_status": "REJECTED"},
            campaign_name="Spring 2026 — catalogue",
            ad_group_name="Lookalikes 1%",
        )
        for i in range(n)
    ]


class Sink:
    """The sink process: ``targets`` ports on 127.0.0.1."""

    def __init__(self, targets: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK, str(targets)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.ports = [int(p) for p in self.proc.stdout.readline().split()]

    def urls(self, n: int) -> list[str]:
        return [f"http://127.0.0.1:{port}/in" for port in self.ports[:n]]

    def total(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[0]}/", timeout=30) as r:
            return sum(json.loads(r.read()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


async def plain(urls: list[str], bodies: list[bytes]) -> float:
    """The baseline: POST every body to every URL, one request in flight per URL."""
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def target(url: str) -> None:
            for body in bodies:
                async with session.post(
                    url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    assert response.status == 200, response.status

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(target(url) for url in urls))
        LAST_CPU_S[0] = time.process_time() - cpu
        return time.perf_counter() - started


def write_config(folder: Path, urls: list[str]) -> Path:
    hooks = ", ".join(f'{{ url = "{u}", secret = "{SECRET}" }}' for u in urls)
    path = folder / "pinmon.toml"
    path.write_text(
        '[pinterest]\naccess_token = "bench-token"\n'
        f'ad_accounts = ["{ACCOUNT}"]\n[monitor]\nstate = "state.db"\n'
        f'[[routes]]\nname = "hooks"\nevents = ["ad.*"]\nwebhooks = [{hooks}]\n'
    )
    return path


async def fill(config_path: Path, evs: list[Event]) -> int:
    """Commit the events and their outbox rows as a poll cycle would; returns the rows."""
    from monitor.config import load_config
    from monitor.planner import plan
    from monitor.store.factory import open_state
    from monitor.wiring import build_notifiers

    config = load_config(config_path)
    _, by_route = build_notifiers(config)
    targets = {route: [n.key for n in ns] for route, ns in by_route.items()}
    store = await open_state(str(config_path.parent / "state.db"))
    rows = 0
    try:
        for start in range(0, len(evs), 500):
            chunk = evs[start : start + 500]
            pairs = plan(chunk, config.routes, (), targets).rows
            await store.record_events(chunk, deliveries=pairs, at=time.time() - 1)
            rows += len(pairs)
    finally:
        await store.close()
    return rows


async def deliver(config_path: Path, expected: int, mode: str) -> float:
    """Deliver the filled outbox with the daemon's runtime; the seconds it took."""
    from monitor.config import load_config
    from monitor.daemon import open_runtime

    config = load_config(config_path)
    results = [0]
    finished = asyncio.Event()

    def on_result(batch: Any, result: Any) -> None:
        assert result.ok, result.detail
        results[0] += len(batch)
        if results[0] >= expected:
            finished.set()

    async with open_runtime(config, on_result=on_result) as rt:
        started, cpu = time.perf_counter(), time.process_time()
        if mode == "drain":
            report = await rt.deliverer.drain()
            assert report.sent == expected, (report.sent, expected)
        else:
            # As the daemon's first cycle does: rows already queued are sent at once, not
            # at the workers' first tick.
            rt.deliverer.wake()
            task = asyncio.ensure_future(rt.deliverer.run())
            await finished.wait()
            rt.deliverer.stop()
            await task
        elapsed = time.perf_counter() - started
        LAST_CPU_S[0] = time.process_time() - cpu
        pending = await rt.store.deliveries(statuses=("pending",), limit=10)
        delivered = await rt.store.deliveries(statuses=("delivered",), limit=expected + 1)
        assert not pending, len(pending)
        assert len(delivered) == expected, (len(delivered), expected)
    return elapsed


def in_loop(make: Callable[[], Awaitable[float]]) -> float:
    async def main() -> float:
        return await make()

    return asyncio.run(main())


def pinmon(
    folder: Path,
    urls: list[str],
    evs: list[Event],
    mode: str,
    sink: Sink,
    run: Callable[[Callable[[], Awaitable[float]]], float] = in_loop,
) -> float:
    """One pinmon measurement on a fresh state file (filled first, outside the timing)."""
    for leftover in folder.glob("state.db*"):
        leftover.unlink()
    config_path = write_config(folder, urls)
    expected = asyncio.run(fill(config_path, evs))
    before = sink.total()
    elapsed: float = run(lambda: deliver(config_path, expected, mode))
    assert sink.total() - before == expected, "the sink did not count every delivery"
    return elapsed


def configure_logs(folder: Path, level: str) -> None:
    """JSON log lines, as the daemon writes them, to a file: their cost is part of the run
    (at ``info``, the daemon's default, one ``delivery.sent`` line per send)."""
    from monitor import logs

    logs.configure(level=level, fmt="json", stream=(folder / "pinmon.log").open("a"))


#: What the profile is summed into: a part of the work, by the function that does it.
PARTS = {
    "the HTTP request (aiohttp)": ("aiohttp/client.py", "_request"),
    "the webhook's POST (signing, headers, the request)": ("notify/webhook.py", "_post"),
    "rendering the message": ("digest.py", "compose"),
    "outcomes one row a transaction: the loop's side (mark_*)": ("store/core.py", "_settle"),
    "  ... and the store thread's (outbox.settle)": ("store/outbox.py", "settle"),
    "outcomes in batches: the loop's side (settle_many)": ("store/core.py", "settle_many"),
    "  ... and the store thread's (outbox.settle_many)": ("store/outbox.py", "settle_many"),
    "the store thread, every call (fetches too)": ("store/core.py", "_call"),
    "the delivery.sent log line (structlog, logging)": ("structlog/stdlib.py", "info"),
}


def profiled(top: int) -> Callable[[Callable[[], Awaitable[float]]], float]:
    """Run a coroutine under cProfile on CPU time, the store's worker threads included
    (each store call profiled in its thread), and print the top of it."""
    from monitor.store.core import Store

    def run(make: Callable[[], Awaitable[float]]) -> float:
        local = threading.local()
        profiles: list[cProfile.Profile] = []
        call = Store._call

        def profiled_call(self: Any, *args: Any) -> Any:
            profile = getattr(local, "profile", None)
            if profile is None:
                profile = local.profile = cProfile.Profile(time.thread_time)
                profiles.append(profile)
            profile.enable()
            try:
                return call(self, *args)
            finally:
                profile.disable()

        main = cProfile.Profile(time.thread_time)
        Store._call = profiled_call  # type: ignore[method-assign]
        main.enable()
        try:
            result = in_loop(make)
        finally:
            main.disable()
            Store._call = call  # type: ignore[method-assign]
        stats = pstats.Stats(main)
        for profile in profiles:
            stats.add(profile)
        # CPU time of every thread; for an async function, calls count its resumptions.
        total = sum(tt for _, _, tt, _, _ in stats.stats.values())  # type: ignore[attr-defined]
        print(f"\nprofile: main thread + {len(profiles)} store threads, {total:.2f} s CPU in all")
        for sort in ("tottime", "cumulative"):
            print(f"-- top {top} by {sort} (share of all CPU) --")
            rows = sorted(
                stats.stats.items(),  # type: ignore[attr-defined]
                key=lambda kv: kv[1][2 if sort == "tottime" else 3],
                reverse=True,
            )[:top]
            for (file, line, name), (_, calls, tt, ct, _) in rows:
                where = f"{Path(file).name}:{line}({name})" if line else name
                print(f"  {tt / total:6.1%} self {ct / total:6.1%} cum {calls:>8} {where[:90]}")
        print("-- where it goes (cumulative share of all CPU) --")
        for part, (suffix, name) in PARTS.items():
            ct = sum(
                v[3]
                for (file, _, fn), v in stats.stats.items()  # type: ignore[attr-defined]
                if file.endswith(suffix) and fn == name
            )
            print(f"  {ct / total:6.1%}  {part}")
        return result

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000, help="events to one target")
    parser.add_argument("--events-ten", type=int, default=1000, help="events to ten targets")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--log-level", default="info", help="pinmon's log level (info: the daemon's default)"
    )
    args = parser.parse_args()
    sink = Sink(10)
    figures: dict[tuple[int, str], list[float]] = {}
    cpu: dict[tuple[int, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pinmon-outbox-") as tmp:
            folder = Path(tmp)
            configure_logs(folder, args.log_level)
            for targets in (1, 10):
                urls = sink.urls(targets)
                evs = events(args.events if targets == 1 else args.events_ten)
                bodies = [to_json(e) for e in evs]
                deliveries = len(evs) * targets
                asyncio.run(plain(urls, bodies[:100]))  # warm-up: imports, connections
                for _ in range(args.rounds):
                    runs = (
                        ("plain", lambda u=urls, b=bodies: asyncio.run(plain(u, b))),
                        ("drain", lambda u=urls, e=evs: pinmon(folder, u, e, "drain", sink)),
                        ("run", lambda u=urls, e=evs: pinmon(folder, u, e, "run", sink)),
                    )
                    for side, measure in runs:
                        figures.setdefault((targets, side), []).append(deliveries / measure())
                        cpu.setdefault((targets, side), []).append(LAST_CPU_S[0] / deliveries)
            if args.profile:
                urls = sink.urls(10)
                evs = events(args.events_ten)
                pinmon(folder, urls, evs, "drain", sink, profiled(args.top))
    finally:
        sink.close()
    if args.rounds:
        report(figures, cpu, args)


def report(
    figures: dict[tuple[int, str], list[float]],
    cpu: dict[tuple[int, str], list[float]],
    args: argparse.Namespace,
) -> None:
    print(
        f"\nevents: {args.events} to one target, {args.events_ten} to each of ten targets;"
        f" deliveries/s, best of {args.rounds} [all]; payload "
        f"{len(to_json(events(1)[0]))} bytes; log level {args.log_level};"
        f" python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs"
    )
    best = {key: max(runs) for key, runs in figures.items()}
    for (targets, side), runs in figures.items():
        name = {"plain": "plain aiohttp loop", "drain": "pinmon drain()", "run": "pinmon run()"}
        print(
            f"  {targets:>2} target{'s' if targets > 1 else ' '}  {name[side]:<19}"
            f" {best[targets, side]:7.0f}/s  [{', '.join(f'{r:.0f}' for r in runs)}]"
            f"  CPU {statistics.median(cpu[targets, side]) * 1e6:4.0f} µs/delivery (median)"
        )
    # Each round measures the plain loop and pinmon back to back: on a shared machine the
    # ratio within a round is the steadier figure.
    for side in ("drain", "run"):
        for targets in (1, 10):
            ratios = [
                p / b
                for p, b in zip(figures[targets, side], figures[targets, "plain"], strict=True)
            ]
            goal = "  (goal >= 0.5)" if targets == 1 else ""
            print(
                f"  {side:<5} / plain, {targets:>2} target{'s' if targets > 1 else ' '}:"
                f" {statistics.median(ratios):.2f}x median of rounds"
                f" [{', '.join(f'{r:.2f}' for r in ratios)}]{goal}"
            )
        print(f"  {side:<5} to ten targets: {best[10, side]:.0f}/s best  (goal >= 1000/s)")


if __name__ == "__main__":
    main()
