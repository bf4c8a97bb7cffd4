"""A local fake of the Slack Web API methods the slack-bot target calls.

``chat.postMessage`` and ``chat.update`` on 127.0.0.1, answering as Slack does (HTTP 200
with ``ok``, the channel's id and the message's ``ts``), checking the bearer token,
keeping the messages so that an edit or a reply can be checked against its root, and
recording every call. Failures are scripted as state: the next answers of a method
(a 429 with ``Retry-After``, ``ok: false`` with an error code, a 500).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-1234567890-0987654321-pinmonFakeSlackToken"
CHANNEL_ID = "C0PINMON01"


@dataclass
class Call:
    """One request the fake answered."""

    method: str
    body: dict[str, Any]
    authorization: str | None
    status: int


@dataclass
class Scripted:
    """One scripted answer: an HTTP status, a JSON body, headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class SlackFake:
    """The fake; ``async with SlackFake() as slack:`` then ``slack.base_url``."""

    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        #: Messages by ts: the latest body posted or updated there.
        self.messages: dict[str, dict[str, Any]] = {}
        self._script: dict[str, deque[Scripted]] = {}
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, method: str, *answers: Scripted) -> None:
        """The next calls of ``method`` get these answers, in order, then normal ones."""
        self._script.setdefault(method, deque()).extend(answers)

    def accepted(self, method: str | None = None) -> list[Call]:
        """The calls answered ``ok: true``, of ``method`` if given."""
        return [c for c in self.calls if c.body.get("_ok") and method in (None, c.method)]

    async def __aenter__(self) -> SlackFake:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/api/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            body = await request.json()
        except ValueError:
            body = dict(await request.post())
        auth = request.headers.get("Authorization")
        queued = self._script.get(method)
        if queued:
            answer = queued.popleft()
            self.calls.append(Call(method, body, auth, answer.status))
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        result = self._answer(method, body, auth)
        body["_ok"] = bool(result.get("ok"))
        self.calls.append(Call(method, body, auth, 200))
        return web.json_response(result)

    def _answer(self, method: str, body: dict[str, Any], auth: str | None) -> dict[str, Any]:
        if auth != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth"}
        channel = str(body.get("channel", ""))
        if channel not in (CHANNEL_ID, "#ads-alerts"):
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if method == "chat.postMessage":
            thread = body.get("thread_ts")
            if thread is not None and thread not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            n = next(self._ts)
            ts = f"{1_700_000_000 + n}.{n:06d}"
            self.messages[ts] = body
            return {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message": {"text": body["text"]}}
        if method == "chat.update":
            if channel != CHANNEL_ID:
                return {"ok": False, "error": "channel_not_found"}  # update needs the id
            ts = str(body.get("ts"))
            if ts not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[ts] = body
            return {"ok": True, "channel": CHANNEL_ID, "ts": ts, "text": body["text"]}
        return {"ok": False, "error": "unknown_method"}


def rate_limited(retry_after_s: int) -> Scripted:
    """Slack's rate-limit answer."""
    return Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after_s)})


def refused(error: str) -> Scripted:
    """An ``ok: false`` answer with ``error``, HTTP 200 as Slack sends them."""
    return Scripted(200, {"ok": False, "error": error})


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every text of a message's blocks, one a line."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", ()):
            out.append(element.get("text", ""))
    return "\n".join(out)
