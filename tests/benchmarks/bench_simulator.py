"""Benchmark: server CPU per 250-ad page of the simulator's ads listing (50,000 ads).

The simulator runs in its own thread with its own event loop, and only that thread's CPU
clock is read (``pthread_getcpuclockid``), so the client's work is not counted. Figures:

- cold:   every page rendered (first walk through the listing, empty cache);
- cached: the same pages again, served from the page cache;
- after a rename: the first page after one ad was renamed (the page is re-rendered; the
  filtered listing is reused, since membership did not change);
- after a pause: the first page after one ad was paused (the cached listing is patched
  in place, then the page rendered);
- new listing: the first page of a listing not cached yet (all 50,000 ads filtered by
  status, then the page rendered): the worst single request;
- new ad_ids lookup: the first page of an ``ad_ids`` lookup of 250 random ads not cached
  yet (what a fast lane polling PENDING ads sends): the ids looked up, not the account
  scanned, so set it beside "new listing";
- floor:  aiohttp serving a constant body of the same size (what no cache can remove);
- baseline: ``json.dumps`` of the same page built as dicts, in this process (no HTTP).

    python tests/benchmarks/bench_simulator.py [--pages 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import aiohttp
import msgspec
from aiohttp import web

from monitor.simulator import Simulator, World, builtin_scenario, load_scenario

AUTH = {"Authorization": "Bearer demo-token"}
ACCOUNT = "549755885200"


class ServerThread:
    """A simulator (and a constant-body floor server) on a private loop in another thread."""

    def __init__(self, world: World) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(world=world, rate_limit=10**9)
        self.floor_port = 0
        self.floor_body = b""
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self._start())
        assert self.thread.ident is not None
        self.clock = time.pthread_getcpuclockid(self.thread.ident)

    def run(self, coro: object) -> object:
        """Run a coroutine on the server loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    async def _start(self) -> None:
        await self.sim.start()

        async def constant(request: web.Request) -> web.Response:
            return web.Response(body=self.floor_body, content_type="application/json")

        app = web.Application()
        app.router.add_get("/floor", constant)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.floor_port = int(runner.addresses[0][1])

    def cpu_s(self) -> float:
        """CPU seconds the server thread has used so far."""
        return time.clock_gettime(self.clock)


async def walk(http: aiohttp.ClientSession, url: str, pages: int) -> int:
    """Fetch up to ``pages`` pages of 250 following bookmarks; return how many were fetched."""
    params = {"page_size": "250"}
    for n in range(1, pages + 1):
        async with http.get(url, params=params, headers=AUTH) as resp:
            body = await resp.json(loads=lambda b: msgspec.json.decode(b))
        if body["bookmark"] is None:
            return n
        params["bookmark"] = body["bookmark"]
    return pages


async def measure(server: ServerThread, pages: int, repeat: int) -> dict[str, float]:
    """Milliseconds of server CPU per page for each case (median of ``repeat`` runs)."""
    sim = server.sim
    url = f"{sim.base_url}/ad_accounts/{ACCOUNT}/ads"
    results: dict[str, list[float]] = {
        "cold": [],
        "cached": [],
        "after_rename": [],
        "after_pause": [],
        "new_listing": [],
        "new_lookup": [],
        "floor": [],
    }
    async with aiohttp.ClientSession() as http:
        for _ in range(repeat):
            sim.pages.clear()
            before = server.cpu_s()
            n = await walk(http, url, pages)
            results["cold"].append((server.cpu_s() - before) / n * 1000)
            before = server.cpu_s()
            n = await walk(http, url, pages)
            results["cached"].append((server.cpu_s() - before) / n * 1000)
            first_ad = str(sim.world.ids_of(ACCOUNT, "ads")[0])
            changes: list[tuple[str, Callable[..., object], tuple[str, ...]]] = [
                ("after_rename", sim.world.rename, (first_ad, f"renamed {time.time()}")),
                ("after_pause", sim.world.pause, (first_ad,)),
            ]
            for case, change, args in changes:
                server.loop.call_soon_threadsafe(change, *args)
                await asyncio.sleep(0.01)
                before = server.cpu_s()
                await walk(http, url, 1)
                results[case].append((server.cpu_s() - before) * 1000)
                server.loop.call_soon_threadsafe(sim.world.activate, first_ad)
                await asyncio.sleep(0.01)
            sim.pages.clear()
            before = server.cpu_s()
            async with http.get(url, params={"page_size": "250"}, headers=AUTH) as resp:
                server.floor_body = await resp.read()
            results["new_listing"].append((server.cpu_s() - before) * 1000)
            every = [str(i) for i in sim.world.ids_of(ACCOUNT, "ads")]
            lookup = {"page_size": "250", "ad_ids": ",".join(random.sample(every, 250))}
            before = server.cpu_s()
            async with http.get(url, params=lookup, headers=AUTH) as resp:
                await resp.read()
            results["new_lookup"].append((server.cpu_s() - before) * 1000)
            floor_url = f"http://127.0.0.1:{server.floor_port}/floor"
            before = server.cpu_s()
            for _ in range(pages):
                async with http.get(floor_url) as resp:
                    await resp.read()
            results["floor"].append((server.cpu_s() - before) / pages * 1000)
    return {k: statistics.median(v) for k, v in results.items()}


def baseline(world: World, pages: int) -> float:
    """Milliseconds of CPU per page for json.dumps of the same pages built as dicts."""
    ids = world.ids_of(ACCOUNT, "ads")
    ads = [world.ads[str(i)] for i in ids[: pages * 250]]
    chunks = [msgspec.to_builtins(ads[i : i + 250]) for i in range(0, len(ads), 250)]
    before = time.process_time()
    for items in chunks:
        json.dumps({"items": items, "bookmark": "x" * 40}).encode()
    return (time.process_time() - before) / len(chunks) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200, help="pages of 250 per walk")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    # The large scenario without its timeline: walking twice must not change the world.
    scenario = replace(load_scenario(builtin_scenario("large")), timeline=())
    world = World.from_scenario(scenario)
    build_s = time.perf_counter() - started
    server = ServerThread(world)
    figures = asyncio.run(measure(server, args.pages, args.repeat))
    dumps_ms = baseline(world, args.pages)
    page_kb = len(server.floor_body) / 1024
    print(f"simulator: 1 account, {len(world.ads):,} ads; world built in {build_s:.2f} s")
    print(f"page: 250 ads, {page_kb:.0f} kB; {args.pages} pages per walk, median of {args.repeat}")
    print("server CPU per page served (ms):")
    print(f"  cold (rendered)             {figures['cold']:7.3f}")
    print(f"  cached                      {figures['cached']:7.3f}")
    print(f"  first page after a rename   {figures['after_rename']:7.3f}   (page re-rendered)")
    print(f"  first page after a pause    {figures['after_pause']:7.3f}   (listing patched)")
    print(f"  first page of a new listing {figures['new_listing']:7.3f}   (50,000 ads filtered)")
    print(f"  a new ad_ids lookup (250)   {figures['new_lookup']:7.3f}   (250 ids looked up)")
    print(f"  floor: aiohttp, same bytes  {figures['floor']:7.3f}")
    print(f"baseline: json.dumps per page {dumps_ms:7.3f}   (in-process, no HTTP)")
    budget = 5.0
    worst = max(v for k, v in figures.items() if k != "floor")
    print(f"budget {budget:.1f} ms per page: {'met' if worst <= budget else 'MISSED'}")


if __name__ == "__main__":
    main()
