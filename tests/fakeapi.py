"""A scripted Pinterest API on loopback: replies queued per path, every request recorded.

Failures are state on the server (a queue of replies per path) rather than patches of the
client, so the client's real HTTP, timeout and decoding paths run in every test.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestServer

PREFIX = "/v5"


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``action`` "truncate" promises more bytes than it sends and hangs up; "reset" hangs up
    before answering; ``delay_s`` stalls before answering (cut short when the server stops).
    """

    status: int = 200
    body: bytes = b"{}"
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay_s: float = 0.0
    action: Literal["reply", "truncate", "reset"] = "reply"


def page(items: list[dict[str, Any]], bookmark: str | None = None, **headers: str) -> Reply:
    """A listing page ``{"items": [...], "bookmark": ...}``."""
    return Reply(body=json.dumps({"items": items, "bookmark": bookmark}).encode(), headers=headers)


def error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    """A Pinterest error body ``{"code": ..., "message": ...}``."""
    body = json.dumps({"code": code, "message": message, "status": "failure"}).encode()
    return Reply(status=status, body=body, headers=dict(headers or {}))


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    @property
    def token(self) -> str:
        """The bearer token the request carried."""
        return self.headers.get("Authorization", "").removeprefix("Bearer ")


class FakeApi:
    """The server's state: what to answer next on each path, and what it was asked."""

    def __init__(self) -> None:
        self.replies: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.base_url = ""
        self._stopping = asyncio.Event()

    def queue(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to *path* (relative to /v5) with *replies*, in order."""
        self.replies[path].extend(replies)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [seen.path for seen in self.seen]

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeApi]:
        """Run the server on 127.0.0.1 with an ephemeral port; ``base_url`` points at /v5."""
        app = web.Application()
        app.router.add_get(PREFIX + "/{tail:.*}", self._handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self.base_url = str(server.make_url(PREFIX))
        try:
            yield self
        finally:
            self._stopping.set()
            await server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(PREFIX)
        self.seen.append(Seen(path, list(request.query.items()), dict(request.headers)))
        queue = self.replies.get(path)
        if not queue:
            return web.json_response(
                {"code": 404, "message": f"nothing scripted for {path}"}, status=404
            )
        reply = queue.popleft()
        if reply.delay_s:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay_s)
        assert request.transport is not None
        if reply.action == "reset":
            request.transport.abort()
            return web.Response()
        if reply.action == "truncate":
            response = web.StreamResponse(status=reply.status, headers=reply.headers)
            response.content_type = reply.content_type
            response.content_length = len(reply.body) + 1000
            await response.prepare(request)
            await response.write(reply.body)
            request.transport.close()
            return response
        return web.Response(
            status=reply.status,
            body=reply.body,
            headers=reply.headers,
            content_type=reply.content_type,
        )
