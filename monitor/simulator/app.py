"""The /v5 routes: authentication, rate limits, faults, parameter checks and listings.

Each API request goes through :func:`api_middleware` in the order the real service
applies things: bearer token (401), quota (429), then any scripted fault, then the
handler. Every /v5 response carries ``x-pinterest-rid`` and the ``x-ratelimit-*``
headers, and is recorded in :attr:`Simulator.requests`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import msgspec
from aiohttp import web

from monitor.simulator import vocab
from monitor.simulator.analytics import PARAM_ERROR, hostile, parse_analytics_query
from monitor.simulator.auth import OAuthError
from monitor.simulator.faults import (
    REPLACING,
    REWRITING,
    Fault,
    FaultKind,
    replacement,
    send_truncated,
)
from monitor.simulator.params import ParamError, parse_accounts_query, parse_list_query
from monitor.simulator.ratelimit import Budget
from monitor.simulator.render import encode

if TYPE_CHECKING:
    from monitor.simulator.server import Simulator

API_PREFIX: Final = "/v5"
SIM: web.AppKey[Simulator] = web.AppKey("simulator")
FAULT: web.RequestKey[Fault | None] = web.RequestKey("fault")
_ID: Final = re.compile(r"^\d{1,18}$")
_SINGULAR: Final = {"campaigns": "Campaign", "ad_groups": "Ad group", "ads": "Ad"}
_PATH_IDS: Final = {"campaigns": "campaign_id", "ad_groups": "ad_group_id", "ads": "ad_id"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One /v5 request as the simulator saw it.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The path, with ``/v5``.
        query: The query parameters in order (repeated keys repeat).
        status: The status sent; 0 when a ``reset`` fault sent none.
        fault: The kind of fault that fired on it, if any.
        cycle: The cycle it belonged to.
        at: When it arrived, on the simulator's clock.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    fault: str | None
    cycle: int
    at: float = 0.0

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        return next((v for k, v in self.query if k == name), None)


def error(status: int, code: int, message: str) -> web.Response:
    """A response with the spec's Error body ``{"code": ..., "message": ...}``."""
    return web.Response(
        status=status,
        body=encode({"code": code, "message": message}),
        content_type="application/json",
    )


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def _finish(response: web.StreamResponse, budget: Budget, rid: str) -> web.StreamResponse:
    response.headers.update(budget.headers())
    response.headers["x-pinterest-rid"] = rid
    return response


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth, quota, faults and bookkeeping around every /v5 handler."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    sim = request.app[SIM]
    sim.tick()
    rid = secrets.token_hex(8)
    response = await _serve(sim, request, handler, rid)
    fault: Fault | None = request.get(FAULT)
    status = 0 if fault is not None and fault.kind is FaultKind.RESET else response.status
    sim.record(request, status, fault)
    return response


async def _serve(
    sim: Simulator, request: web.Request, handler: Handler, rid: str
) -> web.StreamResponse:
    route = request.match_info.route.name or ""
    if route == "oauth.token":
        # Token requests authenticate with client credentials and count against another
        # quota category (org_read), so they neither need a bearer nor spend ads_read.
        budget = sim.limiter.peek(sim.tokens.user)
    else:
        user = sim.tokens.user_of(request.headers.get("Authorization"))
        if user is None:
            return _finish(error(*vocab.AUTH_FAILED), sim.limiter.peek(sim.tokens.user), rid)
        # The analytics endpoint has a quota of its own (category ads_analytics).
        limiter = sim.analytics_limiter if route == "ads.analytics" else sim.limiter
        budget = limiter.hit(user)
        if not budget.allowed:
            return _finish(error(*vocab.RATE_LIMITED), budget, rid)
    fault = sim.faults.take(request.method, request.path, listing=route.endswith(".list"))
    request[FAULT] = fault
    if fault is not None and fault.kind in REPLACING:
        response = replacement(fault, request)
        if fault.kind is FaultKind.STATUS_429:
            budget = Budget(budget.limit, 0, budget.reset_s, allowed=False)
        return response if fault.kind is FaultKind.RESET else _finish(response, budget, rid)
    if fault is not None and fault.kind is FaultKind.SLOW:
        await asyncio.sleep(fault.delay_s)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # no such route, or a method it does not take
        response = error(exc.status, exc.status, exc.reason)
    _finish(response, budget, rid)
    if (
        fault is not None
        and fault.kind is FaultKind.TRUNCATED
        and isinstance(response, web.Response)
    ):
        return await send_truncated(request, response)
    return response


def _account_id(request: web.Request) -> str | web.Response:
    """The path's ad account id if it exists and is visible, else the error response."""
    sim = request.app[SIM]
    account_id = request.match_info["ad_account_id"]
    if not _ID.match(account_id):
        return error(
            400, 400, f"Invalid parameters: ad_account_id {account_id!r} must match ^\\d+$"
        )
    if account_id not in sim.world.accounts:
        return error(404, 404, "Ad account not found.")
    if account_id in sim.access.revoked:
        return error(*vocab.FORBIDDEN)
    return account_id


def _listing_response(request: web.Request, account_id: str | None, kind: str) -> web.Response:
    sim = request.app[SIM]
    try:
        if kind == "ad_accounts":
            query = parse_accounts_query(request.query)
        else:
            query = parse_list_query(kind, request.query)
        key = query.listing_key(account_id or "")
        if query.bookmark is None:
            sim.first_page(key)
        fault: Fault | None = request.get(FAULT)
        if fault is not None and fault.kind in (
            FaultKind.REPEAT_BOOKMARK,
            FaultKind.EMPTY_PAGE,
            FaultKind.STALE,
        ):
            only = frozenset(fault.ads) if fault.ads is not None else None
            page = sim.pages.faulted_page(account_id, query, kind=fault.kind.value, stale_ids=only)
            intact = fault.kind is FaultKind.STALE
        else:
            page = sim.pages.page(account_id, query)
            intact = fault is None or fault.kind is not FaultKind.TRUNCATED
    except ParamError as exc:
        return error(400, 400, f"{vocab.PARAM_ERROR_PREFIX[kind]}: {exc}")
    if page.last and intact:
        sim.cycles.completed(key)
    if fault is not None and fault.kind is FaultKind.UNORDERED:
        return _json(_reversed_items(page.body))
    if fault is not None and fault.kind in REWRITING:
        return _json(fault.rewrite(page.body))
    return _json(page.body)


def _reversed_items(body: bytes) -> bytes:
    """The page with its items reversed: a listing that ignores the ``order`` asked for."""
    data = msgspec.json.decode(body)
    data["items"] = list(reversed(data["items"]))
    return msgspec.json.encode(data)


async def list_ad_accounts(request: web.Request) -> web.StreamResponse:
    """GET /ad_accounts (ad_accounts/list)."""
    return _listing_response(request, None, "ad_accounts")


async def get_ad_account(request: web.Request) -> web.StreamResponse:
    """GET /ad_accounts/{ad_account_id} (ad_accounts/get)."""
    account_id = _account_id(request)
    if isinstance(account_id, web.Response):
        return account_id
    return _json(encode(request.app[SIM].world.accounts[account_id]))


def list_entities(kind: str) -> Handler:
    """The handler of GET /ad_accounts/{ad_account_id}/{kind} ({kind}/list)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        account_id = _account_id(request)
        if isinstance(account_id, web.Response):
            return account_id
        return _listing_response(request, account_id, kind)

    return handle


def get_entity(kind: str) -> Handler:
    """The handler of GET /ad_accounts/{ad_account_id}/{kind}/{id} ({kind}/get)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        account_id = _account_id(request)
        if isinstance(account_id, web.Response):
            return account_id
        sim = request.app[SIM]
        entity_id = request.match_info[_PATH_IDS[kind]]
        if not _ID.match(entity_id):
            return error(400, 400, f"Invalid parameters: {_PATH_IDS[kind]} must match ^\\d+$")
        entity = getattr(sim.world, kind).get(entity_id)
        if entity is None or entity.ad_account_id != account_id:
            return error(404, 404, f"{_SINGULAR[kind]} not found.")
        fault: Fault | None = request.get(FAULT)
        if fault is not None and fault.kind is FaultKind.STALE:
            entity = sim.pages.stale(
                entity, frozenset(fault.ads) if fault.ads is not None else None
            )
        return _json(encode(entity))

    return handle


async def ads_analytics(request: web.Request) -> web.StreamResponse:
    """GET /ad_accounts/{ad_account_id}/ads/analytics (ads/analytics)."""
    account_id = _account_id(request)
    if isinstance(account_id, web.Response):
        return account_id
    sim = request.app[SIM]
    today = datetime.fromtimestamp(sim.now(), UTC).date()
    try:
        query = parse_analytics_query(request.query, today=today)
    except ParamError as exc:
        return error(400, 400, f"{PARAM_ERROR}: {exc}")
    known = {
        i for i in query.ad_ids if (ad := sim.world.ads.get(i)) and ad.ad_account_id == account_id
    }
    rows = sim.analytics.rows(query, known)
    fault: Fault | None = request.get(FAULT)
    if fault is not None and fault.kind is FaultKind.HOSTILE_ROWS:
        return _json(msgspec.json.encode(hostile(rows)))
    return _json(msgspec.json.encode(rows))


async def oauth_token(request: web.Request) -> web.StreamResponse:
    """POST /oauth/token (oauth/token): refresh-token grant with rotation."""
    sim = request.app[SIM]
    if request.content_type != "application/x-www-form-urlencoded":
        return error(400, 400, "Invalid parameters: expected application/x-www-form-urlencoded")
    form = await request.post()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = sim.tokens.grant(request.headers.get("Authorization"), fields)
    except OAuthError as exc:
        return error(exc.status, exc.code, exc.message)
    return _json(encode(body))


def add_api_routes(app: web.Application) -> None:
    """Register the /v5 routes, each named after its spec operationId (``/`` spelt ``.``)."""
    r = app.router
    base = API_PREFIX + "/ad_accounts"
    r.add_get(base, list_ad_accounts, name="ad_accounts.list")
    r.add_get(base + "/{ad_account_id}", get_ad_account, name="ad_accounts.get")
    # Before ads/{ad_id}, which "analytics" would otherwise match.
    r.add_get(f"{base}/{{ad_account_id}}/ads/analytics", ads_analytics, name="ads.analytics")
    for kind, path_id in _PATH_IDS.items():
        r.add_get(f"{base}/{{ad_account_id}}/{kind}", list_entities(kind), name=f"{kind}.list")
        r.add_get(
            f"{base}/{{ad_account_id}}/{kind}/{{{path_id}}}", get_entity(kind), name=f"{kind}.get"
        )
    r.add_post(API_PREFIX + "/oauth/token", oauth_token, name="oauth.token")
