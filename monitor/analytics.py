"""Money at risk: a rejection (or a still-rejected reminder) carries what the ad spent.

Each rejected ad's spend, paid impressions and paid clicks over the last 7 complete days
(UTC: the 7 days ending yesterday, the dates Pinterest's analytics are kept in; today's
are partial) and its average daily spend (spend / 7), in the ad account's currency, ride on
the event as ``spend`` (docs/analytics.md). They come from the ads analytics endpoint, ≤ 250
ads a request, under the ``ads_analytics`` budget, and are stored per ad with their
``as_of``: figures younger than ``cache_for`` are reused without asking.

Figures never delay an alert beyond ``[analytics] wait``: what is not in by then (the
endpoint slow, failing, answering 429, its budget spent) is said in the alert — "spend
figures unavailable (reason)" — and the alert is committed all the same.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import anyio
import msgspec
import structlog

from monitor import vocab
from monitor.config.types import AnalyticsConfig
from monitor.errors import PinterestError, RateLimitedError
from monitor.events import Change, Event
from monitor.models import Kind
from monitor.pinterest.analytics import AnalyticsClient, Report
from monitor.pinterest.budget import Budget
from monitor.pinterest.retry import RateLimit
from monitor.store import AdSpend, StateStore

log = structlog.get_logger("monitor.analytics")

#: Days summed: a week, so that weekdays and weekends weigh as they do.
DAYS: Final = 7
#: The events that carry figures: an ad rejected, found rejected, or still rejected.
AT_RISK: Final = frozenset({Change.REJECTED, Change.ALREADY_REJECTED, Change.STILL_REJECTED})
Currency = Callable[[str], Awaitable[str | None]]


def window(now: float) -> tuple[date, date]:
    """The 7 complete UTC days before ``now``'s (first and last, inclusive)."""
    end = datetime.fromtimestamp(now, UTC).date() - timedelta(days=1)
    return end - timedelta(days=DAYS - 1), end


def spend_dict(figures: AdSpend | None, error: str | None) -> dict[str, Any]:
    """The ``spend`` an event carries (docs/analytics.md): figures, or why there are none."""
    if figures is None:
        return {
            "spend_7d": None, "spend_micro_7d": None, "daily_spend": None,
            "impressions_7d": None, "clicks_7d": None, "currency": None,
            "start_date": None, "end_date": None, "as_of": None,
            "error": error or "no figures fetched",
        }  # fmt: skip
    return {
        "spend_7d": round(figures.spend, 2),
        "spend_micro_7d": figures.spend_micro,
        "daily_spend": round(figures.spend / DAYS, 2),
        "impressions_7d": figures.impressions,
        "clicks_7d": figures.clicks,
        "currency": figures.currency,
        "start_date": figures.start_date,
        "end_date": figures.end_date,
        "as_of": figures.as_of,
        # Older figures shown because fresh ones could not be had: said, not hidden.
        "error": error,
    }


async def stored_spend(store: StateStore, ads: Iterable[tuple[str, str]]) -> dict[str, AdSpend]:
    """The figures stored for these (account id, ad id) pairs, by ad id, those there are:
    one look-up per account (the recap and the web board, which ask Pinterest nothing)."""
    by_account: dict[str, list[str]] = {}
    for account_id, ad_id in ads:
        by_account.setdefault(account_id, []).append(ad_id)
    out: dict[str, AdSpend] = {}
    for account_id, ids in by_account.items():
        out |= await store.ad_spend(account_id, ids)
    return out


class CountingBudget:
    """The analytics budget, counting the requests whose wait for it was cut short: when
    an alert's wait ends during one, the budget (not the endpoint) held the figures back."""

    def __init__(self, inner: Budget) -> None:
        self.inner = inner
        self.held_back = 0
        self.pauses = 0

    async def acquire(self) -> None:
        """Wait for the inner budget; count a wait that was cancelled."""
        try:
            await self.inner.acquire()
        except anyio.get_cancelled_exc_class():
            self.held_back += 1
            raise

    def release(self, seen: RateLimit | None) -> None:
        """Pass the answer's headers on."""
        self.inner.release(seen)

    def pause(self, seconds: float) -> None:
        """Pass a 429's pause on, counted."""
        self.pauses += 1
        self.inner.pause(seconds)


class SpendFigures:
    """Attaches spend figures to the events at risk, within ``wait``.

    Args:
        config: ``[analytics]``.
        client: Asks the analytics endpoint (under ``budget``).
        store: Where figures are kept per ad.
        currency: The ad account's currency (an ``ads_read`` request, remembered here).
        budget: The analytics client's budget, to tell "budget spent" from "slow".
        now: Wall clock (injected in tests).
    """

    def __init__(
        self,
        config: AnalyticsConfig,
        client: AnalyticsClient,
        store: StateStore,
        *,
        currency: Currency,
        budget: CountingBudget | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._client = client
        self._store = store
        self._currency = currency
        self._currencies: dict[str, str | None] = {}
        self._budget = budget
        self._now = now

    async def annotate(self, events: Sequence[Event]) -> list[Event]:
        """The events, those at risk with ``spend``; never raises for analytics' sake."""
        wanted: dict[str, list[str]] = {}
        for e in events:
            if e.entity == Kind.AD and e.change in AT_RISK:
                wanted.setdefault(e.ad_account_id, []).append(e.entity_id)
        if not wanted:
            return list(events)
        found: dict[tuple[str, str], dict[str, Any]] = {}

        async def one(account_id: str, ad_ids: list[str]) -> None:
            for ad_id, spend in (await self._figures(account_id, ad_ids)).items():
                found[(account_id, ad_id)] = spend

        # Accounts at once (reminders span them): the whole waits ``wait``, not one per account.
        async with anyio.create_task_group() as tg:
            for account_id, ad_ids in wanted.items():
                tg.start_soon(one, account_id, ad_ids)
        out = []
        for e in events:
            figures = found.get((e.ad_account_id, e.entity_id))
            out.append(e if figures is None else msgspec.structs.replace(e, spend=figures))
        return out

    async def _figures(self, account_id: str, ad_ids: list[str]) -> dict[str, dict[str, Any]]:
        now = self._now()
        ids = list(dict.fromkeys(ad_ids))
        stored = await self._store.ad_spend(account_id, ids)
        fresh = {i: s for i, s in stored.items() if now - s.as_of < self._config.cache_for_s}
        need = [i for i in ids if i not in fresh]
        got: dict[str, AdSpend] = {}
        unusable: dict[str, str] = {}
        error: str | None = None
        if need:
            if not self._config.wait_s:
                error = "not fetched: the analytics wait is 0"
            else:
                got, unusable, error = await self._fetch(account_id, need, now)
        if got:
            await self._store.save_ad_spend(list(got.values()))
        out: dict[str, dict[str, Any]] = {}
        for i in ids:
            if i in fresh or i in got:
                out[i] = spend_dict(fresh.get(i) or got[i], None)
            else:
                # Older figures, if any, with why they are not fresh.
                why = unusable.get(i) or error or "no figures"
                out[i] = spend_dict(stored.get(i), why)
        return out

    async def _fetch(
        self, account_id: str, ad_ids: list[str], now: float
    ) -> tuple[dict[str, AdSpend], dict[str, str], str | None]:
        """Ask for the ads' figures within ``wait``: (figures, unusable, why not)."""
        start, end = window(now)
        wait = self._config.wait_s
        budget = self._budget
        held, paused = (budget.held_back, budget.pauses) if budget is not None else (0, 0)
        report = Report()
        currency: str | None = None
        error: str | None = None
        answered, _ = self._client.answers
        with anyio.move_on_after(wait) as scope:
            try:
                currency = await self._account_currency(account_id)
                async for part in self._client.daily(account_id, ad_ids, start=start, end=end):
                    report.totals |= part.totals
                    report.unusable |= part.unusable
            except RateLimitedError:
                error = "analytics rate-limited (429)"
            except PinterestError as exc:
                error = f"analytics failing ({exc.status or 'no answer'})"
            except ValueError:
                error = "analytics not asked: an ad id is not a digit string"
        if scope.cancelled_caught:
            if budget is not None and budget.pauses > paused:
                error = "analytics rate-limited (429)"
            elif budget is not None and budget.held_back > held:
                error = "analytics budget spent"
            elif (latest := self._client.answers)[0] > answered and not (
                200 <= (latest[1] or 0) < 300
            ):
                # Cut short while retrying a failed answer: failing, not merely slow.
                error = f"analytics failing ({latest[1]})"
            else:
                error = f"analytics slow: no figures within {wait:g} s"
        if error is not None:
            missing = len(ad_ids) - len(report.totals) - len(report.unusable)
            log.warning("analytics.unavailable", ads=missing, reason=error)
        got = {
            ad_id: AdSpend(
                account_id,
                ad_id,
                t.spend_micro,
                t.impressions,
                t.clicks,
                currency,
                start.isoformat(),
                end.isoformat(),
                now,
            )
            for ad_id, t in report.totals.items()
        }
        log.info("analytics.fetched", ads=len(got), unusable=len(report.unusable))
        return got, report.unusable, error

    async def _account_currency(self, account_id: str) -> str | None:
        """The account's currency, remembered; None when unknown or not an ISO code."""
        if account_id not in self._currencies:
            try:
                value = await self._currency(account_id)
            except PinterestError as exc:
                log.info("analytics.currency_unknown", error=str(exc))
                return None  # asked again next time
            if value not in vocab.CURRENCIES or value == "UNK":
                log.info("analytics.currency_unknown", error="not a currency code")
                value = None
            self._currencies[account_id] = value
        return self._currencies[account_id]
