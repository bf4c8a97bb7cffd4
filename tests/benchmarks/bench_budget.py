"""Benchmark: how much of Pinterest's quota the rate budget uses, and how fast a fresh
window goes, against a simulator that enforces both a per-minute window and a per-second
ceiling (a separate process, real time, loopback HTTP).

1. **Fresh window**: one account of 200,000 ads (800 pages of 250) listed once with a new
   budget; the ceiling of 100 requests/second sets 8 s. Reported: wall time / 8 s (goal
   <= 1.3), and 429s (goal 0).
2. **Continuous polling** for ``--minutes`` (default 5) against 1,000 a minute, with
   ``requests_per_minute`` configured at 500, 1,000 and 4,000: requests answered as a
   share of the quota (goal >= 97%) and 429s (goal 0).

Baseline in the same run: the token bucket pinmon used before (a tenth of the limit as
burst, the rest spread evenly), re-created here, polled the same way.

    python tests/benchmarks/bench_budget.py [--minutes 5] [--ads 200000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from monitor import logs
from monitor.models import Kind
from monitor.pinterest import PinterestClient, RetryPolicy, StaticToken
from monitor.pinterest.budget import RateBudget, bucket_shape

TOKEN = "bench-token"
BIG = "549755885175"
SMALL = "549755885176"


class OldBucket:
    """The budget before: a token bucket bursting a tenth and spreading the rest."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.capacity, self._rate = bucket_shape(limit, window_s)
        self._tokens = float(self.capacity)
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(
                    float(self.capacity), self._tokens + (now - self._stamp) * self._rate
                )
                self._stamp = now
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                elif self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                else:
                    await asyncio.sleep((1.0 - self._tokens) / self._rate)

    def release(self, seen: Any) -> None:
        if seen is not None and seen.remaining is not None:
            self._tokens = min(self._tokens, float(seen.remaining))
            if seen.remaining <= 0 and seen.reset_s is not None:
                self.pause(seen.reset_s)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + min(seconds, 900.0))


def simulator(folder: Path, ads: int) -> tuple[subprocess.Popen[str], str]:
    scenario = folder / "budget.toml"
    scenario.write_text(
        f'name = "budget"\n[auth]\naccess_tokens = ["{TOKEN}"]\n'
        "[rate_limit]\nlimit = 1000\nwindow_s = 60\nper_second = 100\n"
        f'[[accounts]]\nid = "{BIG}"\nname = "Big"\n'
        f"generate = {{ ads = {ads}, campaigns = 40, ad_groups_per_campaign = 5 }}\n"
        f'[[accounts]]\nid = "{SMALL}"\nname = "Small"\ngenerate = {{ ads = 10 }}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--port", "0", "--scenario", str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.split('"')[1]


def reset(base_url: str) -> None:
    """A fresh window for the next measurement (the admin API's reset)."""
    admin = base_url.removesuffix("/v5") + "/_sim/reset"
    urllib.request.urlopen(urllib.request.Request(admin, method="POST"), timeout=30).read()


def log_of(base_url: str) -> list[dict[str, Any]]:
    admin = base_url.removesuffix("/v5") + "/_sim/requests"
    with urllib.request.urlopen(admin, timeout=60) as answer:
        data: list[dict[str, Any]] = json.loads(answer.read())
    return data


async def listing(base_url: str, account: str, budget: Any) -> int:
    async with aiohttp.ClientSession() as session:
        client = PinterestClient(
            session, base_url=base_url, tokens=StaticToken(TOKEN), budget=budget
        )
        pages = 0
        async for _ in client.list_entities_raw(Kind.AD, account, order="ASCENDING"):
            pages += 1
        return pages


async def poll_for(base_url: str, budget: Any, seconds: float) -> None:
    async with aiohttp.ClientSession() as session:
        client = PinterestClient(
            session,
            base_url=base_url,
            tokens=StaticToken(TOKEN),
            budget=budget,
            retry=RetryPolicy(attempts=1),
        )
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                async for _ in client.list_entities_raw(Kind.AD, SMALL):
                    pass
            except Exception:  # a 429 after its retry: counted from the log below
                pass


def fresh_window(base_url: str, name: str, budget: Any) -> None:
    reset(base_url)
    started = time.monotonic()
    pages = asyncio.run(listing(base_url, BIG, budget))
    wall = time.monotonic() - started
    refused = sum(1 for r in log_of(base_url) if r["status"] == 429)
    ceiling = pages / 100
    print(
        f"fresh window  {name:<10} {pages} pages in {wall:6.2f} s = {wall / ceiling:4.2f}x the"
        f" {ceiling:.0f} s the 100/s ceiling sets; 429s: {refused}"
    )


def continuous(base_url: str, name: str, budget: Any, minutes: float) -> None:
    reset(base_url)
    asyncio.run(poll_for(base_url, budget, minutes * 60))
    log = log_of(base_url)
    answered = sum(1 for r in log if r["status"] == 200)
    refused = sum(1 for r in log if r["status"] == 429)
    print(
        f"continuous    {name:<10} {minutes:g} min: {answered} answered = "
        f"{answered / (1000 * minutes):6.1%} of the quota; 429s: {refused}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--ads", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="1 minute, 50,000 ads")
    args = parser.parse_args()
    logs.configure(level="warning")  # the client's debug lines are not the figures
    if args.quick:
        args.minutes, args.ads = 1.0, 50_000
    with tempfile.TemporaryDirectory(prefix="pinmon-budget-") as tmp:
        proc, base_url = simulator(Path(tmp), args.ads)
        try:
            fresh_window(base_url, "pinmon", RateBudget(1000))
            fresh_window(base_url, "old bucket", OldBucket(1000))
            for configured in (500, 1000, 4000):
                continuous(base_url, f"pinmon@{configured}", RateBudget(configured), args.minutes)
            continuous(base_url, "old@1000", OldBucket(1000), args.minutes)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
