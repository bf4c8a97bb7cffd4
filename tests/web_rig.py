"""A state filled by the real daemon against the simulator, and the board served over it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.config import Route
from monitor.daemon import run_once
from monitor.store import StateStore
from monitor.store.sqlite import open_store
from monitor.web.app import mount_board
from tests.harness import ADS, GROUP, Rig, rig

#: A Pinterest-sourced name that would run as script if it reached a page unescaped.
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
REJECTED = ADS[1]
IN_REVIEW = ADS[2]


@dataclass
class Filled:
    """The rig after its cycles, the id of the hostile ad, and the store (open)."""

    rig: Rig
    hostile_id: str
    store: StateStore


@asynccontextmanager
async def filled(tmp_path: Path) -> AsyncIterator[Filled]:
    """Baseline, then a rejection (with labels), an ad in review and a hostile new ad."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
        r.sim.world.reject_ad(
            REJECTED, reasons=["LANDING_PAGE_BROKEN"], labels=["Landing page is broken"]
        )
        r.sim.world.set_pending(IN_REVIEW)
        hostile = r.sim.world.create_ad(ad_group_id=GROUP, name=HOSTILE)
        await run_once(r.config)
        store = await open_store(tmp_path / "state.db")
        try:
            yield Filled(r, hostile.id, store)
        finally:
            await store.close()


@asynccontextmanager
async def board(
    store: StateStore,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    now: float | None = None,
    live_poll_s: float = 0.05,
    routes: Sequence[Route] = (),
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The board alone over ``store``, on a loopback port, and a client for it."""
    app = web.Application()
    kwargs = {} if now is None else {"now": lambda: now}
    mount_board(
        app,
        store=store,
        host=host,
        token=token,
        live_poll_s=live_poll_s,
        routes=routes,
        **kwargs,  # type: ignore[arg-type]
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


#: Routes beside the rig's: one a rejection in another campaign never matches, one with
#: secrets in its URLs (which must never reach a page).
EXTRA_ROUTES = """
[[routes]]
name = "big-spenders"
events = ["ad.rejected"]
campaigns = ["999"]
webhooks = [{ url = "https://hooks.example.com/in/s3cr3tPathToken0123?token=qwertyuiop", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }]

[[routes]]
name = "leftovers"
fallback = true
apprise = ["slack://T0AAAAAAA/B0BBBBBBB/Zsecretsecretsecret0123/#ads"]
"""


def with_routes(r: Rig) -> Sequence[Route]:
    """The rig's config with :data:`EXTRA_ROUTES` added; its routes."""
    from monitor.config import load_config

    r.path.write_text(r.path.read_text() + EXTRA_ROUTES)
    return load_config(r.path, check_targets=False).routes
