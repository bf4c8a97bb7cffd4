"""Compare a fresh listing with the stored snapshot and derive typed events: pure, no I/O.

Pages are fed in as they arrive; :meth:`AccountDiff.finish` says whether the listing was
complete, which is the only case in which an entity missing from it counts as removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec
from xxhash import xxh3_64_intdigest

from monitor.classify import classify, standing
from monitor.events import Change, Event, FieldChange, event_id
from monitor.fingerprints import Fingerprints
from monitor.models import Kind, Row, SnapshotRow, Stored
from monitor.normal import decode_state, meta_of, normaliser

_encode = msgspec.msgpack.Encoder().encode
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


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
    """

    account_id: str
    kind: Kind
    watched: tuple[str, ...]
    stored_fields: tuple[str, ...]
    detected_at: float
    baseline: bool = False
    report_existing: bool = False
    pending_before: float | None = None


@dataclass(slots=True)
class DiffResult:
    """What a diff produced: events, rows to upsert, and whether removals were decided."""

    events: list[Event] = field(default_factory=list)
    rows: list[SnapshotRow] = field(default_factory=list)
    complete: bool = False
    seen: int = 0
    stale: int = 0


class AccountDiff:
    """Incremental diff of one account's listing against its stored snapshot.

    ``stored`` is consumed: entries are popped as they are seen, so that what remains at
    :meth:`finish` is exactly what the listing no longer contains.
    """

    def __init__(
        self,
        ctx: DiffContext,
        stored: dict[str, Stored],
        *,
        fingerprints: Fingerprints | None = None,
    ) -> None:
        self._ctx = ctx
        self._stored = stored
        # Hashes of the raw items the stored snapshot was built from. Only valid for that
        # snapshot: the caller adopts `self.fingerprints` only after committing this diff.
        self._prev_fp = fingerprints if fingerprints is not None else Fingerprints()
        self.fingerprints = Fingerprints()
        self._flags = bytearray(len(self._prev_fp))
        self._position = self._shift = self._matched = 0
        self._fast_ids: set[str] | None = None
        self._decode_row: Callable[[bytes], Row] | None = None
        self._fp_pending: dict[str, int] = {}
        self._new_at: dict[str, int] = {}
        self._seen: set[str] = set()
        self._norms = [(name, normaliser(name)) for name in ctx.watched]
        self._same_fields = ctx.watched == ctx.stored_fields
        getter = attrgetter(*ctx.watched)
        # attrgetter of one name returns the bare value, not a 1-tuple.
        self._values_of: Callable[[Row], Any] = (
            getter if len(ctx.watched) > 1 else (lambda row: (getter(row),))
        )
        self._result = DiffResult()

    def feed_raw(self, items: Iterable[msgspec.Raw], row: type[Row]) -> None:
        """Diff one page of raw JSON items, decoding only those whose bytes changed.

        An item byte-for-byte identical to the one the stored snapshot was built from
        cannot have changed, so it is neither decoded nor compared: one xxh3 hash checked
        against the same position of the last listing. Everything else takes :meth:`feed`.

        Raises:
            msgspec.ValidationError, msgspec.DecodeError: an item is garbage; the listing
                must then be treated as failed.
        """
        if self._decode_row is None:
            self._decode_row = msgspec.json.Decoder(row).decode
        decode = self._decode_row
        prev, new, flags, stored = self._prev_fp, self.fingerprints, self._flags, self._stored
        digests, ids, n = prev.digests, prev.ids, len(prev)
        usable = self._same_fields and n > 0
        for raw in items:
            digest = xxh3_64_intdigest(raw)
            if usable:
                j = self._position + self._shift
                if not (0 <= j < n and digests[j] == digest):
                    found = prev.position(digest)
                    if found is not None:
                        # Ads were added or removed before this one: follow the shift.
                        self._shift = found - self._position
                    j = found if found is not None else -1
                self._position += 1
                if j >= 0:
                    # Fingerprints are adopted only from committed snapshots, so a hit
                    # names an entity that is stored, live and in exactly this state.
                    if not flags[j]:
                        flags[j] = 1
                        entity_id = ids[j]
                        del stored[entity_id]
                        self._matched += 1
                        new.append(digest, entity_id)
                    continue
            parsed = decode(raw)
            self._fp_pending[parsed.id] = digest
            self._new_at[parsed.id] = len(new)
            new.append(0, parsed.id)
            self.feed((parsed,))
        self._result.seen = len(self._seen) + self._matched

    def _fast_seen(self) -> set[str]:
        # Ids matched by hash: only needed to tell a duplicate from a new entity.
        if self._fast_ids is None:
            ids, flags = self._prev_fp.ids, self._flags
            self._fast_ids = {ids[j] for j in range(len(ids)) if flags[j]}
        return self._fast_ids

    def feed(self, rows: Iterable[Row]) -> None:
        """Diff one page of rows; duplicates of an id already seen are ignored."""
        stored, seen, result = self._stored, self._seen, self._result
        values_of, fast = self._values_of, self._same_fields
        for row in rows:
            entity_id = row.id
            if entity_id in seen:
                continue
            seen.add(entity_id)
            old = stored.pop(entity_id, None)
            if old is None and self._matched and entity_id in self._fast_seen():
                continue  # a second copy of an ad already matched by its hash
            # Fast path, taken by ~99 % of ads: the raw values already are in normal form
            # (the API's usual [] and false are the canonical empties) and encode to the
            # stored bytes. One C-level getter and one encode, no per-field Python calls.
            if fast and old is not None and not old.removed and _encode(values_of(row)) == old.blob:
                t = row.updated_time
                if t is None or old.updated_time is None or t >= old.updated_time:
                    self._adopt(entity_id)
                    if t is not None and t != old.updated_time:
                        result.rows.append(
                            SnapshotRow(entity_id, Stored(t, old.rev, old.blob, meta_of(row)))
                        )
                continue
            if self._slow(row, old):
                self._adopt(entity_id)
        result.seen = len(seen)

    def _adopt(self, entity_id: str) -> None:
        # This item's bytes now describe the stored state: next cycle may skip them.
        digest = self._fp_pending.pop(entity_id, None)
        if digest is not None:
            self.fingerprints.digests[self._new_at.pop(entity_id)] = digest

    def _slow(self, row: Row, old: Stored | None) -> bool:
        """Normalise and compare one row; False when it was stale and left unrecorded."""
        values = [norm(getattr(row, name)) for name, norm in self._norms]
        blob = _encode(values)
        if old is None or old.removed:
            self._created(row, old, values, blob)
            return True
        if (
            row.updated_time is not None
            and old.updated_time is not None
            and row.updated_time < old.updated_time
        ):
            # A stale replica: never let an older version overwrite a newer one.
            self._result.stale += 1
            return False
        if blob == old.blob and self._same_fields:
            if row.updated_time is not None and row.updated_time != old.updated_time:
                self._result.rows.append(
                    SnapshotRow(row.id, Stored(row.updated_time, old.rev, blob, meta_of(row)))
                )
            return True
        self._changed(row, old, values, blob)
        return True

    def _created(self, row: Row, old: Stored | None, values: list[Any], blob: bytes) -> None:
        ctx = self._ctx
        rev = old.rev + 1 if old is not None else (0 if ctx.baseline else 1)
        self._result.rows.append(
            SnapshotRow(row.id, Stored(row.updated_time, rev, blob, meta_of(row)))
        )
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
            self._result.rows.append(
                SnapshotRow(row.id, Stored(row.updated_time, old.rev, blob, meta_of(row)))
            )
            return
        rev = old.rev + 1
        self._result.rows.append(
            SnapshotRow(row.id, Stored(row.updated_time, rev, blob, meta_of(row)))
        )
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
            campaign_id = getattr(row, "campaign_id", None)
            ad_group_id = getattr(row, "ad_group_id", None)
            pin_id = getattr(row, "pin_id", None)
            name = getattr(row, "name", None)
            updated_time = row.updated_time
        else:
            campaign_id, ad_group_id, pin_id, name = (meta or [None] * 4)[:4]
            updated_time = None
        kind = ctx.kind
        if kind is Kind.CAMPAIGN:
            campaign_id = entity_id
        elif kind is Kind.AD_GROUP:
            ad_group_id = entity_id
        self._result.events.append(
            Event(
                id=event_id(
                    kind.value, entity_id, rev, blob if change is not Change.REMOVED else b"-"
                ),
                type=f"{kind.value}.{change.value}",
                entity=kind.value,
                entity_id=entity_id,
                ad_account_id=ctx.account_id,
                campaign_id=campaign_id,
                ad_group_id=ad_group_id,
                ad_id=entity_id if kind is Kind.AD else None,
                pin_id=pin_id,
                name=name,
                updated_time=updated_time,
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

    def finish(self, *, complete: bool) -> DiffResult:
        """Close the diff.

        Args:
            complete: The listing's bookmark chain ended normally. Only then do entities
                missing from it become ``removed``; otherwise nothing is inferred from absence.
        """
        ctx, result = self._ctx, self._result
        result.complete = complete
        if complete:
            for entity_id, old in self._stored.items():
                if old.removed:
                    continue
                rev = old.rev + 1
                result.rows.append(
                    SnapshotRow(
                        entity_id, Stored(old.updated_time, rev, old.blob, old.meta, removed=True)
                    )
                )
                if not ctx.baseline:
                    meta = _decode_list(old.meta) if old.meta else None
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
