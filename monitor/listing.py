"""Reading a listing against the stored snapshot: page by page in id order, or whole.

The two ways a cycle feeds the differ. In id order (the default for big accounts and
every first cycle) each page is diffed against the stored entities of its id range, so
memory holds a page, whatever the account's size; whole (small accounts, or a listing
that ignores the order) reads the snapshot in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from monitor.differ import AccountDiff, DiffContext, OrderError, id_key
from monitor.evidence import usable_id
from monitor.models import Kind, Row
from monitor.pinterest import PinterestClient
from monitor.store import StateStore
from monitor.summary import summary_counts

#: Rows a first cycle accumulates before writing them ahead of its commit, and stored
#: rows read per query when streaming the tail of a snapshot.
CHUNK: Final = 10_000


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
    page's id range: memory holds a page, not the account.

    Raises:
        OrderError: the listing was not in ascending id order (use :func:`diff_whole`).
    """
    account_id, kind = ctx.account_id, ctx.kind
    diff = AccountDiff(ctx, {})
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
        stored = (
            []
            if empty
            else await store.load_range_rows(
                account_id, kind, after=after, upto=upto, lengths=lengths
            )
        )
        diff.feed_page(page, row, stored)
        after = upto
        if ctx.baseline and not ctx.report_existing and len(diff.pending_rows) >= CHUNK:
            # A first cycle over a big account writes as it goes, so its memory
            # does not hold every row; it reports nothing, so nothing is at stake.
            await store.write_rows(account_id, kind, diff.take_rows())
    # Stored entities past the last page were not listed: removed (a complete
    # listing is what decides; finish() is only reached when it completed).
    while not empty:
        tail = await store.load_range(
            account_id, kind, after=after, upto=None, limit=CHUNK, lengths=lengths
        )
        if not tail:
            return diff
        diff.add_stored(tail)
        after = tail[-1][0]
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
