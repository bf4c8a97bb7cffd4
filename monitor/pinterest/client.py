"""The Pinterest API v5 calls pinmon makes: ad accounts, and bookmark-paged entity listings.

Listings are streamed page by page so that a 100k-ad account never sits in memory whole.
A listing that does not end with a null bookmark raises instead of ending: its caller must
be able to tell "these are all the entities" from "this is all we got".
"""

from __future__ import annotations

import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Final, Protocol, TypeVar, cast

import aiohttp
import anyio
import msgspec
import structlog

from monitor.errors import ListingError
from monitor.models import AdAccount, Kind, Row, page_type
from monitor.pinterest.analytics import AnalyticsClient
from monitor.pinterest.auth import TokenSource
from monitor.pinterest.budget import Budget
from monitor.pinterest.params import (
    _AD_ACCOUNT_ID,
    DEFAULT_ENTITY_STATUSES,
    ID_FILTERS,
    MAX_FILTER_IDS,
    PAGE_SIZE_MAX,
    check_ad_account_id,
    check_entity_ids,
    check_entity_statuses,
    check_page_size,
)
from monitor.pinterest.retry import RateLimit, RetryPolicy
from monitor.pinterest.transport import MAX_BODY_BYTES, OnResponse, Request, Transport
from monitor.vocab import DEFAULT_BASE_URL

log = structlog.get_logger(__name__)

R = TypeVar("R")

_DEFAULT_RETRY: Final = RetryPolicy()
_decode_account = msgspec.json.Decoder(AdAccount).decode


class _Page(Protocol[R]):
    items: list[R]
    bookmark: str | None


class PinterestClient:
    """Reads ad accounts, campaigns, ad groups and ads from the Pinterest API v5.

    Every request retries transient failures under *retry* and raises a
    :class:`~monitor.errors.PinterestError` subclass when it gives up.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = DEFAULT_BASE_URL,
        tokens: TokenSource,
        page_size: int = 250,
        retry: RetryPolicy = _DEFAULT_RETRY,
        max_pages: int = 5000,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        on_response: OnResponse | None = None,
        rng: random.Random | None = None,
        budget: Budget | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """Create a client over *session*, which the caller owns and closes.

        Args:
            session: Shared connection pool.
            base_url: The API root; the sandbox or a simulator in tests.
            tokens: Supplies and refreshes the bearer token.
            page_size: Items per listing page, 1..250; 250 makes the fewest requests.
            retry: Attempts, backoff and timeouts per request.
            max_pages: Pages after which a listing whose bookmarks never end fails.
            sleep: Every wait between tries goes through it.
            on_response: Called with (endpoint template, status, seconds) per response.
            rng: Source of backoff jitter; the module's global one by default.
            budget: The token-user's request budget, shared by every request.
            max_body_bytes: A larger response body fails the request like a truncated one.

        Raises:
            ValueError: *page_size* outside 1..250 or *max_pages* below 1.
        """
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, not {max_pages}")
        self._page_size = check_page_size(page_size)
        self._max_pages = max_pages
        # The analytics client's transport is the same but for its budget.
        self._make_transport = functools.partial(
            Transport,
            session,
            base_url=base_url,
            tokens=tokens,
            retry=retry,
            sleep=sleep,
            on_response=on_response,
            rng=rng,
            max_body_bytes=max_body_bytes,
        )
        self._transport = self._make_transport(budget=budget)
        self.budget = budget
        self._decoders: dict[type[Row], Callable[[bytes], _Page[Row]]] = {}

    def analytics(self, budget: Budget) -> AnalyticsClient:
        """An ads analytics client over this client's session, tokens and retry policy,
        under ``budget`` (the ``ads_analytics`` category's, not this client's)."""
        return AnalyticsClient(self._make_transport(budget=budget))

    def now(self) -> float:
        """The current time by the local clock, or by the API's ``Date`` when that runs
        ahead by a sane amount: what "in the future" is measured against."""
        return self._transport.now()

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit headers of the latest response carrying them; None before that."""
        return self._transport.rate_limit

    def list_ad_accounts(self) -> AsyncIterator[list[AdAccount]]:
        """Stream the pages of ad accounts the token can reach (GET /ad_accounts).

        Raises (while iterating):
            ListingError: The bookmark chain broke or a page kept failing.
            PinterestError: Any other failure, see :class:`PinterestClient`.
        """
        request = Request("/ad_accounts", "/ad_accounts", (("page_size", str(self._page_size)),))
        return self._accounts(self._pages(request, _decode_raw_page))

    async def _accounts(
        self, pages: AsyncIterator[list[msgspec.Raw]]
    ) -> AsyncIterator[list[AdAccount]]:
        # Decoded one by one: an account item without a usable id is skipped and logged,
        # it does not fail the listing (and with it every account's alerts).
        async for page in pages:
            accounts = []
            for raw in page:
                try:
                    account = _decode_account(raw)
                except msgspec.MsgspecError as exc:
                    log.warning("api.bad_item", endpoint="/ad_accounts", error=str(exc)[:200])
                    continue
                if not _AD_ACCOUNT_ID.fullmatch(account.id):
                    log.warning("api.bad_item", endpoint="/ad_accounts", error="unusable id")
                    continue
                accounts.append(account)
            yield accounts

    async def get_ad_account(self, account_id: str) -> AdAccount:
        """Fetch one ad account: the cheapest proof that the token reaches it.

        Raises:
            ValueError: *account_id* is not a digit string.
            AccessLostError: The token has no access to the account.
            PinterestError: Any other failure.
        """
        account_id = check_ad_account_id(account_id)
        request = Request("/ad_accounts/{id}", f"/ad_accounts/{account_id}")
        return await self._transport.get(request, _decode_account)

    def list_entities(
        self,
        kind: Kind,
        account_id: str,
        *,
        row: type[Row],
        entity_statuses: Sequence[str] = DEFAULT_ENTITY_STATUSES,
        page_size: int | None = None,
    ) -> AsyncIterator[list[Row]]:
        """Stream the pages of one kind of entity of an ad account, each as it arrives.

        Arguments are checked against the spec here, before anything is sent.

        Args:
            kind: Campaigns, ad groups or ads.
            account_id: The ad account, a digit string.
            row: The Struct each item decodes into (see :func:`monitor.models.row_type`).
            entity_statuses: Statuses to list; by default archived entities too.
            page_size: Overrides the client's page size for this listing.

        Raises:
            ValueError: An argument the spec does not allow.
            ListingError (while iterating): The bookmark chain broke or a page kept failing;
                the pages already yielded are not the whole listing.
            PinterestError (while iterating): Any other failure, see the transport.
        """
        request = self._listing(kind, account_id, entity_statuses, page_size)
        return self._pages(request, self._decoder(row))

    def list_entities_raw(
        self,
        kind: Kind,
        account_id: str,
        *,
        entity_statuses: Sequence[str] = DEFAULT_ENTITY_STATUSES,
        page_size: int | None = None,
        order: str | None = None,
    ) -> AsyncIterator[list[msgspec.Raw]]:
        """Like :meth:`list_entities`, but each item stays undecoded JSON.

        The page envelope is still validated (a truncated or garbage body is retried and
        then fails the listing); the items are decoded by the differ, and only those whose
        bytes changed since the last cycle (see ``AccountDiff.feed_page``).

        Args:
            order: ``ASCENDING`` or ``DESCENDING`` by id (the spec's ``order``), or None
                for Pinterest's default.
        """
        request = self._listing(kind, account_id, entity_statuses, page_size)
        if order is not None:
            if order not in ORDERS:
                raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
            request = replace(request, params=(*request.params, ("order", order)))
        return self._pages(request, _decode_raw_page)

    async def lookup_entities_raw(
        self,
        kind: Kind,
        account_id: str,
        entity_ids: Sequence[str],
        *,
        entity_statuses: Sequence[str] = DEFAULT_ENTITY_STATUSES,
    ) -> AsyncIterator[list[msgspec.Raw]]:
        """The entities with these ids (those that exist in ``entity_statuses``), as raw
        items: the list endpoint filtered by ``ad_ids`` / ``campaign_ids`` /
        ``ad_group_ids``, at most 250 ids per request (the spec's ``maxItems``).

        Raises (while iterating):
            ValueError: An id is not a digit string.
            ListingError, PinterestError: As for :meth:`list_entities_raw`.
        """
        param = ID_FILTERS[Kind(kind).plural]
        ids = check_entity_ids(param, entity_ids)
        base = self._listing(kind, account_id, entity_statuses, PAGE_SIZE_MAX)
        for start in range(0, len(ids), MAX_FILTER_IDS):
            chunk = ids[start : start + MAX_FILTER_IDS]
            request = replace(base, params=(*base.params, *((param, i) for i in chunk)))
            async for page in self._pages(request, _decode_raw_page):
                yield page

    def _listing(
        self, kind: Kind, account_id: str, entity_statuses: Sequence[str], page_size: int | None
    ) -> Request:
        kind = Kind(kind)
        account_id = check_ad_account_id(account_id)
        statuses = check_entity_statuses(entity_statuses)
        size = self._page_size if page_size is None else check_page_size(page_size)
        # Repeated keys (form style, explode) is how the spec's array parameter is sent.
        params = (*(("entity_statuses", s) for s in statuses), ("page_size", str(size)))
        return Request(
            f"/ad_accounts/{{id}}/{kind.plural}", f"/ad_accounts/{account_id}/{kind.plural}", params
        )

    def _decoder(self, row: type[Row]) -> Callable[[bytes], _Page[Row]]:
        # Building the page Struct and its decoder costs far more than decoding a page.
        decode = self._decoders.get(row)
        if decode is None:
            decoder = msgspec.json.Decoder(page_type(row))
            decode = self._decoders[row] = cast("Callable[[bytes], _Page[Row]]", decoder.decode)
        return decode

    async def _pages(
        self, request: Request, decode: Callable[[bytes], _Page[R]]
    ) -> AsyncIterator[list[R]]:
        seen: set[str] = set()
        bookmark: str | None = None
        for number in range(1, self._max_pages + 1):
            params = (
                request.params if bookmark is None else (*request.params, ("bookmark", bookmark))
            )
            page = await self._transport.get(
                replace(request, params=params), decode, failure=ListingError
            )
            # An empty string would make the next request identical to the first page.
            following = page.bookmark or None
            if following is not None and following in seen:
                raise ListingError(
                    f"GET {request.path}: page {number} repeats an earlier bookmark;"
                    " the listing would loop"
                )
            yield page.items
            if following is None:
                log.debug("api.listing_completed", endpoint=request.endpoint, pages=number)
                return
            seen.add(following)
            bookmark = following
        raise ListingError(
            f"GET {request.path}: still not at the last page after {self._max_pages} pages"
        )


#: The spec's ``order`` values (query_order).
ORDERS: Final = ("ASCENDING", "DESCENDING")


class _RawPage(msgspec.Struct):
    items: list[msgspec.Raw]
    bookmark: str | None = None


_decode_raw_page = msgspec.json.Decoder(_RawPage).decode
