"""Reading a listing against the stored snapshot: page by page in id order, or whole.

The two ways a cycle feeds the differ. In id order (the default for big accounts and
every first cycle) each page is diffed against the stored entities of its id range, so
memory holds a page, whatever the account's size; whole (small accounts, or a listing
that ignores the order) reads the snapshot in one query.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

from monitor.differ import AccountDiff, DiffContext, OrderError, id_key, page_hashes
from monitor.evidence import usable_id
from monitor.hashindex import HashIndex
from monitor.models import ROW_HASH, Kind, Row, StoredRow, from_row
from monitor.pinterest import PinterestClient
from monitor.store import StateStore
from monitor.summary import summary_counts

#: Rows a first cycle accumulates before writing them ahead of its commit, and stored
#: rows read per query when counting a snapshot.
CHUNK: Final = 10_000
#: Stored rows read per query while streaming a listing: 20 pages' worth.
READ_AHEAD: Final = 5_000
#: Against a hash index, changed items are looked up by id once this many are waiting,
#: or once this many pages are (one query and one worker-thread hop for all of them).
LOOKUP: Final = 500
HELD_PAGES: Final = 20


class _Id(msgspec.Struct):
    id: str


#: A page's last id says which stored range the page covers; only that is decoded.
_decode_id = msgspec.json.Decoder(_Id).decode


def last_id(page: Sequence[msgspec.Raw]) -> str | None:
    """The id of the page's last item that has a usable one (None: no item has).

    Unusable items are the differ's to report; here they only must not hide the range.
    """
    for raw in reversed(page):
        try:
            entity_id = _decode_id(raw).id
        except msgspec.MsgspecError:
            continue
        if usable_id(entity_id):
            return entity_id
    return None


def _row_key(row: StoredRow) -> tuple[int, str]:
    return id_key(row[0])


class _StoredAhead:
    """The stored entities of a listing in id order, read ahead in chunks of
    :data:`READ_AHEAD` rows and handed out by page range: one query and one worker-thread
    hop per few dozen pages, not one per page (a steady 200,000-ad cycle: 40, not 800).

    ``collect``: a hash index to fill with the live rows read (a kind that has none yet);
    it becomes None if an id is not one an index can hold.
    """

    def __init__(
        self,
        store: StateStore,
        account_id: str,
        kind: Kind,
        lengths: tuple[int, int] | None,
        *,
        after: str | None = None,
        collect: HashIndex | None = None,
    ) -> None:
        self._store, self._account, self._kind, self._lengths = store, account_id, kind, lengths
        self._rows: list[StoredRow] = []
        self._at = 0  # rows before this one have been handed out
        self._read_upto = after  # the last id read so far
        self._exhausted = False
        self.collect = collect
        self.read = 0  # stored rows read so far

    async def _more(self) -> bool:
        if self._exhausted:
            return False
        chunk = await self._store.load_range_rows(
            self._account, self._kind, after=self._read_upto, upto=None,
            limit=READ_AHEAD, lengths=self._lengths,
        )  # fmt: skip
        self._rows = self._rows[self._at :] + chunk
        self._at = 0
        self._exhausted = len(chunk) < READ_AHEAD
        self.read += len(chunk)
        if chunk:
            self._read_upto = chunk[-1][0]
        if self.collect is not None:
            live = [r for r in chunk if r[ROW_HASH] >= 0]  # a tombstone's reads -1
            if not self.collect.extend([r[0] for r in live], [r[ROW_HASH] for r in live]):
                self.collect = None
        return bool(chunk)

    async def upto(self, entity_id: str) -> list[StoredRow]:
        """The stored rows not yet handed out with ids up to ``entity_id`` (as numbers)."""
        key = id_key(entity_id)
        while (self._read_upto is None or id_key(self._read_upto) <= key) and await self._more():
            pass
        rows, start = self._rows, self._at
        end = bisect_right(rows, key, lo=start, key=_row_key)
        self._at = end
        return rows[start:end]

    async def rest(self) -> AsyncIterator[list[StoredRow]]:
        """Every stored row not yet handed out (the tail no page covered), a chunk at a
        time: a listing that stopped short leaves the whole account there."""
        while self._at < len(self._rows) or await self._more():
            rows, self._rows, self._at = self._rows[self._at :], [], 0
            yield rows


@dataclass(slots=True)
class Listed:
    """A listing read against the stored snapshot: the diff, and the kind's hash index as
    the cycle found the stored entities (for the commit to bring up to date).

    Attributes:
        diff: The diff, to be finished.
        index: The stored live entities' ids and hashes before this cycle's writes, or
            None (a baseline, an unordered listing, an id an index cannot hold).
        collected: ``index`` was collected from the rows read (the store had none that
            was current): store it even when the cycle has nothing to commit.
        rows_read: Stored rows the cycle read (a steady one against an index: only the
            changed items' and those of pages that did not line up).
    """

    diff: AccountDiff
    index: HashIndex | None = None
    collected: bool = False
    rows_read: int = 0

    @property
    def how(self) -> str:
        """How the stored state was read, for the log: "index", "rows, collecting an
        index" or "rows"."""
        if self.index is None:
            return "rows"
        return "rows, collecting an index" if self.collected else "index"


async def diff_in_order(
    ctx: DiffContext,
    client: PinterestClient,
    store: StateStore,
    row: type[Row],
    statuses: Sequence[str],
    *,
    lengths: tuple[int, int] | None,
    empty: bool = False,
    version: int | None = None,
) -> Listed:
    """Stream the listing in ascending id order against the stored entities of each
    page's id range: memory holds a page and a chunk of stored rows, not the account.

    ``version``: the snapshot's (:class:`~monitor.store.SnapshotInfo`); with it a steady
    cycle reads the kind's hash index instead of its rows (:func:`_against_index`), or
    collects one from the rows it reads when the store has none that is current.

    Raises:
        OrderError: the listing was not in ascending id order (use :func:`diff_whole`).
    """
    listed = Listed(AccountDiff(ctx, {}))
    if empty or version is None or ctx.baseline or not listed.diff.hashes_decide:
        await _against_rows(listed, client, store, row, statuses, lengths, empty, None)
        return listed
    index = await store.load_hash_index(ctx.account_id, ctx.kind)
    if index is not None:
        listed.index = index
        await _against_index(listed, client, store, row, statuses, lengths)
        return listed
    listed.index = await _against_rows(
        listed, client, store, row, statuses, lengths, empty, HashIndex.empty(version)
    )
    listed.collected = listed.index is not None
    return listed


def _pages(
    client: PinterestClient, ctx: DiffContext, statuses: Sequence[str]
) -> AsyncIterator[list[msgspec.Raw]]:
    return client.list_entities_raw(
        ctx.kind, ctx.account_id, entity_statuses=statuses, order="ASCENDING"
    )


async def _against_rows(
    listed: Listed,
    client: PinterestClient,
    store: StateStore,
    row: type[Row],
    statuses: Sequence[str],
    lengths: tuple[int, int] | None,
    empty: bool,
    collect: HashIndex | None,
) -> HashIndex | None:
    """Each page against the stored rows of its range, read ahead in chunks; returns
    ``collect`` filled with every live stored entity (None if an id could not be held)."""
    diff = listed.diff
    ctx = diff.context
    account_id, kind = ctx.account_id, ctx.kind
    ahead = _StoredAhead(store, account_id, kind, lengths, collect=collect)
    after: str | None = None
    async for page in _pages(client, ctx, statuses):
        if not page:
            continue
        upto = last_id(page)
        if upto is None:
            diff.feed_page(page, row, [])  # nothing usable: reported, and no range moves
            continue
        if after is not None and id_key(upto) <= id_key(after):
            raise OrderError(f"page ending at {upto} does not follow {after}")
        diff.feed_page(page, row, [] if empty else await ahead.upto(upto))
        after = upto
        if ctx.baseline and not ctx.report_existing and len(diff.pending_rows) >= CHUNK:
            # A first cycle over a big account writes as it goes, so its memory
            # does not hold every row; it reports nothing, so nothing is at stake.
            await store.write_rows(account_id, kind, diff.take_rows())
    # Stored entities past the last page were not listed: removed (a complete
    # listing is what decides; finish() is only reached when it completed).
    if not empty:
        async for rows in ahead.rest():
            diff.add_stored(from_row(r) for r in rows)
    listed.rows_read += ahead.read
    return ahead.collect


@dataclass(slots=True)
class _Held:
    """A page matched against the index, waiting for its changed items' stored states."""

    page: list[msgspec.Raw]
    digests: list[int]
    changed: list[tuple[int, str]]  # (position in the page, stored id there)
    after: str | None
    upto: str


async def _against_index(
    listed: Listed,
    client: PinterestClient,
    store: StateStore,
    row: type[Row],
    statuses: Sequence[str],
    lengths: tuple[int, int] | None,
) -> None:
    """Each page against its range's slice of the hash index (:class:`_AgainstIndex`)."""
    reader = _AgainstIndex(listed, store, row, lengths)
    async for page in _pages(client, listed.diff.context, statuses):
        if page:
            await reader.page(page)
    await reader.finish()


class _AgainstIndex:
    """A listing read against the kind's hash index: a page whose hashes equal its
    range's slice costs no stored row; the few items whose bytes changed are looked up by
    id, for up to :data:`HELD_PAGES` pages at once. A page that does not line up with its
    slice (an entity added or gone, an item that does not decode) is diffed against its
    range's rows, as without an index."""

    def __init__(
        self, listed: Listed, store: StateStore, row: type[Row], lengths: tuple[int, int] | None
    ) -> None:
        assert listed.index is not None
        self._listed, self._diff, self._index = listed, listed.diff, listed.index
        self._store, self._row, self._lengths = store, row, lengths
        self._held: list[_Held] = []
        self._wanted = 0  # changed items among the held pages
        self._at = 0  # the index's entities before this position are behind the listing
        self._after: str | None = None  # the last page's last id

    async def page(self, page: list[msgspec.Raw]) -> None:
        """Diff one page (in order), or hold it until its changed items are looked up."""
        diff, index, after = self._diff, self._index, self._after
        upto = last_id(page)
        if upto is None:
            await self._flush()
            diff.feed_page(page, self._row, [])  # nothing usable: reported, no range moves
            return
        if after is not None and id_key(upto) <= id_key(after):
            raise OrderError(f"page ending at {upto} does not follow {after}")
        start = self._at
        self._at = index.position(upto, start)
        stored_hashes, digests = index.held(start, self._at), page_hashes(page)
        self._after = upto
        if len(stored_hashes) != len(page):
            await self._flush()
            diff.feed_page(page, self._row, await self._range(after, upto), digests)
            return
        changed = [] if digests == stored_hashes else [
            (i, index.id_at(start + i))
            for i, (d, h) in enumerate(zip(digests, stored_hashes, strict=True)) if d != h
        ]  # fmt: skip
        self._held.append(_Held(page, digests, changed, after, upto))
        self._wanted += len(changed)
        if self._wanted >= LOOKUP or len(self._held) >= HELD_PAGES:
            await self._flush()

    async def finish(self) -> None:
        """After the last page: the held pages, and the stored tail no page covered."""
        await self._flush()
        if self._at < len(self._index):
            # Live entities past the last page were not listed: removed, unless found
            # (as in _against_rows, the stored rows of the tail).
            ctx = self._diff.context
            tail = _StoredAhead(
                self._store, ctx.account_id, ctx.kind, self._lengths, after=self._after
            )
            async for rows in tail.rest():
                self._diff.add_stored(from_row(r) for r in rows)
            self._listed.rows_read += tail.read

    async def _range(self, after: str | None, upto: str) -> list[StoredRow]:
        ctx = self._diff.context
        rows = await self._store.load_range_rows(
            ctx.account_id, ctx.kind, after=after, upto=upto, lengths=self._lengths
        )
        self._listed.rows_read += len(rows)
        return rows

    async def _flush(self) -> None:
        if not self._held:
            return
        ctx, diff = self._diff.context, self._diff
        ids = [entity_id for h in self._held for _, entity_id in h.changed]
        stored = await self._store.load_entities(ctx.account_id, ctx.kind, ids) if ids else {}
        self._listed.rows_read += len(stored)
        for h in self._held:
            changed = [(i, entity_id, stored.get(entity_id)) for i, entity_id in h.changed]
            if not diff.feed_page_known(h.page, self._row, h.digests, changed, h.upto):
                diff.feed_page(h.page, self._row, await self._range(h.after, h.upto), h.digests)
        self._held, self._wanted = [], 0


async def diff_whole(
    ctx: DiffContext,
    client: PinterestClient,
    store: StateStore,
    row: type[Row],
    statuses: Sequence[str],
) -> Listed:
    """The listing against the whole stored snapshot, in whatever order it comes."""
    snapshot = await store.load_snapshot(ctx.account_id, ctx.kind)
    read = len(snapshot.entities)  # the diff consumes the dict
    diff = AccountDiff(ctx, snapshot.entities)
    async for page in client.list_entities_raw(ctx.kind, ctx.account_id, entity_statuses=statuses):
        diff.feed_any(page, row)
    return Listed(diff, rows_read=read)


async def count_stored(
    store: StateStore,
    account_id: str,
    kind: Kind,
    fields: tuple[str, ...],
    lengths: tuple[int, int] | None,
) -> dict[str, int]:
    """Entities by summary_status, read in chunks (for the metrics)."""
    counts: dict[str, int] = {}
    after: str | None = None
    while True:
        chunk = await store.load_range(
            account_id, kind, after=after, upto=None, limit=CHUNK, lengths=lengths
        )
        if not chunk:
            return counts
        for status, n in summary_counts((s for _, s in chunk), fields).items():
            counts[status] = counts.get(status, 0) + n
        after = chunk[-1][0]
