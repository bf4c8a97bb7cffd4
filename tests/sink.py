"""A local HTTP sink for delivery tests: records every request, answers as scripted.

Usage::

    async with HttpSink() as sink:
        sink.fail_next("/hook", status=500, times=1)
        ...  # point a notifier at sink.url("/hook")
        await sink.wait_for(1, timeout_s=5)
        assert sink.requests[0].json["title"] == ...

Scripted answers are state on the server (not patches): ``fail_next`` queues answers
for the next requests to one path; ``respond`` changes a path's standing answer.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import anyio
from aiohttp import web

#: What Slack's webhook answers on success; apprise checks for exactly this body.
DEFAULT_BODY = b"ok"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the sink received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body decoded as JSON (raises if it is not JSON)."""
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        """The body decoded as an urlencoded form."""
        return dict(parse_qsl(self.body.decode()))


@dataclass(slots=True)
class _Answer:
    status: int = 200
    body: bytes = DEFAULT_BODY
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class HttpSink:
    """An aiohttp server on 127.0.0.1 (ephemeral port) that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._standing: dict[str, _Answer] = {}
        self._queued: defaultdict[str, deque[_Answer]] = defaultdict(deque)
        self._changed = anyio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> HttpSink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short grace: a test that scripted a hanging answer must not wait for it on exit.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/", *, scheme: str = "http") -> str:
        """``scheme://127.0.0.1:PORT/path``; pass ``scheme="json"`` for an apprise URL."""
        return f"{scheme}://127.0.0.1:{self.port}{path if path.startswith('/') else '/' + path}"

    def respond(
        self,
        path: str,
        *,
        status: int = 200,
        body: bytes = DEFAULT_BODY,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Change the standing answer for ``path``."""
        self._standing[path] = _Answer(status, body, dict(headers or {}), delay_s)

    def fail_next(
        self,
        path: str,
        *,
        status: int = 500,
        times: int = 1,
        body: bytes = b"scripted failure",
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``, then as before."""
        for _ in range(times):
            self._queued[path].append(_Answer(status, body, dict(headers or {}), delay_s))

    def on(self, path: str) -> list[Recorded]:
        """The requests received on ``path``."""
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, n: int, timeout_s: float = 5.0) -> list[Recorded]:
        """Wait until at least ``n`` requests arrived; raises TimeoutError after ``timeout_s``."""
        with anyio.fail_after(timeout_s):
            async with self._changed:
                while len(self.requests) < n:
                    await self._changed.wait()
        return list(self.requests)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        queue = self._queued.get(request.path)
        answer = queue.popleft() if queue else self._standing.get(request.path, _Answer())
        # Record before any scripted delay, so a test can see a request that is hanging.
        async with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()
        if answer.delay_s:
            await anyio.sleep(answer.delay_s)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)
