"""The board's HTTP side: routes, the access guard around every handler, the headers.

Handlers are added to an existing aiohttp application (:func:`mount_board`): the daemon's
health listener, or the one :func:`serve_board` starts for `pinmon web`. Each one reads a
view from :mod:`monitor.web.queries` and renders a template; the guard runs first.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import quote, urlencode

import anyio
import jinja2
import structlog
from aiohttp import web

from monitor.config import Route, parse_duration
from monitor.errors import ListenError
from monitor.health import HealthServer, bind_reason
from monitor.mutes import SCOPES, Mute, Scope
from monitor.routetest import UnknownAd, configured_keys, is_orphan
from monitor.store import STATUSES, StateStore
from monitor.targets import label_of
from monitor.web import queries
from monitor.web.guard import COOKIE, Guard, is_loopback
from monitor.web.now import SORTS, StandingCache, now_view
from monitor.web.params import (
    BadParam,
    choice,
    digits,
    page_number,
    required_digits,
    safe_next,
    text,
    token_like,
)
from monitor.web.routes_view import TYPES, routes_view
from monitor.web.trends import trends_view

log = structlog.get_logger("monitor.web")

#: Nothing from elsewhere, no inline script or style: what a stolen string could inject
#: into a page cannot run.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Same-origin: the board's URLs (ids, filters) do not travel to Pinterest with a click.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: Longest a mute may be set for from the board.
MAX_MUTE_S: Final = 366 * 86400.0
#: The Trends page's window when the config's retention is not given.
RETENTION_S: Final = 30 * 86400.0
#: A comment on the live stream this often keeps proxies from closing it.
_HEARTBEAT_S: Final = 15.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BoardRefused(Exception):
    """The board may not serve this address: not loopback, and no ``[web] token``."""


def _when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _query(values: dict[str, str], **more: object) -> str:
    """A query string of ``values`` and ``more`` (page links keep the filters)."""
    return urlencode({**values, **{k: str(v) for k, v in more.items()}})


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.web", "templates"),
        # Every value is escaped, whatever the file is called: Pinterest text is hostile.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["span"] = _span
    env.filters["query"] = _query
    return env


@dataclass(frozen=True, slots=True)
class _Static:
    body: bytes
    content_type: str


def _static(name: str, content_type: str) -> _Static:
    data = resources.files("monitor.web").joinpath("static", name).read_bytes()
    return _Static(data, content_type)


class Board:
    """The board's handlers over one store.

    Args:
        store: Read for every page; written by the actions (redeliver, mutes).
        guard: The access rules.
        now: Wall-clock Unix seconds (injected, so tests move time).
        live_poll_s: How often the live stream looks for changes.
        routes: The config's routes (the Routes page and its tester).
        retention_s: How far back the history goes (the Trends page's window).
    """

    def __init__(
        self,
        store: StateStore,
        guard: Guard,
        *,
        now: Callable[[], float] = time.time,
        live_poll_s: float = 0.5,
        routes: Sequence[Route] = (),
        retention_s: float = RETENTION_S,
    ) -> None:
        self.store = store
        self.routes = tuple(routes)
        self.retention_s = retention_s
        self.standing = StandingCache()
        self.configured = configured_keys(self.routes)
        self.guard = guard
        self.now = now
        self.live_poll_s = live_poll_s
        self.env = _environment()
        self.files = {
            "board.css": _static("board.css", "text/css"),
            "board.js": _static("board.js", "application/javascript"),
        }

    # -- plumbing --------------------------------------------------------------------------

    def render(
        self, request: web.Request, name: str, *, status: int = 200, **context: Any
    ) -> web.Response:
        who = self.who(request)
        html = self.env.get_template(name).render(
            now=self.now(),
            path=request.path,
            csrf=self.guard.csrf(who) if who else "",
            logged_in=who == "session",
            **context,
        )
        return web.Response(text=html, status=status, content_type="text/html", headers=_HEADERS)

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        return self.render(
            request, "error.html", status=status, status_code=status, message=message
        )

    def who(self, request: web.Request) -> str | None:
        """Who is asking (see :meth:`Guard.identify`); None when they may not see the board."""
        return self.guard.identify(
            host=request.host,
            authorization=request.headers.get("Authorization"),
            cookie=request.cookies.get(COOKIE),
        )

    def guarded(self, handler: Handler, *, public: bool = False) -> Handler:
        """Wrap a handler in the access rules, the CSRF check and the error pages."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            who = self.who(request)
            if who is None and not public:
                return self._refuse(request)
            try:
                if request.method == "POST" and not public:
                    form = await request.post()
                    given = form.get("csrf")
                    if not self.guard.post_allowed(
                        str(who),
                        given=given if isinstance(given, str) else None,
                        origin=request.headers.get("Origin"),
                        host=request.host,
                        scheme=request.scheme,
                    ):
                        return self.error(request, 403, "This form has expired: reload the page.")
                return await handler(request)
            except BadParam as exc:
                return self.error(request, 400, f"Bad request: {exc}")
            except web.HTTPException:
                raise
            except Exception as exc:
                log.error("web.page_failed", path=request.path, error=type(exc).__name__)
                return self.error(request, 500, "Something went wrong reading the state.")

        return wrapped

    def _refuse(self, request: web.Request) -> web.StreamResponse:
        if self.guard.token is None:
            # A loopback board asked under a name that is not loopback: DNS rebinding.
            return self.error(request, 403, "This board answers on loopback addresses only.")
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            where = quote(request.path_qs, safe="/")
            raise web.HTTPSeeOther(f"/login?next={where}", headers=_HEADERS)
        return self.error(request, 401, "A token is needed: log in, or send it as a Bearer header.")

    def done(self, location: str) -> web.HTTPSeeOther:
        """After an action, back to a page (POST, redirect, GET)."""
        return web.HTTPSeeOther(location, headers=_HEADERS)

    # -- pages -----------------------------------------------------------------------------

    async def now_page(self, request: web.Request) -> web.Response:
        q = request.query
        account = digits(q, "account")
        campaign = digits(q, "campaign")
        sort = choice(q, "sort", SORTS, "since")
        view = await now_view(
            self.store,
            account=account,
            campaign=campaign,
            sort=sort,
            page=page_number(q, "page"),
            review_page=page_number(q, "review_page"),
            cache=self.standing,
        )
        # What the pages' links keep of the query: the filters, not the other list's page.
        keep = {k: v for k, v in (("account", account), ("campaign", campaign)) if v}
        return self.render(
            request,
            "now.html",
            view=view,
            account=account,
            campaign=campaign,
            sort=sort,
            sorts=SORTS,
            keep={**keep, "sort": sort},
            all_accounts=await self.store.accounts(),
        )

    async def ad_page(self, request: web.Request) -> web.Response:
        ad_id = required_digits(request.match_info, "ad_id")
        view = await queries.ad_view(self.store, ad_id)
        if view is None:
            return self.error(request, 404, f"No ad {ad_id} in the state: not watched, or pruned.")
        return self.render(request, "ad.html", view=view)

    async def deliveries_page(self, request: web.Request) -> web.Response:
        q = request.query
        target = token_like(q, "target")
        route = text(q, "route", limit=200)
        view = await queries.deliveries_view(
            self.store, target=target, route=route, page=page_number(q)
        )
        keep = {k: v for k, v in (("target", target), ("route", route)) if v}
        gone = {r.target for r in view.rows if self.routes and is_orphan(r.target, self.configured)}
        return self.render(
            request,
            "deliveries.html",
            view=view,
            target=target,
            route=route,
            keep=keep,
            gone=gone,
        )

    async def redeliver(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        event_id = token_like(values, "event_id", prefix="evt_")
        failed = values.get("failed") == "1"
        if event_id is None and not failed:
            raise BadParam("event_id: required (or failed=1)")
        if event_id is not None and self.routes:
            gone = await self._orphans_of(event_id)
            if gone:
                return self.error(
                    request,
                    409,
                    f"Not redelivered: {', '.join(gone)} is no longer in the config, so the"
                    " daemon would fail it again. Add the target back, or leave it.",
                )
        count = await self.store.requeue(event_id=event_id, failed=failed)
        await self.store.enable_targets()  # as `pinmon redeliver`: the user says it is fixed
        log.info("web.redeliver", event_id=event_id, failed=failed, n=count)
        raise self.done("/deliveries")

    async def _orphans_of(self, event_id: str) -> list[str]:
        """The labels of this event's deliveries whose target left the config, when every
        one of them did (then a redelivery has nowhere to go)."""
        rows = await self.store.deliveries(statuses=STATUSES, event_id=event_id, limit=100)
        if not rows or not all(is_orphan(d.target, self.configured) for d in rows):
            return []
        labels = await self.store.labels()
        return sorted({label_of(labels, d.target) for d in rows})

    async def mutes_page(self, request: web.Request) -> web.Response:
        mutes = await queries.mutes_view(self.store, now=self.now())
        return self.render(request, "mutes.html", mutes=mutes, scopes=SCOPES)

    async def mute(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        scope: Scope = choice(values, "scope", SCOPES, "ad")  # type: ignore[assignment]
        entity_id = required_digits(values, "entity_id")
        try:
            for_s = parse_duration(values.get("duration", ""))
        except (ValueError, TypeError) as exc:
            raise BadParam(f"duration: {exc}") from None
        if not 0 < for_s <= MAX_MUTE_S:
            raise BadParam("duration: between a second and a year")
        now = self.now()
        reason = text(values, "reason")
        await self.store.set_mute(Mute(scope, entity_id, now + for_s, now, reason))
        log.info("web.mute", scope=scope, entity_id=entity_id, for_s=for_s)
        raise self.done("/mutes")

    async def unmute(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        scope: Scope = choice(values, "scope", SCOPES, "ad")  # type: ignore[assignment]
        entity_id = required_digits(values, "entity_id")
        gone = await self.store.delete_mute(scope, entity_id)
        log.info("web.unmute", scope=scope, entity_id=entity_id, existed=gone)
        raise self.done("/mutes")

    async def trends_page(self, request: web.Request) -> web.Response:
        if request.query:
            raise BadParam("this page takes no query")
        view = await trends_view(self.store, now=self.now(), retention_s=self.retention_s)
        return self.render(request, "trends.html", view=view)

    async def routes_page(self, request: web.Request) -> web.Response:
        try:
            view = await routes_view(self.store, self.routes, request.query, now=self.now())
        except UnknownAd as exc:
            return self.error(request, 404, f"No ad {exc} in the state: not watched, or pruned.")
        return self.render(request, "routes.html", view=view, types=TYPES)

    async def login_page(self, request: web.Request) -> web.Response:
        return self.render(
            request, "login.html", next=safe_next(request.query.get("next")), failed=False
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        given = form.get("token")
        target = safe_next(form.get("next") if isinstance(form.get("next"), str) else None)  # type: ignore[arg-type]
        if not isinstance(given, str) or not self.guard.login(given):
            log.warning("web.login_failed")
            return self.render(request, "login.html", status=401, next=target, failed=True)
        response = web.HTTPSeeOther(target, headers=_HEADERS)
        response.set_cookie(
            COOKIE,
            self.guard.session_value(),
            httponly=True,
            samesite="Strict",
            path="/",
            secure=request.secure,
        )
        raise response

    async def static(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=found.body,
            content_type=found.content_type,
            headers={**_HEADERS, "Cache-Control": "max-age=300"},
        )

    async def live(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: ``change`` whenever :func:`queries.fingerprint` moves."""
        response = web.StreamResponse(
            headers={**_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        last = await queries.fingerprint(self.store)
        quiet_s = 0.0
        try:
            while True:
                await anyio.sleep(self.live_poll_s)
                current = await queries.fingerprint(self.store)
                if current != last:
                    last = current
                    quiet_s = 0.0
                    # Read Now's standing before the pages refetch: they then share it.
                    await self.standing.get(self.store, await self.store.accounts())
                    await response.write(b"event: change\ndata: {}\n\n")
                else:
                    quiet_s += self.live_poll_s
                    if quiet_s >= _HEARTBEAT_S:
                        quiet_s = 0.0
                        await response.write(b": still here\n\n")
        except (ConnectionResetError, ConnectionError):
            pass
        return response


def mount_board(
    app: web.Application,
    *,
    store: StateStore,
    host: str,
    token: str | None,
    now: Callable[[], float] = time.time,
    live_poll_s: float = 0.5,
    routes: Sequence[Route] = (),
    retention_s: float = RETENTION_S,
) -> Board:
    """Add the board's routes to ``app`` (served on ``host``).

    Raises:
        BoardRefused: ``host`` is not loopback and there is no token.
    """
    if token is None and not is_loopback(host):
        raise BoardRefused(
            f"the board on {host} needs [web] token: without one it serves loopback only"
        )
    board = Board(
        store,
        Guard(token, os.urandom(32)),
        now=now,
        live_poll_s=live_poll_s,
        routes=routes,
        retention_s=retention_s,
    )
    g = board.guarded
    app.router.add_get("/", g(board.now_page))
    app.router.add_get("/ad/{ad_id}", g(board.ad_page))
    app.router.add_get("/deliveries", g(board.deliveries_page))
    app.router.add_post("/deliveries/redeliver", g(board.redeliver))
    app.router.add_get("/mutes", g(board.mutes_page))
    app.router.add_post("/mutes", g(board.mute))
    app.router.add_post("/mutes/lift", g(board.unmute))
    app.router.add_get("/routes", g(board.routes_page))
    app.router.add_get("/trends", g(board.trends_page))
    app.router.add_get("/live", g(board.live))
    app.router.add_get("/login", g(board.login_page, public=True))
    app.router.add_post("/login", g(board.login, public=True))
    app.router.add_get("/static/{name}", g(board.static, public=True))
    return board


@asynccontextmanager
async def serve_board(
    store: StateStore,
    *,
    host: str,
    port: int,
    token: str | None,
    now: Callable[[], float] = time.time,
    live_poll_s: float = 0.5,
    routes: Sequence[Route] = (),
    retention_s: float = RETENTION_S,
) -> AsyncIterator[HealthServer]:
    """Serve the board alone on ``host:port`` until the block exits (`pinmon web`).

    Raises:
        BoardRefused: Not loopback and no token.
        ListenError: The address cannot be bound.
    """
    app = web.Application()
    mount_board(
        app,
        store=store,
        host=host,
        token=token,
        now=now,
        live_poll_s=live_poll_s,
        routes=routes,
        retention_s=retention_s,
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(host, port, bind_reason(exc)) from exc
        yield HealthServer(host, int(runner.addresses[0][1]))
    finally:
        await runner.cleanup()
