"""Compare one entity as listed with its stored state; derive its rows and events. Pure.

:class:`~monitor.differ.AccountDiff` feeds a listing (pages, order, what is missing); this
module decides, for one item, what changed and what it is called: normal form, the
version guard on believable stamps, null meaning "unknown this cycle", the baseline's
silence and the start-up report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec

from monitor.classify import EntityIds, classify, entity_event, standing
from monitor.events import Change, Event, FieldChange
from monitor.evidence import BadItem, trusted_stamp
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


class EntityComparer:
    """Compares items of one account's listing with their stored states, appending the
    rows to write and the events to report to one :class:`DiffResult`.

    Attributes:
        hash: The raw hash of the item being compared (0: unknown); the caller sets it.
    """

    def __init__(self, ctx: DiffContext, result: DiffResult) -> None:
        self._ctx = ctx
        self._result = result
        self.hash = 0
        self._norms = [(name, normaliser(name)) for name in ctx.watched]
        #: The stored blobs were encoded with the watched fields of now: comparable as bytes.
        self.same_fields = ctx.watched == ctx.stored_fields
        getter = attrgetter(*ctx.watched)
        # attrgetter of one name returns the bare value, not a 1-tuple.
        self._values_of: Callable[[Row], Any] = (
            getter if len(ctx.watched) > 1 else (lambda row: (getter(row),))
        )

    def compare(self, row: Row, old: Stored | None) -> None:
        """Diff one decoded item against its stored state (None: never seen), whose raw
        bytes hashed to :attr:`hash`."""
        entity_id = row.id
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
            self.same_fields
            and old is not None
            and not old.removed
            and _encode(self._values_of(row)) == old.blob
        ):
            newer = t is None or old.updated_time is None or t >= old.updated_time
            if newer and (t != old.updated_time or self.hash != old.raw_hash):
                # Unwatched fields moved: keep the new hash so next cycle skips it.
                self._result.rows.append(
                    SnapshotRow(
                        entity_id,
                        Stored(t, old.rev, old.blob, meta_of(row), raw_hash=self.hash),
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
        if blob == old.blob and self.same_fields:
            if row.updated_time != old.updated_time or self.hash != old.raw_hash:
                self._result.rows.append(SnapshotRow(row.id, self._stored_as(row, old.rev, blob)))
            return
        self._changed(row, old, values, blob)

    def _stored_as(self, row: Row, rev: int, blob: bytes) -> Stored:
        return Stored(row.updated_time, rev, blob, meta_of(row), raw_hash=self.hash)

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

    def remove(self, entity_id: str, old: Stored) -> None:
        """A tombstone for an entity confirmed gone, and its ``removed`` event."""
        ctx, rev = self._ctx, old.rev + 1
        self._result.rows.append(
            SnapshotRow(entity_id, Stored(old.updated_time, rev, old.blob, old.meta, removed=True))
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
