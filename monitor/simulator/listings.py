"""Listings: an account's entities of one kind, filtered and ordered as a query asks.

A listing holds the entity structs themselves, so a rename or a review decision shows
through it at once; only a change of membership (an entity added, removed, or moved in
or out of the requested statuses) alters it, and the world reports each such change to
:meth:`Listings.on_change`, which patches the cached listings in place (a bisect and a
list insert or delete) instead of re-filtering 50,000 ads.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from itertools import compress
from typing import Any, Final

from monitor.simulator import vocab
from monitor.simulator.entities import Entity, kind_of
from monitor.simulator.params import ListQuery
from monitor.simulator.world import World

#: Distinct listings (filters, orders) kept; each holds only references to entities.
MAX_LISTINGS: Final = 256


@dataclass(slots=True)
class Listing:
    """One listing's entities in order, with bisect-ready keys.

    Attributes:
        version: The world's membership version it reflects (see ``World.member_version``).
        keys: Ids as ints, ascending; negated for DESCENDING so they still ascend.
        sign: -1 for DESCENDING, else 1.
    """

    account_id: str | None
    query: ListQuery
    version: int
    items: list[Any]
    keys: list[int]
    sign: int

    def wants(self, entity: Entity, status: str | None) -> bool:
        """Whether ``entity`` with ``status`` (None: gone) belongs in this listing."""
        q = self.query
        if status is None or status not in q.statuses:
            return False
        return q.filter_field is None or getattr(entity, q.filter_field) in q.filter_ids


class Listings:
    """The cached listings of one world, kept in step with its membership changes."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._cache: OrderedDict[str, Listing] = OrderedDict()
        world.listeners.append(self.on_change)

    def _version(self, account_id: str | None) -> int:
        if account_id is None:
            return self.world.version  # the accounts listing: tiny, rebuilt on any change
        return self.world.member_version(account_id)

    def get(self, account_id: str | None, query: ListQuery) -> Listing:
        """The listing ``query`` describes (of ad accounts when ``account_id`` is None)."""
        key = query.listing_key(account_id or "")
        cached = self._cache.get(key)
        if cached is not None and cached.version == self._version(account_id):
            self._cache.move_to_end(key)
            return cached
        listing = self._build(account_id, query)
        self._cache[key] = listing
        while len(self._cache) > MAX_LISTINGS:
            self._cache.popitem(last=False)
        return listing

    def _build(self, account_id: str | None, query: ListQuery) -> Listing:
        items: list[Any]
        if account_id is None:
            keys = sorted(int(i) for i in self.world.accounts)
            items = [self.world.accounts[str(i)] for i in keys]
            mask = [query.include_shared or a.id not in self.world.shared for a in items]
        elif query.filter_field == "id":
            # A lookup by ids (``ad_ids``: what a poller's fast lane for PENDING ads sends):
            # at most 250 dict hits instead of a pass over the whole account.
            table = getattr(self.world, query.kind)
            hits = (table.get(i) for i in query.filter_ids)
            found = sorted(
                (int(e.id), e)
                for e in hits
                if e is not None and e.ad_account_id == account_id and e.status in query.statuses
            )
            keys, items = [k for k, _ in found], [e for _, e in found]
            mask = [True] * len(items)
        else:
            keys = self.world.ids_of(account_id, query.kind)
            items = self.world.entities_of(account_id, query.kind)
            statuses, field = set(query.statuses), query.filter_field
            if field is None and len(statuses) == len(vocab.ENTITY_STATUSES):
                mask = [True] * len(items)
            else:
                # A mask and compress() rather than (key, entity) pairs: 50,000 throwaway
                # tuples would wake the cyclic GC, which then walks the whole world.
                mask = [
                    e.status in statuses
                    and (field is None or getattr(e, field) in query.filter_ids)
                    for e in items
                ]
        keys, items = list(compress(keys, mask)), list(compress(items, mask))
        sign = 1
        if query.descending:
            sign = -1
            items.reverse()
            keys = [-k for k in reversed(keys)]
        return Listing(account_id, query, self._version(account_id), items, keys, sign)

    def on_change(self, entity: Entity, old: str | None, new: str | None) -> None:
        """Patch cached listings for ``entity`` going from status ``old`` to ``new``.

        ``old`` is None for a new entity, ``new`` None for a removed one. Called by the
        world after it bumped the account's membership version.
        """
        account_id, kind = entity.ad_account_id, kind_of(entity)
        version = self.world.member_version(account_id)
        for listing in self._cache.values():
            if listing.account_id != account_id:
                continue
            if listing.query.kind == kind:
                was, now = listing.wants(entity, old), listing.wants(entity, new)
                if was != now:
                    key = listing.sign * int(entity.id)
                    at = bisect.bisect_left(listing.keys, key)
                    if was:
                        del listing.keys[at], listing.items[at]
                    else:
                        listing.keys.insert(at, key)
                        listing.items.insert(at, entity)
            listing.version = version

    def clear(self) -> None:
        """Forget every cached listing."""
        self._cache.clear()
