"""The *Now* page's view: accounts, and a page of the ads rejected or in review right now.

Read in the database, not from whole snapshots: each account's live ads are counted by
distinct stored state (few: statuses and reason lists), only the ads in a rejected or
pending state are read (id, state and meta), and the dates, names and links are looked up
for the one page of rows shown. What grows with the account is one small tuple per ad
rejected or in review, never per ad watched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

import anyio
import msgspec

from monitor.analytics import stored_spend
from monitor.events import Event
from monitor.models import Kind
from monitor.normal import decode_state
from monitor.redact import DEFAULT
from monitor.render.spend import amount
from monitor.render.words import ads_manager_url, pin_url, reason_text
from monitor.store import AccountState, StateStore
from monitor.summary import summary_counts_of
from monitor.web.paging import Page

#: Sort orders of the lists: longest in this state first, by ad name, by campaign name.
SORTS: Final = ("since", "name", "campaign")
#: Event types that date a rejection.
REJECTION_TYPES: Final = ("ad.rejected", "ad.already_rejected")
#: Event types that date an entry into review: an ad is created pending, moves to
#: PENDING, or was found pending at start. (The newest of them, for an ad pending now.)
REVIEW_TYPES: Final = ("ad.created", "ad.review_status_changed", "ad.pending_review")

_REJECTED: Final = "REJECTED"
_PENDING: Final = "PENDING"
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One watched account on *Now*."""

    account_id: str
    name: str | None
    last_success_at: float | None
    last_error: str | None
    failures: int
    counts: Mapping[str, int]

    @property
    def health(self) -> str:
        """``ok``, ``failing`` or ``waiting`` (never polled successfully, never failed)."""
        if self.failures:
            return "failing"
        return "ok" if self.last_success_at is not None else "waiting"


@dataclass(frozen=True, slots=True)
class AdRow:
    """One ad rejected or in review right now."""

    ad_id: str
    account_id: str
    name: str | None
    campaign_id: str | None
    campaign_name: str | None
    ad_group_id: str | None
    ad_group_name: str | None
    pin_id: str | None
    reasons: tuple[str, ...]
    since: float | None  # when it was seen entering this state; None: before the baseline
    ads_manager: str
    pin: str | None
    #: The last 7-day spend ``[analytics]`` stored for a rejected ad, e.g. "1,234.56 USD"
    #: (None: no figures).
    spend_7d: str | None = None


@dataclass(frozen=True, slots=True)
class NowView:
    """The *Now* page: a page of each list and its size."""

    accounts: list[AccountRow]
    rejected: list[AdRow]
    in_review: list[AdRow]
    campaigns: list[tuple[str, str]]  # (id, name or id) for the filter
    rejected_page: Page
    review_page: Page


class _Ad(NamedTuple):
    """An ad rejected or in review, as read: before any lookup. (A tuple: thousands are
    built per read, and a frozen dataclass costs several times as much to make.)"""

    ad_id: str
    account_id: str
    campaign_id: str | None
    ad_group_id: str | None
    pin_id: str | None
    name: str | None
    reasons: tuple[str, ...] | None  # None: in review


def _reasons_of(state: Mapping[str, Any]) -> tuple[str, ...]:
    labels = [str(x) for x in state.get("rejection_labels") or () if str(x).strip()]
    if labels:
        return tuple(labels)
    return tuple(reason_text(str(x)) for x in state.get("rejected_reasons") or ())


def _standing(state: Mapping[str, Any]) -> tuple[str, ...] | Literal[False] | None:
    """The reasons of a rejected state, None for one in review, False for any other."""
    if _REJECTED in (state.get("review_status"), state.get("summary_status")):
        return _reasons_of(state)
    return None if state.get("review_status") == _PENDING else False


def _meta(raw: bytes | None) -> list[Any]:
    ids = _decode_list(raw) if raw else []
    return ids if len(ids) >= 4 else [*ids, None, None, None, None]


async def _account(store: StateStore, account_id: str) -> tuple[dict[str, int], list[_Ad]]:
    groups = await store.state_groups(account_id, Kind.AD)
    fields = groups.fields or ()
    counts = dict(sorted(summary_counts_of(groups.groups, fields).items()))
    standing = {blob: _standing(decode_state(fields, blob)) for blob, _ in groups.groups}
    wanted = [blob for blob, s in standing.items() if s is not False]
    ads = []
    for ad_id, blob, meta in await store.entities_in_states(account_id, Kind.AD, wanted):
        campaign_id, group_id, pin_id, name = _meta(meta)[:4]
        reasons = standing[blob]
        assert reasons is not False
        ads.append(_Ad(ad_id, account_id, campaign_id, group_id, pin_id, name, reasons))
    return counts, ads


def _account_row(state: AccountState, counts: Mapping[str, int]) -> AccountRow:
    return AccountRow(
        state.account_id,
        state.name,
        state.last_success_at,
        None if state.last_error is None else DEFAULT.redact(state.last_error),
        state.consecutive_failures,
        counts,
    )


@dataclass(frozen=True, slots=True)
class Standing:
    """What *Now* reads from the whole state, whatever the filter, sort and page: the
    counts, every ad rejected or in review, their dates and their campaigns' names."""

    counts: dict[str, dict[str, int]]  # by account
    ads: list[_Ad]
    campaigns: dict[str, str]
    since: dict[str, float]  # when each ad entered its state, where the history says


async def read_standing(store: StateStore, accounts: Sequence[AccountState]) -> Standing:
    """Read the :class:`Standing` of these accounts."""
    counts: dict[str, dict[str, int]] = {}
    ads: list[_Ad] = []
    for state in accounts:
        counts[state.account_id], found = await _account(store, state.account_id)
        ads += found
    since = await store.latest_of(
        [a.ad_id for a in ads if a.reasons is not None], types=REJECTION_TYPES
    )
    since |= await store.latest_of([a.ad_id for a in ads if a.reasons is None], types=REVIEW_TYPES)
    return Standing(counts, ads, await _campaign_names(store, ads), since)


class StandingCache:
    """The last :class:`Standing` read, kept while the state's version stays.

    Every commit that records an event or takes a snapshot moves the version (see
    ``Store.state_version``), so what is served is never older than the last commit; in
    between, paging, sorting and filtering reuse it, and so do the boards that refetch
    together when the live stream announces a change.
    """

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._value: Standing | None = None
        self._lock = anyio.Lock()

    async def get(self, store: StateStore, accounts: Sequence[AccountState]) -> Standing:
        """The standing of the state as it is now."""
        key = (await store.state_version(), tuple(a.account_id for a in accounts))
        async with self._lock:  # one read at a time: the others wait for it and share it
            if key != self._key or self._value is None:
                self._value = await read_standing(store, accounts)
                self._key = key
            return self._value


async def _names(store: StateStore, kind: Kind, ids: set[tuple[str, str]]) -> dict[str, str]:
    """Names of campaigns or ad groups, ``(account, id)``, from their own snapshots."""
    names: dict[str, str] = {}
    for account_id in sorted({a for a, _ in ids}):
        wanted = sorted(i for a, i in ids if a == account_id)
        metas = await store.entity_meta(account_id, kind, wanted)
        names |= {i: n for i, raw in metas.items() if isinstance(n := _meta(raw)[3], str)}
    return names


async def _event_names(store: StateStore, ads: Sequence[_Ad]) -> dict[str, Event]:
    """The newest event of each ad, for the campaign and ad group names events carry
    (parents that are not watched have no snapshot to name them)."""
    return await store.newest_events([a.ad_id for a in ads])


def _sort(
    ads: list[_Ad], sort: str, since: Mapping[str, float], campaigns: Mapping[str, str]
) -> None:
    if sort == "name":
        ads.sort(key=lambda a: ((a.name or "").lower(), a.ad_id))
    elif sort == "campaign":
        ads.sort(
            key=lambda a: (
                campaigns.get(a.campaign_id or "", a.campaign_id or "").lower(),
                (a.name or "").lower(),
                a.ad_id,
            )
        )
    else:
        # Longest in this state first; unknown dates (before the baseline) lead.
        ads.sort(key=lambda a: (a.ad_id in since, since.get(a.ad_id, 0.0), a.ad_id))


def _link_event(ad: _Ad) -> Event:
    return Event(
        id="",
        type="ad.updated",
        entity="ad",
        entity_id=ad.ad_id,
        ad_account_id=ad.account_id,
        campaign_id=ad.campaign_id,
        ad_group_id=ad.ad_group_id,
        detected_at=0.0,
    )


async def _rows(
    store: StateStore,
    ads: Sequence[_Ad],
    since: Mapping[str, float],
    campaigns: Mapping[str, str],
) -> list[AdRow]:
    groups = await _names(
        store, Kind.AD_GROUP, {(a.account_id, a.ad_group_id) for a in ads if a.ad_group_id}
    )
    unnamed = [
        a
        for a in ads
        if (a.campaign_id and a.campaign_id not in campaigns)
        or (a.ad_group_id and a.ad_group_id not in groups)
    ]
    newest = await _event_names(store, unnamed)
    spent = await _spend(store, [a for a in ads if a.reasons is not None])
    rows = []
    for a in ads:
        event = newest.get(a.ad_id)
        rows.append(
            AdRow(
                ad_id=a.ad_id,
                account_id=a.account_id,
                name=a.name,
                campaign_id=a.campaign_id,
                campaign_name=campaigns.get(a.campaign_id or "")
                or (event.campaign_name if event else None),
                ad_group_id=a.ad_group_id,
                ad_group_name=groups.get(a.ad_group_id or "")
                or (event.ad_group_name if event else None),
                pin_id=a.pin_id,
                reasons=a.reasons or (),
                since=since.get(a.ad_id),
                ads_manager=ads_manager_url(_link_event(a)),
                pin=pin_url(a.pin_id) if a.pin_id else None,
                spend_7d=spent.get(a.ad_id),
            )
        )
    return rows


async def _spend(store: StateStore, ads: Sequence[_Ad]) -> dict[str, str]:
    """The shown rejected ads' stored 7-day spend in words, by ad id."""
    stored = await stored_spend(store, ((a.account_id, a.ad_id) for a in ads))
    return {ad_id: amount(f.spend, f.currency) for ad_id, f in stored.items()}


async def _campaign_names(store: StateStore, ads: Sequence[_Ad]) -> dict[str, str]:
    """Every campaign of these ads by name: from its snapshot, else from the newest
    event of one of its ads (one lookup per campaign, not per ad)."""
    ids = {(a.account_id, a.campaign_id) for a in ads if a.campaign_id}
    names = await _names(store, Kind.CAMPAIGN, ids)
    one_each = {a.campaign_id: a for a in ads if a.campaign_id and a.campaign_id not in names}
    for event in (await _event_names(store, list(one_each.values()))).values():
        if event.campaign_id and event.campaign_name:
            names.setdefault(event.campaign_id, event.campaign_name)
    return names


async def _page(
    store: StateStore, ads: list[_Ad], standing: Standing, *, sort: str, number: int
) -> tuple[list[AdRow], Page]:
    page = Page(number, len(ads)).clamped()
    _sort(ads, sort, standing.since, standing.campaigns)
    shown = ads[page.start : page.start + page.size]
    return await _rows(store, shown, standing.since, standing.campaigns), page


async def now_view(
    store: StateStore,
    *,
    account: str | None = None,
    campaign: str | None = None,
    sort: str = "since",
    page: int = 1,
    review_page: int = 1,
    cache: StandingCache | None = None,
) -> NowView:
    """Accounts with their health and counts; a page of the ads rejected and of those in
    review, filtered and sorted (a page past the end shows the last)."""
    accounts = await store.accounts()  # read each time: a failing poll writes no event
    standing = await cache.get(store, accounts) if cache else await read_standing(store, accounts)
    shown = [a for a in accounts if account is None or a.account_id == account]
    picked = [
        a
        for a in standing.ads
        if (account is None or a.account_id == account)
        and (campaign is None or a.campaign_id == campaign)
    ]
    rejected, rejected_page = await _page(
        store, [a for a in picked if a.reasons is not None], standing, sort=sort, number=page
    )
    in_review, in_review_page = await _page(
        store, [a for a in picked if a.reasons is None], standing, sort=sort, number=review_page
    )
    names = standing.campaigns
    choices = {
        a.campaign_id: names.get(a.campaign_id, a.campaign_id)
        for a in standing.ads
        if a.campaign_id and (account is None or a.account_id == account)
    }
    return NowView(
        [_account_row(a, standing.counts.get(a.account_id, {})) for a in shown],
        rejected,
        in_review,
        sorted(choices.items(), key=lambda c: (c[1].lower(), c[0])),
        rejected_page,
        in_review_page,
    )


def campaign_label(campaigns: Sequence[tuple[str, str]], campaign_id: str | None) -> str | None:
    """The filter's campaign in words, for the heading."""
    return next((name for cid, name in campaigns if cid == campaign_id), campaign_id)
