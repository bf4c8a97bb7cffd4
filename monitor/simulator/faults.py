"""Scripted failures: what can go wrong between a poller and Pinterest, armed per path glob.

A fault matches requests by method and a path glob (``fnmatch``: ``*`` also crosses
``/``) and fires ``times`` times, or forever when ``times`` is omitted. One fault fires
per request: the first armed one that matches, in the order they were added.
"""

from __future__ import annotations

import enum
import fnmatch
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import msgspec
from aiohttp import web

from monitor.simulator import vocab
from monitor.simulator.tables import (
    Problems,
    check_keys,
    get_choice,
    get_number,
    get_str,
    get_str_list,
    join,
)


class FaultKind(enum.StrEnum):
    """The failure modes the simulator can script."""

    STATUS_429 = "status_429"  #: 429 with the quota body ``{"code": 8, ...}``
    STATUS_500 = "status_500"  #: 500 with ``{"code": 12, ...}``
    STATUS_503 = "status_503"  #: 503 with an Error body
    SLOW = "slow"  #: answer normally after ``delay_s`` seconds (real time)
    RESET = "reset"  #: close the connection with a TCP reset, no response at all
    TRUNCATED = "truncated"  #: declare the full Content-Length, send half the body
    HTML = "html"  #: an HTML error page (a proxy's), status 502 unless ``status`` says
    REPEAT_BOOKMARK = "repeat_bookmark"  #: a listing page whose bookmark points back at itself
    EMPTY_PAGE = "empty_page"  #: a listing page with no items and a bookmark that loops
    STALE = "stale"  #: serve the previous version of changed entities (a lagging replica)
    UNORDERED = "unordered"  #: a listing page's items in reverse order (ignoring ``order``)


#: Kinds that replace the response before any handler runs.
REPLACING: Final = frozenset(
    {
        FaultKind.STATUS_429,
        FaultKind.STATUS_500,
        FaultKind.STATUS_503,
        FaultKind.RESET,
        FaultKind.HTML,
    }
)
#: Kinds that only make sense on a listing: they never fire on other requests.
LISTING_ONLY: Final = frozenset(
    {FaultKind.REPEAT_BOOKMARK, FaultKind.EMPTY_PAGE, FaultKind.UNORDERED}
)


@dataclass(slots=True)
class Fault:
    """One armed fault.

    Attributes:
        kind: What goes wrong.
        path: A glob on the request path, including ``/v5``: ``/v5/ad_accounts/*/ads``.
        method: Only requests with this method (any method when None).
        times: How many requests it fires on; None for every matching request.
        delay_s: For ``slow``: seconds to wait before answering.
        status: For ``html``: the HTTP status of the page (502 by default; 200 is a
            captive portal or a CDN page served as success).
        ads: For ``stale``: only these entity ids lag (every changed entity when None).
        skip: How many matching requests to let through before it starts firing: ``skip
            = 1`` on a listing breaks it after its first page.
        fired: How many requests it has fired on so far.
        skipped: How many matching requests it has let through so far.
    """

    kind: FaultKind
    path: str = "/v5/*"
    method: str | None = None
    times: int | None = None
    delay_s: float = 5.0
    status: int = 502
    ads: tuple[str, ...] | None = None
    skip: int = 0
    fired: int = field(default=0)
    skipped: int = field(default=0)

    @property
    def exhausted(self) -> bool:
        """Whether it has fired all its ``times``."""
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, path: str, *, listing: bool) -> bool:
        """Whether it fires on this request (exhaustion aside)."""
        if self.kind in LISTING_ONLY and not listing:
            return False
        if self.method is not None and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        """The fault as the admin API shows it."""
        return {
            "kind": self.kind.value,
            "path": self.path,
            "method": self.method,
            "times": self.times,
            "fired": self.fired,
            "delay_s": self.delay_s,
            "status": self.status,
            "ads": list(self.ads) if self.ads is not None else None,
            "skip": self.skip,
        }


FAULT_KEYS: Final = ("kind", "path", "method", "times", "delay_s", "status", "ads", "skip")


def parse_fault(table: Mapping[str, Any], where: str, p: Problems) -> Fault | None:
    """Read one fault table (``[[faults]]`` in a scenario, or admin JSON)."""
    check_keys(table, FAULT_KEYS, where, p)
    kind = get_choice(table, "kind", [k.value for k in FaultKind], where, p)
    if kind is None:
        if "kind" not in table:
            p.add(join(where, "kind"), "required")
        return None
    method = get_str(table, "method", where, p)
    times = get_number(table, "times", where, p, integer=True)
    delay_s = get_number(table, "delay_s", where, p)
    status = get_number(table, "status", where, p, integer=True)
    if status is not None and not 100 <= status <= 599:
        p.add(join(where, "status"), f"expected an HTTP status, got {status}")
    ads = get_str_list(table, "ads", where, p)
    skip = get_number(table, "skip", where, p, integer=True)
    return Fault(
        kind=FaultKind(kind),
        path=get_str(table, "path", where, p) or "/v5/*",
        method=method.upper() if method else None,
        times=int(times) if times is not None else None,
        delay_s=float(delay_s) if delay_s is not None else 5.0,
        status=int(status) if status is not None else 502,
        ads=tuple(ads) if ads is not None else None,
        skip=int(skip) if skip is not None else 0,
    )


class Faults:
    """The armed faults, in the order they fire."""

    def __init__(self) -> None:
        self.armed: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Arm a copy of ``fault`` (templates from a scenario stay pristine for reset)."""
        armed = replace(fault, fired=0, skipped=0)
        self.armed.append(armed)
        return armed

    def clear(self) -> None:
        """Disarm every fault."""
        self.armed.clear()

    def take(self, method: str, path: str, *, listing: bool) -> Fault | None:
        """The fault that fires on this request, counted as fired; None if none does."""
        for fault in self.armed:
            if not fault.exhausted and fault.matches(method, path, listing=listing):
                if fault.skipped < fault.skip:
                    fault.skipped += 1
                    continue
                fault.fired += 1
                return fault
        return None


_HTML_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=msgspec.json.encode({"code": code, "message": message}),
        content_type="application/json",
    )


def replacement(fault: Fault, request: web.Request) -> web.StreamResponse:
    """The response a replacing fault sends instead of the real one."""
    if fault.kind is FaultKind.STATUS_429:
        return _error(*vocab.RATE_LIMITED)
    if fault.kind is FaultKind.STATUS_500:
        return _error(*vocab.SERVER_ERROR)
    if fault.kind is FaultKind.STATUS_503:
        return _error(*vocab.UNAVAILABLE)
    if fault.kind is FaultKind.HTML:
        return web.Response(status=fault.status, body=_HTML_PAGE, content_type="text/html")
    assert fault.kind is FaultKind.RESET, fault.kind
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 makes close() send RST: the client sees "connection reset by peer",
            # not a polite end of stream.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)


async def send_truncated(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send ``response`` with its full Content-Length but only half of its body, then hang up."""
    body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
    out = web.StreamResponse(status=response.status, headers=response.headers)
    out.content_length = len(body)
    await out.prepare(request)
    await out.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return out
