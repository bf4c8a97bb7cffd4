"""Fetching ads' landing pages: what a rejection's page answers, and pages that go down.

Pinterest rejects an ad whose landing page is broken (``LANDING_PAGE_BROKEN`` and the
other landing-page reasons) and says so hours later. Opt-in (``[landing_pages]``), pinmon
fetches the page itself: for such a rejection, the alert then says what the page answered
(status, final URL, time) — fixed already, or still down; and on its own schedule it
checks every active ad's ``destination_url`` and emits ``ad.landing_page_down`` before
Pinterest rejects anything.

A destination URL comes from Pinterest, so from whoever wrote the ad: it is fetched under
the webhooks' rules against server-side request forgery (no link-local or metadata
address, by name or literally, at every redirect: :mod:`monitor.notify.guard`,
:func:`monitor.addresses.url_refused`), with HEAD (GET where HEAD is refused), redirects
followed by hand up to a limit, no body read beyond its first bytes, a timeout for the
whole fetch, and a few at a time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import aiohttp
import anyio
import msgspec
import structlog

from monitor.addresses import url_refused
from monitor.config import Config
from monitor.config.types import LandingConfig
from monitor.events import Change, Event, event_id
from monitor.listing import CHUNK
from monitor.models import Kind
from monitor.mutes import Mute
from monitor.normal import decode_meta, decode_state
from monitor.planner import plan
from monitor.store import StateStore

Describe = Callable[[list[Event]], Awaitable[list[Event]]]

log = structlog.get_logger("monitor.landing")

#: Answers after which a GET is tried: the server does not do HEAD (or fails at it).
_HEAD_REFUSED: Final = frozenset({400, 403, 404, 405, 406, 500, 501, 502, 503})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
#: What of a GET's body is read at most: enough to finish the exchange, not a page.
_READ_AT_MOST: Final = 16 * 1024
#: Rejection reasons about the landing page (see monitor.render.fixes).
LANDING_REASONS: Final = frozenset(
    {
        "LANDING_PAGE",
        "LANDING_PAGE_SPEED",
        "LANDING_PAGE_HARDWALL",
        "LANDING_PAGE_BROKEN",
        "LANDING_PAGE_QUALITY",
        "LOW_QUALITY_LANDING_PAGE",
    }
)


@dataclass(frozen=True, slots=True)
class PageCheck:
    """What one landing page answered.

    Attributes:
        url: The page asked for.
        status: The final answer's HTTP status; None when there was none.
        final_url: Where the redirects ended.
        elapsed_s: How long the whole fetch took.
        checked_at: When (wall clock).
        error: Why there was no usable answer (timed out, refused, ...), else None.
        redirects: Redirects followed.
    """

    url: str
    status: int | None
    final_url: str
    elapsed_s: float
    checked_at: float
    error: str | None = None
    redirects: int = 0

    @property
    def up(self) -> bool:
        """The page answered with a success (after its redirects)."""
        return self.error is None and self.status is not None and self.status < 400

    def as_dict(self) -> dict[str, Any]:
        """The form events carry (docs/events.md)."""
        return {
            "url": self.url,
            "status": self.status,
            "final_url": self.final_url,
            "elapsed_s": round(self.elapsed_s, 3),
            "checked_at": self.checked_at,
            "error": self.error,
            "redirects": self.redirects,
            "up": self.up,
        }


def is_landing_rejection(reasons: Iterable[object]) -> bool:
    """Whether a rejection's reasons are about its landing page."""
    return any(str(r) in LANDING_REASONS for r in reasons)


class LandingChecker:
    """Fetches pages under the config's limits.

    Args:
        config: ``[landing_pages]``.
        session: A guarded session (:func:`monitor.notify.guard.guarded_session`).
        now: Wall clock (injected in tests).
    """

    def __init__(
        self,
        config: LandingConfig,
        session: aiohttp.ClientSession,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._session = session
        self._now = now
        self._limiter = anyio.CapacityLimiter(config.concurrency)

    async def check_many(self, urls: Iterable[str]) -> dict[str, PageCheck]:
        """Each distinct URL checked once, a few at a time."""
        out: dict[str, PageCheck] = {}

        async def one(url: str) -> None:
            async with self._limiter:
                out[url] = await self.check(url)

        async with anyio.create_task_group() as tg:
            for url in dict.fromkeys(urls):
                tg.start_soon(one, url)
        return out

    async def check(self, url: str) -> PageCheck:
        """HEAD (then GET where HEAD is refused) ``url``, following redirects by hand;
        never raises: what went wrong is the check's ``error``."""
        started, at = time.monotonic(), self._now()
        final, status, error, hops = url, None, None, 0
        try:
            with anyio.fail_after(self._config.timeout_s):
                final, status, hops = await self._follow(url, "HEAD")
                if status in _HEAD_REFUSED:
                    final, status, hops = await self._follow(url, "GET")
        except TimeoutError:
            error = f"no answer within {self._config.timeout_s:g} s"
        except _Refused as exc:
            error = str(exc)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"could not connect ({type(exc).__name__})"
        check = PageCheck(url, status, final, time.monotonic() - started, at, error, hops)
        log.debug("landing.checked", status=status, error=error, redirects=hops)
        return check

    async def _follow(self, url: str, method: str) -> tuple[str, int, int]:
        current = url
        for hops in range(self._config.max_redirects + 1):
            _check_url(current)
            async with self._session.request(
                method, current, allow_redirects=False, headers={"User-Agent": _AGENT}
            ) as answer:
                if method == "GET":
                    await answer.content.read(_READ_AT_MOST)
                location = answer.headers.get("Location")
                if answer.status not in _REDIRECTS or not location:
                    return current, answer.status, hops
                current = urljoin(current, location)
        raise _Refused(f"more than {self._config.max_redirects} redirects")


_AGENT: Final = "pinmon-landing-check (+https://github.com/pinmon)"


class _Refused(Exception):
    """The URL (or a redirect) may not be fetched."""


def _check_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise _Refused(f"not an http(s) URL ({scheme or 'no scheme'})")
    reason = url_refused(url)
    if reason is not None:
        raise _Refused(f"refused: {reason}")


class LandingWatch:
    """Every ``check_every``: the landing pages of active ads, and
    ``ad.landing_page_down`` for each ad whose page stopped answering (once per stretch
    the page is down; a page that answers again is forgotten).

    Args:
        store: The stored ads (their ``destination_url``), the pages found down, events.
        config: ``[landing_pages]``, the watched fields and the routes.
        checker: What fetches the pages.
        targets: Each route's target keys, by route name.
        now: Wall clock (injected in tests).
    """

    def __init__(
        self,
        store: StateStore,
        config: Config,
        checker: LandingChecker,
        targets: Mapping[str, Sequence[str]],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._every_s = config.landing.check_every_s
        self._routes = config.routes
        self._watched = config.monitor.watch[Kind.AD]
        self._checker = checker
        self._targets = targets
        self._now = now

    async def send_due(self, *, mutes: Sequence[Mute], describe: Describe | None = None) -> int:
        """Check the pages if their time has come; returns the new events committed."""
        now = self._now()
        last = await self._store.get_value(_CHECKED)
        if not self._every_s or (last is not None and now - float(last) < self._every_s):
            return 0
        await self._store.set_values({_CHECKED: repr(now)})  # a crash does not retry at once
        ads = await self._active_ads(now)
        checks = await self._checker.check_many(e.state["destination_url"] for e in ads)
        # One answer is not an outage: a page down is asked again before it counts.
        again = await self._checker.check_many(u for u, c in checks.items() if not c.up)
        checks |= again
        known = await self._store.landing_down()
        down = {u: c for u, c in checks.items() if not c.up}
        events = [
            msgspec.structs.replace(
                e,
                id=event_id("ad", e.entity_id, 0, f"landing_down:{url}:{now!r}".encode()),
                landing_page=down[url].as_dict(),
            )
            for e in ads
            if (url := e.state["destination_url"]) in down and url not in known
        ]
        if events and describe is not None:
            events = await describe(events)
        new = 0
        if events:
            planned = plan(events, self._routes, mutes, self._targets)
            new = await self._store.record_events(events, deliveries=planned.rows, at=now)
        await self._store.set_landing(
            [(u, known.get(u, now), c.status, c.error) for u, c in down.items()],
            [u for u in known if u in checks and checks[u].up],
        )
        log.info("landing.checked_all", pages=len(checks), down=len(down), reported=len(events))
        return new

    async def _active_ads(self, now: float) -> list[Event]:
        """Every stored active ad with a destination URL, as an event-shaped record."""
        out: list[Event] = []
        for account in await self._store.accounts():
            info = await self._store.snapshot_info(account.account_id, Kind.AD, count_upto=1)
            fields = info.fields or self._watched
            after: str | None = None
            while chunk := await self._store.load_range(
                account.account_id, Kind.AD, after=after, upto=None, limit=CHUNK
            ):
                after = chunk[-1][0]
                active = {
                    entity_id: (stored, state)
                    for entity_id, stored in chunk
                    if not stored.removed
                    and (state := decode_state(fields, stored.blob)).get("status") == "ACTIVE"
                    and _REJECTED not in (state.get("review_status"), state.get("summary_status"))
                    and _fetchable(state.get("destination_url"))
                }
                metas = await self._store.entity_meta(account.account_id, Kind.AD, list(active))
                out += [
                    _ad_record(account.account_id, i, stored.updated_time, state, metas.get(i), now)
                    for i, (stored, state) in active.items()
                ]
        return out


_CHECKED: Final = "landing.checked_at"
_REJECTED: Final = "REJECTED"


def _fetchable(url: object) -> bool:
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def _ad_record(
    account_id: str,
    ad_id: str,
    updated: int | None,
    state: dict[str, Any],
    meta: bytes | None,
    now: float,
) -> Event:
    campaign_id, ad_group_id, pin_id, name = ((decode_meta(meta) if meta else []) + [None] * 4)[:4]
    return Event(
        id="",
        type=f"ad.{Change.LANDING_PAGE_DOWN.value}",
        entity=Kind.AD.value,
        entity_id=ad_id,
        ad_account_id=account_id,
        campaign_id=campaign_id,
        ad_group_id=ad_group_id,
        ad_id=ad_id,
        pin_id=pin_id,
        name=name,
        updated_time=updated,
        detected_at=now,
        state=state,
    )
