"""The admin endpoints under ``/_sim``: drive a running simulator over HTTP.

They sit outside ``/v5``, need no token, spend no quota, are never faulted and are not
recorded: a test in another process can script the simulator without disturbing what
it observes. Bodies are JSON shaped like the scenario's TOML tables.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from aiohttp import web

from monitor.errors import ConfigError
from monitor.simulator.actions import StepError
from monitor.simulator.app import SIM
from monitor.simulator.faults import parse_fault
from monitor.simulator.render import encode
from monitor.simulator.reviewer import STATES
from monitor.simulator.tables import Problems

ADMIN_PREFIX: Final = "/_sim"


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encode(value), content_type="application/json")


def _problem(message: str, problems: list[str] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": 400, "message": message}
    if problems:
        body["problems"] = problems
    return _json(body, status=400)


async def _tables(request: web.Request) -> list[dict[str, Any]] | web.Response:
    """The body as a list of JSON objects (one object is a list of one)."""
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError as exc:
        return _problem(f"body is not JSON: {exc}")
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(i, dict) for i in items):
        return _problem("body must be a JSON object or a list of objects")
    return items


async def state(request: web.Request) -> web.StreamResponse:
    """GET /_sim/state: cycle, entity counts, faults, pending steps."""
    return _json(request.app[SIM].state())


async def get_cycle(request: web.Request) -> web.StreamResponse:
    """GET /_sim/cycle: ``{"cycle": n}``."""
    return _json({"cycle": request.app[SIM].cycle})


async def advance_cycle(request: web.Request) -> web.StreamResponse:
    """POST /_sim/cycle: start the next cycle by hand."""
    return _json({"cycle": request.app[SIM].advance_cycle()})


async def post_steps(request: web.Request) -> web.StreamResponse:
    """POST /_sim/steps: apply (or schedule, with at_cycle / after_s) one step or a list."""
    sim = request.app[SIM]
    tables = await _tables(request)
    if isinstance(tables, web.Response):
        return tables
    changed: list[str] = []
    try:
        for table in tables:
            changed += sim.apply(table)
    except ConfigError as exc:
        return _problem("invalid step", exc.problems)
    except StepError as exc:
        return _problem(str(exc))
    return _json({"changed": changed, "cycle": sim.cycle})


async def get_faults(request: web.Request) -> web.StreamResponse:
    """GET /_sim/faults: the armed faults, with how often each has fired."""
    return _json([f.to_json() for f in request.app[SIM].faults.armed])


async def post_faults(request: web.Request) -> web.StreamResponse:
    """POST /_sim/faults: arm one fault or a list."""
    sim = request.app[SIM]
    tables = await _tables(request)
    if isinstance(tables, web.Response):
        return tables
    p = Problems("fault")
    parsed = [parse_fault(t, f"[{i}]", p) for i, t in enumerate(tables)]
    if p.lines:
        return _problem("invalid fault", p.lines)
    armed = [sim.faults.add(f) for f in parsed if f is not None]
    return _json([f.to_json() for f in armed])


async def delete_faults(request: web.Request) -> web.StreamResponse:
    """DELETE /_sim/faults: disarm every fault."""
    request.app[SIM].clear_faults()
    return _json({"faults": []})


async def post_reset(request: web.Request) -> web.StreamResponse:
    """POST /_sim/reset: back to the scenario's start."""
    sim = request.app[SIM]
    sim.reset()
    return _json(sim.state())


async def get_requests(request: web.Request) -> web.StreamResponse:
    """GET /_sim/requests: the request log (``?since=N`` skips the first N)."""
    sim = request.app[SIM]
    since = request.query.get("since", "0")
    start = int(since) if since.isdigit() else 0
    return _json(
        [
            {
                "method": r.method,
                "path": r.path,
                "query": [list(kv) for kv in r.query],
                "status": r.status,
                "fault": r.fault,
                "cycle": r.cycle,
            }
            for r in sim.requests[start:]
        ]
    )


async def get_ids(request: web.Request) -> web.StreamResponse:
    """GET /_sim/ids?kind=ads[&account=ID]: the ids of one kind, ascending (any status)."""
    world = request.app[SIM].world
    kind = request.query.get("kind", "ads")
    if kind not in ("campaigns", "ad_groups", "ads"):
        return _problem("kind must be campaigns, ad_groups or ads")
    account = request.query.get("account")
    if account is not None and account not in world.accounts:
        return _problem(f"no account with id {account}")
    accounts = [account] if account else sorted(world.accounts, key=int)
    return _json({"ids": [str(i) for a in accounts for i in world.ids_of(a, kind)]})


async def get_reviews(request: web.Request) -> web.StreamResponse:
    """GET /_sim/reviews[?story=N][&state=S]: every staged review, its moments and verdict."""
    sim = request.app[SIM]
    story, state = request.query.get("story"), request.query.get("state")
    if story is not None and not story.isdigit():
        return _problem("story must be a story number")
    if state is not None and state not in STATES:
        return _problem(f"state must be one of: {', '.join(STATES)}")
    sim.tick()  # moments due by now are applied before they are reported
    reviews = sim.reviewer.listing(story=int(story) if story else None, state=state)
    return _json({"now": sim.now(), "reviews": [r.to_json() for r in reviews]})


async def post_reviews(request: web.Request) -> web.StreamResponse:
    """POST /_sim/reviews: stage one review story or a list, offsets counted from now."""
    sim = request.app[SIM]
    tables = await _tables(request)
    if isinstance(tables, web.Response):
        return tables
    staged = []
    try:
        for table in tables:
            staged += sim.stage_reviews(table)
    except ConfigError as exc:
        return _problem("invalid review story", exc.problems)
    except StepError as exc:
        return _problem(str(exc))
    return _json({"now": sim.now(), "reviews": [r.to_json() for r in staged]})


async def post_tokens(request: web.Request) -> web.StreamResponse:
    """POST /_sim/tokens: mint a fresh access/refresh token pair."""
    pair = request.app[SIM].tokens.issue()
    return _json({"access_token": pair.access_token, "refresh_token": pair.refresh_token})


def add_admin_routes(app: web.Application) -> None:
    """Register the ``/_sim`` routes."""
    r = app.router
    r.add_get(ADMIN_PREFIX + "/state", state)
    r.add_get(ADMIN_PREFIX + "/cycle", get_cycle)
    r.add_post(ADMIN_PREFIX + "/cycle", advance_cycle)
    r.add_post(ADMIN_PREFIX + "/steps", post_steps)
    r.add_get(ADMIN_PREFIX + "/faults", get_faults)
    r.add_post(ADMIN_PREFIX + "/faults", post_faults)
    r.add_delete(ADMIN_PREFIX + "/faults", delete_faults)
    r.add_post(ADMIN_PREFIX + "/reset", post_reset)
    r.add_get(ADMIN_PREFIX + "/requests", get_requests)
    r.add_get(ADMIN_PREFIX + "/ids", get_ids)
    r.add_get(ADMIN_PREFIX + "/reviews", get_reviews)
    r.add_post(ADMIN_PREFIX + "/reviews", post_reviews)
    r.add_post(ADMIN_PREFIX + "/tokens", post_tokens)
