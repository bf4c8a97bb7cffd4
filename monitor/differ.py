"""Compare a fresh listing with the stored snapshot and derive typed events: pure, no I/O.

Pages are fed in as they arrive; :meth:`AccountDiff.finish` says whether the listing was
complete, which is the only case in which an entity missing from it counts as removed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec
from xxhash import xxh3_64_intdigest

from monitor.classify import EntityIds, classify, entity_event, standing
from monitor.errors import ListingError
from monitor.events import Change, Event, FieldChange
from monitor.evidence import BadItem, excerpt, trusted_stamp, usable_id
from monitor.models import Kind, Row, SnapshotRow, Stored
from monitor.normal import decode_meta, decode_state, meta_of, normaliser

_encode = msgspec.msgpack.Encoder().encode


@dataclass(frozen=True, slots=True)
class DiffContext:
    """What one account's diff needs besides the data.

    Attributes:
        account_id: The ad account being diffed.
        kind: Which entity listing this is.
        watched: The watched fields, in the order new blobs are encoded.
        stored_fields: The watched fields the stored blobs were encoded with (they differ
            after a config change: only fields watched both then and now are compared).
        detected_at: Unix time stamped on events; injected, never read from a clock here.
        baseline: First cycle of this account: record silently, emit nothing...
        report_existing: ...except, when set, ``ad.already_rejected`` for ads rejected now
            and ``ad.pending_review`` for ads pending since before ``pending_before``
            (the opt-in start-up report; they go out as one digest).
        trusted_until: ``updated_time`` stamps after this (Unix seconds) are not trusted as
            versions: a stamp from the future would otherwise make every later real change
            look stale, forever. None trusts every stamp (pure tests).
    """

    account_id: str
    kind: Kind
    watched: tuple[str, ...]
    stored_fields: tuple[str, ...]
    detected_at: float
    baseline: bool = False
    report_existing: bool = False
    pending_before: float | None = None
    trusted_until: float | None = None


@dataclass(slots=True)
class DiffResult:
    """What a diff produced: events, rows to upsert, and what was noticed on the way.

    Attributes:
        complete: Removals were decided (the listing was complete and every item usable).
        seen: Entities listed.
        stale: Items older than what is stored (a lagging replica): ignored.
        untrusted: Ids whose ``updated_time`` lay in the future: stored without a version.
        unknown: Ids with a watched field null or absent: that field kept its stored value.
        bad: Items skipped as unusable; while there are any, nothing is inferred from absence.
    """

    events: list[Event] = field(default_factory=list)
    rows: list[SnapshotRow] = field(default_factory=list)
    complete: bool = False
    seen: int = 0
    stale: int = 0
    untrusted: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    bad: list[BadItem] = field(default_factory=list)


class OrderError(ListingError):
    """A listing asked for in ascending id order came back otherwise.

    Streaming (page-range) diffing relies on that order to know which stored entities a
    page covers; the caller falls back to diffing against the whole snapshot.
    """


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
        self._norms = [(name, normaliser(name)) for name in ctx.watched]
        self._same_fields = ctx.watched == ctx.stored_fields
        getter = attrgetter(*ctx.watched)
        # attrgetter of one name returns the bare value, not a 1-tuple.
        self._values_of: Callable[[Row], Any] = (
            getter if len(ctx.watched) > 1 else (lambda row: (getter(row),))
        )
        self._result = DiffResult()

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
        stored: Sequence[tuple[str, Stored]],
    ) -> None:
        """Diff one page of raw items against the stored entities of its id range.

        Args:
            items: The page, in ascending id order.
            row: The Struct a changed item decodes into.
            stored: The stored entities whose ids fall after the previous page's last
                id and up to this page's last one, in ascending order.

        An item whose raw bytes hash to what was stored with the entity at the same
        position cannot have changed: it is neither decoded nor compared (one xxh3 per ad
        instead of a decode). Everything else is decoded and diffed; an item that does
        not decode is skipped and reported.

        Raises:
            OrderError: the page is not in ascending id order after the previous one.
        """
        decode = self._decoder(row)
        self._page += 1
        pending = self._stored
        for entity_id, old in stored:
            pending[entity_id] = old
        fast = self._same_fields
        k, n = 0, len(stored)
        for raw in items:
            digest = xxh3_64_intdigest(raw) >> 1  # 63 bits: fits a signed SQL integer
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
        self._result.seen = self._count

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
        entity_id = row.id
        old = self._stored.pop(entity_id, None)
        self._count += 1
        t = trusted_stamp(row.updated_time, self._ctx.trusted_until)
        if t != row.updated_time:
            self._result.untrusted.append(entity_id)
            row.updated_time = t
        until = self._ctx.trusted_until
        if old is not None and trusted_stamp(old.updated_time, until) != old.updated_time:
            # Poisoned by an earlier cycle (or an older pinmon): it proves nothing.
            old = msgspec.structs.replace(old, updated_time=None)
        # Fast path, taken by most changed-bytes ads: the raw values already are in
        # normal form (the API's usual [] and false are the canonical empties) and encode
        # to the stored bytes. One C-level getter and one encode, no per-field calls.
        if (
            self._same_fields
            and old is not None
            and not old.removed
            and _encode(self._values_of(row)) == old.blob
        ):
            newer = t is None or old.updated_time is None or t >= old.updated_time
            if newer and (t != old.updated_time or self._hash != old.raw_hash):
                # Unwatched fields moved: keep the new hash so next cycle skips it.
                self._result.rows.append(
                    SnapshotRow(
                        entity_id,
                        Stored(t, old.rev, old.blob, meta_of(row), raw_hash=self._hash),
                    )
                )
            return
        self._slow(row, old)

    def _values(self, row: Row, old: Stored | None) -> list[Any]:
        """The row's watched values in normal form; null or absent ones, which say
        nothing, keep the stored value ("unknown this cycle", never a transition)."""
        raws = [getattr(row, name) for name, _ in self._norms]
        if old is None or old.removed or not any(v is None for v in raws):
            return [norm(v) for (_, norm), v in zip(self._norms, raws, strict=True)]
        before = decode_state(self._ctx.stored_fields, old.blob)
        values = []
        unknown = False
        for (name, norm), raw in zip(self._norms, raws, strict=True):
            if raw is None and name in before:
                unknown = unknown or before[name] != norm(raw)
                values.append(before[name])
            else:
                values.append(norm(raw))
        if unknown:
            self._result.unknown.append(row.id)
        return values

    def _slow(self, row: Row, old: Stored | None) -> None:
        """Normalise and compare one row."""
        values = self._values(row, old)
        blob = _encode(values)
        if old is None or old.removed:
            self._created(row, old, values, blob)
            return
        if (
            row.updated_time is not None
            and old.updated_time is not None
            and row.updated_time < old.updated_time
        ):
            # A stale replica: never let an older version overwrite a newer one.
            self._result.stale += 1
            return
        if blob == old.blob and self._same_fields:
            if row.updated_time != old.updated_time or self._hash != old.raw_hash:
                self._result.rows.append(SnapshotRow(row.id, self._stored_as(row, old.rev, blob)))
            return
        self._changed(row, old, values, blob)

    def _stored_as(self, row: Row, rev: int, blob: bytes) -> Stored:
        return Stored(row.updated_time, rev, blob, meta_of(row), raw_hash=self._hash)

    def _created(self, row: Row, old: Stored | None, values: list[Any], blob: bytes) -> None:
        ctx = self._ctx
        rev = old.rev + 1 if old is not None else (0 if ctx.baseline else 1)
        self._result.rows.append(SnapshotRow(row.id, self._stored_as(row, rev, blob)))
        if not ctx.baseline:
            state = dict(zip(ctx.watched, values, strict=True))
            self._emit(row.id, Change.CREATED, rev, blob, {}, state, row)
        elif ctx.report_existing and ctx.kind is Kind.AD:
            state = dict(zip(ctx.watched, values, strict=True))
            report = standing(state, row.updated_time, ctx.pending_before)
            if report is not None:
                self._emit(row.id, report, rev, blob, {}, state, row)

    def _changed(self, row: Row, old: Stored, values: list[Any], blob: bytes) -> None:
        ctx = self._ctx
        before = decode_state(ctx.stored_fields, old.blob)
        state = dict(zip(ctx.watched, values, strict=True))
        changes = {
            name: FieldChange(before[name], value)
            for name, value in state.items()
            if name in before and before[name] != value
        }
        if not changes:
            # Only the set of watched fields moved (a config change): re-baseline silently.
            self._result.rows.append(SnapshotRow(row.id, self._stored_as(row, old.rev, blob)))
            return
        rev = old.rev + 1
        self._result.rows.append(SnapshotRow(row.id, self._stored_as(row, rev, blob)))
        if not ctx.baseline:
            change = classify(ctx.kind, changes, state)
            self._emit(row.id, change, rev, blob, changes, state, row)

    def _emit(
        self,
        entity_id: str,
        change: Change,
        rev: int,
        blob: bytes,
        changes: dict[str, FieldChange],
        state: dict[str, Any],
        row: Row | None,
        meta: list[Any] | None = None,
    ) -> None:
        ctx = self._ctx
        if row is not None:
            ids = EntityIds(
                getattr(row, "campaign_id", None),
                getattr(row, "ad_group_id", None),
                getattr(row, "pin_id", None),
                getattr(row, "name", None),
                row.updated_time,
            )
        else:
            ids = EntityIds(*(meta or [None] * 4)[:4])
        self._result.events.append(
            entity_event(
                ctx.kind,
                entity_id,
                change,
                rev=rev,
                blob=blob,
                account_id=ctx.account_id,
                ids=ids,
                detected_at=ctx.detected_at,
                changes=changes,
                state=state,
            )
        )

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
        ctx, result = self._ctx, self._result
        result.complete = complete and not result.bad
        if result.complete:
            for entity_id, old in self._stored.items():
                if old.removed or (gone is not None and entity_id not in gone):
                    continue
                rev = old.rev + 1
                result.rows.append(
                    SnapshotRow(
                        entity_id, Stored(old.updated_time, rev, old.blob, old.meta, removed=True)
                    )
                )
                if not ctx.baseline:
                    meta = decode_meta(old.meta) if old.meta else None
                    self._emit(
                        entity_id,
                        Change.REMOVED,
                        rev,
                        old.blob,
                        {},
                        decode_state(ctx.stored_fields, old.blob),
                        None,
                        meta,
                    )
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
