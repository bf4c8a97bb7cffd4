"""Reading a listing against the stored snapshot: page by page in id order, or whole.

The two ways a cycle feeds the differ. In id order (the default for big accounts and
every first cycle) each page is diffed against the stored entities of its id range, so
memory holds a page, whatever the account's size; whole (small accounts, or a listing
that ignores the order) reads the snapshot in one query.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import AsyncIterator, Sequence
from typing import Final

import msgspec

from monitor.differ import AccountDiff, DiffContext, OrderError, id_key
from monitor.evidence import usable_id
from monitor.models import Kind, Row, StoredRow, from_row
from monitor.pinterest import PinterestClient
from monitor.store import StateStore
from monitor.summary import summary_counts

#: Rows a first cycle accumulates before writing them ahead of its commit, and stored
#: rows read per query when counting a snapshot.
CHUNK: Final = 10_000
#: Stored rows read per query while streaming a listing: 20 pages' worth.
READ_AHEAD: Final = 5_000


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
    """

    def __init__(
        self, store: StateStore, account_id: str, kind: Kind, lengths: tuple[int, int] | None
    ) -> None:
        self._store, self._account, self._kind, self._lengths = store, account_id, kind, lengths
        self._rows: list[StoredRow] = []
        self._at = 0  # rows before this one have been handed out
        self._read_upto: str | None = None  # the last id read so far
        self._exhausted = False

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
        if chunk:
            self._read_upto = chunk[-1][0]
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


async def diff_in_order(
    ctx: DiffContext,
    client: PinterestClient,
    store: StateStore,
    row: type[Row],
    statuses: Sequence[str],
    *,
    lengths: tuple[int, int] | None,
    empty: bool = False,
) -> AccountDiff:
    """Stream the listing in ascending id order against the stored entities of each
    page's id range: memory holds a page and a chunk of stored rows, not the account.

    Raises:
        OrderError: the listing was not in ascending id order (use :func:`diff_whole`).
    """
    account_id, kind = ctx.account_id, ctx.kind
    diff = AccountDiff(ctx, {})
    ahead = _StoredAhead(store, account_id, kind, lengths)
    after: str | None = None
    async for page in client.list_entities_raw(
        kind, account_id, entity_statuses=statuses, order="ASCENDING"
    ):
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
    return diff


async def diff_whole(
    ctx: DiffContext,
    client: PinterestClient,
    store: StateStore,
    row: type[Row],
    statuses: Sequence[str],
) -> AccountDiff:
    """The listing against the whole stored snapshot, in whatever order it comes."""
    snapshot = await store.load_snapshot(ctx.account_id, ctx.kind)
    diff = AccountDiff(ctx, snapshot.entities)
    async for page in client.list_entities_raw(ctx.kind, ctx.account_id, entity_statuses=statuses):
        diff.feed_any(page, row)
    return diff


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
