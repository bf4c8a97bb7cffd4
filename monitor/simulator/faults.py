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
    # Garbage inside a well-formed 200 answer: what a real account eventually sends.
    EMPTY_LISTING = "empty_listing"  #: ``{"items": [], "bookmark": null}``: complete, empty
    FUTURE_TIME = "future_time"  #: items (or ``ads``) with ``updated_time`` in the year 2100
    NULL_FIELDS = "null_fields"  #: items (or ``ads``) with ``fields`` (status fields) null
    MISSING_ID = "missing_id"  #: items (or ``ads``) without their ``id``
    INTEGER_ID = "integer_id"  #: items (or ``ads``) with their ``id`` as a JSON number
    HUGE_ITEM = "huge_item"  #: items (or ``ads``) whose ``name`` is padded to ``size`` bytes
    #: ads analytics rows with nulls, negatives, strings, huge numbers, no AD_ID, unknown
    #: ad ids and non-objects (see :func:`monitor.simulator.analytics.hostile`)
    HOSTILE_ROWS = "hostile_rows"


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
#: Kinds that rewrite the items of a listing page that is otherwise served as usual.
REWRITING: Final = frozenset(
    {
        FaultKind.EMPTY_LISTING,
        FaultKind.FUTURE_TIME,
        FaultKind.NULL_FIELDS,
        FaultKind.MISSING_ID,
        FaultKind.INTEGER_ID,
        FaultKind.HUGE_ITEM,
    }
)
#: Kinds that only make sense on a listing: they never fire on other requests.
LISTING_ONLY: Final = frozenset(
    {FaultKind.REPEAT_BOOKMARK, FaultKind.EMPTY_PAGE, FaultKind.UNORDERED} | REWRITING
)
#: ``updated_time`` a ``future_time`` fault serves: 2100-01-01T00:00:00Z.
FUTURE_TIME_S: Final = 4_102_444_800
#: The fields a ``null_fields`` fault blanks unless told otherwise.
STATUS_FIELDS: Final = ("status", "review_status", "summary_status")


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
        fields: For ``null_fields``: the fields served as null.
        size: For ``huge_item``: the bytes the ``name`` is padded to.
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
    fields: tuple[str, ...] = STATUS_FIELDS
    size: int = 1_000_000
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
            "fields": list(self.fields),
            "size": self.size,
        }

    def rewrite(self, body: bytes) -> bytes:
        """A listing page's body as a rewriting fault (:data:`REWRITING`) serves it."""
        data = msgspec.json.decode(body)
        if self.kind is FaultKind.EMPTY_LISTING:
            return msgspec.json.encode({"items": [], "bookmark": None})
        only = set(self.ads) if self.ads is not None else None
        items = []
        for item in data["items"]:
            if only is None or str(item.get("id")) in only:
                item = self._rewrite_item(item)
            items.append(item)
        data["items"] = items
        return msgspec.json.encode(data)

    def _rewrite_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.kind is FaultKind.FUTURE_TIME:
            return {**item, "updated_time": FUTURE_TIME_S}
        if self.kind is FaultKind.NULL_FIELDS:
            return {**item, **dict.fromkeys(self.fields)}
        if self.kind is FaultKind.MISSING_ID:
            return {k: v for k, v in item.items() if k != "id"}
        if self.kind is FaultKind.INTEGER_ID:
            return {**item, "id": int(item["id"])}
        assert self.kind is FaultKind.HUGE_ITEM, self.kind
        name = str(item.get("name") or "")
        return {**item, "name": name + "x" * max(0, self.size - len(name))}


FAULT_KEYS: Final = (
    "kind",
    "path",
    "method",
    "times",
    "delay_s",
    "status",
    "ads",
    "skip",
    "fields",
    "size",
)


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
    fields = get_str_list(table, "fields", where, p)
    size = get_number(table, "size", where, p, integer=True)
    if size is not None and not 0 <= size <= 1_000_000_000:
        p.add(join(where, "size"), f"expected 0 to 1,000,000,000 bytes, got {size}")
    return Fault(
        kind=FaultKind(kind),
        path=get_str(table, "path", where, p) or "/v5/*",
        method=method.upper() if method else None,
        times=int(times) if times is not None else None,
        delay_s=float(delay_s) if delay_s is not None else 5.0,
        status=int(status) if status is not None else 502,
        ads=tuple(ads) if ads is not None else None,
        skip=int(skip) if skip is not None else 0,
        fields=tuple(fields) if fields is not None else STATUS_FIELDS,
        size=int(size) if size is not None else 1_000_000,
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
