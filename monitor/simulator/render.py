"""Listing pages: opaque bookmarks and rendered page bytes, cached.

A page's JSON is rendered once per version of its account and served from an LRU after
that; any change in the account bumps the version, which retires its pages. The
listings the pages are cut from are cached too (see :mod:`.listings`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from monitor.simulator.listings import Listing, Listings
from monitor.simulator.params import ListQuery, ParamError
from monitor.simulator.world import World

_encoder: Final = msgspec.json.Encoder()

#: A page cache this big holds a full 50,000-ad listing (about 300 kB per 250-ad page)
#: twice over; beyond it the oldest pages are dropped and re-rendered on demand.
DEFAULT_CACHE_BYTES: Final = 160 * 1024 * 1024


class Bookmarks:
    """Opaque cursors: the last id served, tied to its listing by a keyed digest.

    The digest makes a bookmark useless outside its listing (another account, other
    statuses or order) and not guessable as a number; the id (not an offset) makes
    paging stable when entities are added or archived between pages.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(16)

    def _digest(self, listing_key: str) -> str:
        return hashlib.blake2b(listing_key.encode(), key=self._secret, digest_size=6).hexdigest()

    def encode(self, listing_key: str, after: str) -> str:
        """The bookmark for "the page after id ``after``" ("" for the first page)."""
        raw = f"{after}:{self._digest(listing_key)}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, listing_key: str, bookmark: str) -> str:
        """The id a bookmark continues after.

        Raises:
            ParamError: If it is not one of ours for this listing.
        """
        try:
            raw = base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ParamError("bookmark is not valid") from None
        after, _, digest = raw.partition(":")
        if digest != self._digest(listing_key) or not (after == "" or after.isdigit()):
            raise ParamError("bookmark is not valid for this listing")
        return after


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page and what the server needs to know about it."""

    body: bytes
    bookmark: str | None
    count: int

    @property
    def last(self) -> bool:
        """Whether it ends its listing (``bookmark: null``)."""
        return self.bookmark is None


class Pages:
    """Renders and caches listing pages of one world."""

    def __init__(
        self, world: World, *, secret: bytes | None = None, max_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.world = world
        self.bookmarks = Bookmarks(secret)
        self.max_bytes = max_bytes
        self.listings = Listings(world)
        self._pages: OrderedDict[tuple[str, str, int], tuple[int, Page]] = OrderedDict()
        self._bytes = 0
        self.rendered = 0  #: pages rendered (cache misses), for tests and benchmarks

    def _version(self, account_id: str | None) -> int:
        return self.world.version if account_id is None else self.world.account_version(account_id)

    def listing(self, account_id: str | None, query: ListQuery) -> Listing:
        """The filtered, ordered entities of a listing (see :mod:`.listings`)."""
        return self.listings.get(account_id, query)

    def page(self, account_id: str | None, query: ListQuery) -> Page:
        """The page ``query`` asks for, from the cache when the listing has not changed.

        Raises:
            ParamError: If the bookmark is not valid for this listing.
        """
        key = query.listing_key(account_id or "")
        after = self.bookmarks.decode(key, query.bookmark) if query.bookmark else ""
        version = self._version(account_id)
        cache_key = (key, after, query.page_size)
        hit = self._pages.get(cache_key)
        if hit is not None and hit[0] == version:
            self._pages.move_to_end(cache_key)
            return hit[1]
        page = self._render(key, self.listing(account_id, query), after, query)
        self._store(cache_key, version, page)
        return page

    def _slice(self, listing: Listing, after: str, size: int) -> tuple[Sequence[Any], bool]:
        start = bisect.bisect_right(listing.keys, listing.sign * int(after)) if after else 0
        items = listing.items[start : start + size]
        return items, start + size < len(listing.items)

    def _render(self, key: str, listing: Listing, after: str, query: ListQuery) -> Page:
        self.rendered += 1
        items, more = self._slice(listing, after, query.page_size)
        bookmark = self.bookmarks.encode(key, items[-1].id) if more else None
        body = _encoder.encode({"items": items, "bookmark": bookmark})
        return Page(body, bookmark, len(items))

    def _store(self, cache_key: tuple[str, str, int], version: int, page: Page) -> None:
        old = self._pages.pop(cache_key, None)
        if old is not None:
            self._bytes -= len(old[1].body)
        self._pages[cache_key] = (version, page)
        self._bytes += len(page.body)
        while self._bytes > self.max_bytes and len(self._pages) > 1:
            _, (_, dropped) = self._pages.popitem(last=False)
            self._bytes -= len(dropped.body)

    def faulted_page(
        self,
        account_id: str | None,
        query: ListQuery,
        *,
        kind: str,
        stale_ids: frozenset[str] | None = None,
    ) -> Page:
        """A page as a fault distorts it (never cached).

        ``kind`` is ``repeat_bookmark`` (the right items, but a bookmark pointing back at
        this very page), ``empty_page`` (no items, and that same looping bookmark) or
        ``stale`` (each changed entity as it was before its latest change, or only
        those in ``stale_ids``).

        Raises:
            ParamError: If the bookmark is not valid for this listing.
        """
        key = query.listing_key(account_id or "")
        after = self.bookmarks.decode(key, query.bookmark) if query.bookmark else ""
        listing = self.listing(account_id, query)
        items, more = self._slice(listing, after, query.page_size)
        bookmark = self.bookmarks.encode(key, items[-1].id) if more else None
        if kind in ("repeat_bookmark", "empty_page"):
            bookmark = query.bookmark or self.bookmarks.encode(key, "")
            if kind == "empty_page":
                items = []
        elif kind == "stale":
            items = [self.stale(e, stale_ids) for e in items]
        body = _encoder.encode({"items": items, "bookmark": bookmark})
        return Page(body, bookmark, len(items))

    def stale(self, entity: Any, only: frozenset[str] | None) -> Any:
        """``entity`` as a lagging replica would serve it."""
        if only is not None and entity.id not in only:
            return entity
        return self.world.previous.get(entity.id, entity)

    def clear(self) -> None:
        """Forget every cached listing and page (after a world reset)."""
        self.listings.clear()
        self._pages.clear()
        self._bytes = 0


def encode(value: Any) -> bytes:
    """JSON bytes of a struct or builtin value."""
    return _encoder.encode(value)
