"""Compare a fresh listing with the stored snapshot and derive typed events: pure, no I/O.

Pages are fed in as they arrive; :meth:`AccountDiff.finish` says whether the listing was
complete, which is the only case in which an entity missing from it counts as removed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from operator import itemgetter

import msgspec
from xxhash import xxh3_64_intdigest

from monitor.compare import DiffContext, DiffResult, EntityComparer
from monitor.errors import ListingError
from monitor.evidence import BadItem, excerpt, usable_id
from monitor.models import ROW_HASH, ROW_REMOVED, Row, SnapshotRow, Stored, StoredRow, from_row

#: A range row's raw hash (C-level, for mapping over a page's worth).
_row_hash = itemgetter(ROW_HASH)

__all__ = [
    "AccountDiff", "DiffContext", "DiffResult", "OrderError", "diff_listing", "id_key",
    "page_hashes",
]  # fmt: skip



class OrderError(ListingError):
    """A listing asked for in ascending id order came back otherwise.

    Streaming (page-range) diffing relies on that order to know which stored entities a
    page covers; the caller falls back to diffing against the whole snapshot.
    """


def page_hashes(items: Sequence[msgspec.Raw]) -> list[int]:
    """Each raw item's hash as stored (xxh3, 63 bits: a signed SQL integer, never -1)."""
    return [xxh3_64_intdigest(raw) >> 1 for raw in items]


def id_key(entity_id: str) -> tuple[int, str]:
    """Digit-string ids ordered as numbers, as Pinterest orders them (and the store)."""
    return (len(entity_id), entity_id)


class AccountDiff:
    """Incremental diff of one account's listing against its stored snapshot.

    Two ways to feed it:

    - :meth:`feed` / :meth:`feed_any` (and :func:`diff_listing`) with ``stored`` the whole
      snapshot, in any order: the simple form, used when a listing's order cannot be
      relied on.
    - :meth:`feed_page` for a listing in ascending id order, each page with the stored
      entities of its id range (start with ``stored={}``): a cycle holds one page's worth
      of stored state, whatever the size of the account.

    Stored entries are consumed as they are seen, so that what remains at the end is
    exactly what the listing no longer contains (:meth:`missing`). Absence is evidence,
    not proof: the caller looks those ids up directly, hands what it found to
    :meth:`feed_found`, and names in :meth:`finish` the ones confirmed gone.

    Everything Pinterest sends is evidence too: an item without a usable id or that does
    not decode is skipped (and reported in ``bad``), a stamp from the future is not
    trusted as a version, and a watched field that comes back null keeps its stored value.
    """

    def __init__(self, ctx: DiffContext, stored: dict[str, Stored]) -> None:
        self._ctx = ctx
        self._stored = stored
        self._decode_row: Callable[[bytes], Row] | None = None
        self._hash = 0  # raw hash of the item being diffed (0: unknown)
        self._seen: set[str] = set()  # only without streaming: the order does not dedupe
        self._count = 0
        self._page = 0
        self._last_id: str | None = None
        self._result = DiffResult()
        self._compare = EntityComparer(ctx, self._result)
        self._same_fields = self._compare.same_fields

    def _decoder(self, row: type[Row]) -> Callable[[bytes], Row]:
        if self._decode_row is None:
            self._decode_row = msgspec.json.Decoder(row).decode
        return self._decode_row

    def _parse(self, raw: msgspec.Raw, decode: Callable[[bytes], Row]) -> Row | None:
        """One raw item decoded, or None (recorded in ``bad``) when it is unusable."""
        try:
            parsed = decode(raw)
        except msgspec.MsgspecError as exc:
            self._result.bad.append(BadItem(self._page, excerpt(raw), str(exc)[:200]))
            return None
        if not usable_id(parsed.id):
            error = f"unusable id {parsed.id[:40]!r}"
            self._result.bad.append(BadItem(self._page, excerpt(raw), error))
            return None
        return parsed

    def feed_page(
        self,
        items: Sequence[msgspec.Raw],
        row: type[Row],
        stored: Sequence[StoredRow],
        digests: list[int] | None = None,
    ) -> None:
        """Diff one page of raw items against the stored entities of its id range.

        Args:
            items: The page, in ascending id order.
            row: The Struct a changed item decodes into.
            stored: The stored entities whose ids fall after the previous page's last
                id and up to this page's last one, in ascending order, as the store's
                range rows.
            digests: :func:`page_hashes` of ``items``, if the caller has them already.

        An item whose raw bytes hash to what was stored with the entity at the same
        position cannot have changed: it is neither decoded nor compared (one xxh3 per ad
        instead of a decode). Everything else is decoded and diffed; an item that does
        not decode is skipped and reported.

        Raises:
            OrderError: the page is not in ascending id order after the previous one.
        """
        decode = self._decoder(row)
        self._page += 1
        if digests is None:
            digests = page_hashes(items)
        if not (self._same_fields and self._aligned(items, digests, stored, decode)):
            self._walk(items, digests, [from_row(r) for r in stored], decode)
        self._result.seen = self._count

    @property
    def context(self) -> DiffContext:
        """What this diff is of (account, kind, fields, times)."""
        return self._ctx

    @property
    def hashes_decide(self) -> bool:
        """Whether an item hashing to its stored entity's raw hash is unchanged without a
        look (the stored states are encoded with the fields watched now)."""
        return self._same_fields

    def feed_page_known(
        self,
        items: Sequence[msgspec.Raw],
        row: type[Row],
        digests: list[int],
        changed: Sequence[tuple[int, str, Stored | None]],
        upto: str,
    ) -> bool:
        """Diff a page the caller matched against its range's stored hashes (a hash
        index): the range holds as many live entities as the page has items, and item *i*
        is unchanged unless listed in ``changed`` as ``(i, stored id at i, its stored
        state)``. Only those items are decoded and compared.

        False, having changed nothing, when the page is not like that after all (an item
        that does not decode, another id at the position, no stored state): the caller
        diffs it with :meth:`feed_page` and the stored rows of its range.
        """
        if not self._same_fields:
            return False
        decode = self._decoder(row)
        parsed: list[tuple[int, Row, Stored]] = []
        for i, entity_id, old in changed:
            if old is None or old.removed:
                return False
            try:
                item = decode(items[i])
            except msgspec.MsgspecError:
                return False
            if item.id != entity_id:
                return False
            parsed.append((i, item, old))
        self._page += 1
        self._count += len(items) - len(parsed)
        for i, item, old in parsed:
            self._count += 1
            self._compare.hash = digests[i]
            self._compare.compare(item, old)
        self._last_id = upto
        self._result.seen = self._count
        return True

    def _aligned(
        self,
        items: Sequence[msgspec.Raw],
        digests: list[int],
        stored: Sequence[StoredRow],
        decode: Callable[[bytes], Row],
    ) -> bool:
        """The common page, diffed in bulk: item *i* is stored entity *i* of the range,
        so unchanged items are found by comparing two lists of hashes (no per-item work
        in Python), and only the items whose bytes changed are decoded. False, having
        changed nothing, when the page is not like that (an entity added or gone, an
        item that does not decode, a tombstone listed again): :meth:`_walk` takes it.
        """
        if len(stored) != len(items):
            stored = [r for r in stored if not r[ROW_REMOVED]]  # tombstones stay stored
            if len(stored) != len(items):
                return False
        held = list(map(_row_hash, stored))  # a tombstone's is -1: it never matches
        changed: list[tuple[int, Row]] = []
        if digests != held:  # one C-level compare settles the ~8% of pages with no change
            for i in [i for i, (d, h) in enumerate(zip(digests, held, strict=True)) if d != h]:
                try:
                    parsed = decode(items[i])
                except msgspec.MsgspecError:
                    return False
                if parsed.id != stored[i][0] or stored[i][ROW_REMOVED]:
                    return False
                changed.append((i, parsed))
        self._count += len(items) - len(changed)
        for i, parsed in changed:
            self._hash = digests[i]
            self._count += 1
            self._compare.hash = digests[i]
            self._compare.compare(parsed, from_row(stored[i])[1])
        self._hash = 0
        if stored:
            self._last_id = stored[-1][0]
        return True

    def _walk(
        self,
        items: Sequence[msgspec.Raw],
        digests: list[int],
        stored: Sequence[tuple[str, Stored]],
        decode: Callable[[bytes], Row],
    ) -> None:
        """Any page, item by item: two cursors over the page and the stored range."""
        pending = self._stored
        for entity_id, old in stored:
            pending[entity_id] = old
        fast = self._same_fields
        k, n = 0, len(stored)
        for raw, digest in zip(items, digests, strict=True):
            if fast and k < n:
                entity_id, old = stored[k]
                if old.raw_hash == digest and not old.removed:
                    k += 1
                    if pending.pop(entity_id, None) is not None:
                        self._count += 1
                        self._last_id = entity_id
                    continue
            parsed = self._parse(raw, decode)
            if parsed is None:
                continue
            entity_id = parsed.id
            key = id_key(entity_id)
            if self._last_id is not None:
                last = id_key(self._last_id)
                if key == last:
                    continue  # the same ad twice in a row (a page boundary shifted)
                if key < last:
                    raise OrderError(f"listing not in ascending id order at {entity_id}")
            self._last_id = entity_id
            # Stored entities before this id that were not listed stay pending: removed.
            while k < n and id_key(stored[k][0]) <= key:
                k += 1
            self._hash = digest
            self._one(parsed)
        self._hash = 0

    def feed_any(self, items: Sequence[msgspec.Raw], row: type[Row]) -> None:
        """Diff raw items in any order against the whole stored snapshot (given at
        construction): an item whose hash matches its stored entity's is not compared."""
        decode = self._decoder(row)
        self._page += 1
        for raw in items:
            self._hash = xxh3_64_intdigest(raw) >> 1
            parsed = self._parse(raw, decode)
            if parsed is None:
                continue
            old = self._stored.get(parsed.id)
            if (
                old is not None
                and old.raw_hash == self._hash
                and not old.removed
                and self._same_fields
                and parsed.id not in self._seen
            ):
                self._seen.add(parsed.id)
                del self._stored[parsed.id]
                self._count += 1
                continue
            self.feed((parsed,))
        self._hash = 0
        self._result.seen = len(self._seen)

    def add_stored(self, stored: Iterable[tuple[str, Stored]]) -> None:
        """More stored entities no page covered (the tail after the last page): missing
        at the end unless seen."""
        for entity_id, old in stored:
            self._stored[entity_id] = old

    @property
    def listed(self) -> int:
        """Entities the listing has contained so far."""
        return self._count

    def missing(self) -> list[str]:
        """Stored live entities the listing did not contain (call once it is complete).

        Empty while any item had to be skipped: the skipped one may be any of them.
        """
        if self._result.bad:
            return []
        return [entity_id for entity_id, old in self._stored.items() if not old.removed]

    def feed_found(self, items: Sequence[msgspec.Raw], row: type[Row]) -> None:
        """Diff what a direct lookup of :meth:`missing` ids returned: those exist after all.

        Items for ids that were not missing are ignored: a lookup proves presence only of
        what it was asked about.
        """
        decode = self._decoder(row)
        for raw in items:
            self._hash = xxh3_64_intdigest(raw) >> 1
            parsed = self._parse(raw, decode)
            if parsed is None or parsed.id not in self._stored:
                continue
            old = self._stored[parsed.id]
            if old.raw_hash == self._hash and not old.removed and self._same_fields:
                del self._stored[parsed.id]
                self._count += 1
            else:
                self._one(parsed)
        self._hash = 0

    def feed(self, rows: Iterable[Row]) -> None:
        """Diff rows against the whole stored snapshot; repeated ids are ignored."""
        seen = self._seen
        for row in rows:
            if row.id in seen:
                continue
            seen.add(row.id)
            self._one(row)
        self._result.seen = len(seen)

    def _one(self, row: Row) -> None:
        old = self._stored.pop(row.id, None)
        self._count += 1
        self._compare.hash = self._hash
        self._compare.compare(row, old)

    @property
    def pending_rows(self) -> list[SnapshotRow]:
        """Rows produced so far (read-only view for the caller's bookkeeping)."""
        return self._result.rows

    def take_rows(self) -> list[SnapshotRow]:
        """Hand over the rows so far, for a baseline that writes them as it goes.

        Raises:
            RuntimeError: Not a baseline: a diff's rows must be committed together with
                its events, in one transaction.
        """
        if not self._ctx.baseline:
            raise RuntimeError("only a baseline may write its rows before the commit")
        rows, self._result.rows = self._result.rows, []
        return rows

    def finish(self, *, complete: bool, gone: Collection[str] | None = None) -> DiffResult:
        """Close the diff.

        Args:
            complete: The listing's bookmark chain ended normally. Only then, and only
                when no item had to be skipped, may entities missing from it be
                ``removed``; otherwise nothing is inferred from absence.
            gone: Of the :meth:`missing` ids, those a direct lookup confirmed gone; only
                these are removed (None: every missing one, for callers that vouch).
        """
        result = self._result
        result.complete = complete and not result.bad
        if result.complete:
            for entity_id, old in self._stored.items():
                if not old.removed and (gone is None or entity_id in gone):
                    self._compare.remove(entity_id, old)
        self._stored = {}
        return result


def diff_listing(
    ctx: DiffContext, stored: dict[str, Stored], pages: Iterable[Iterable[Row]], *, complete: bool
) -> DiffResult:
    """Diff a whole listing at once: the convenience form of :class:`AccountDiff`."""
    diff = AccountDiff(ctx, stored)
    for page in pages:
        diff.feed(page)
    return diff.finish(complete=complete)
