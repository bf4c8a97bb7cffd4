"""The state store: one implementation of the contract, over either backend's connections.

Every method runs one synchronous function of a concept module (``snapshots``,
``outbox``, ``accounts``, ``settings``, ``alerting``) in a worker thread, on a connection
the backend lends (:meth:`Store._connection`): SQLite has one, PostgreSQL a pool. A
capacity limiter the size of that supply queues calls without parking a thread per
waiting task. Calls are not abandoned on cancellation: a cancelled task waits for its
transaction to commit or roll back, never half-way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import ClassVar, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from monitor.errors import StoreError
from monitor.events import Event
from monitor.hashindex import HashIndex
from monitor.models import Kind, SnapshotRow, Stored, StoredRow
from monitor.mutes import Mute, Scope
from monitor.store import (
    accounts,
    alerting,
    board,
    outbox,
    reviews,
    settings,
    snapshots,
    spend,
    threads,
)
from monitor.store._db import Db, call
from monitor.store.records import (
    LISTED,
    AccountState,
    AdReview,
    AdSpend,
    Credentials,
    Delivery,
    Reminder,
    Settlement,
    SlackThread,
    Snapshot,
    SnapshotInfo,
    StateGroups,
    StateLoss,
)

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
Pairs = Sequence[tuple[str, str, str]]


class Store(ABC):
    """What the daemon needs from persistent state. Every method is safe to call concurrently.

    Raises (every method): StoreError when the database fails or the store is closed.
    """

    #: The driver's errors, turned into :class:`StoreError`.
    errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, where: str, *, connections: int) -> None:
        self._where = where
        self._limiter = anyio.CapacityLimiter(connections)

    @abstractmethod
    def _connection(self, op: str) -> AbstractContextManager[Db]:
        """Lend a connection for one call (StoreError when closed)."""

    @abstractmethod
    async def verify(self) -> StateLoss | None:
        """Whether the state is still the one opened; recover it when it is not."""

    @abstractmethod
    async def close(self) -> None:
        """Flush and close; later calls fail, closing again does nothing."""

    # -- snapshots ---------------------------------------------------------------------

    async def load_snapshot(self, account_id: str, kind: Kind) -> Snapshot:
        """The stored snapshot of one account and kind (a fresh dict the caller may consume),
        without ``meta`` (see :meth:`entity_meta`)."""
        return await self._run("load_snapshot", snapshots.load_snapshot, account_id, kind)

    async def snapshot_info(
        self, account_id: str, kind: Kind, *, count_upto: int | None = None
    ) -> SnapshotInfo:
        """The snapshot's fields, version, size and id lengths, without its entities.

        ``count_upto``: count the entities only up to this many (what a caller that
        only compares the size with a threshold needs: a few index entries, not all).
        """
        args = (account_id, kind, count_upto)
        return await self._run("snapshot_info", snapshots.snapshot_info, *args)

    async def load_range(
        self,
        account_id: str,
        kind: Kind,
        *,
        after: str | None,
        upto: str | None,
        limit: int | None = None,
        lengths: tuple[int, int] | None = None,
    ) -> list[tuple[str, Stored]]:
        """Stored entities (tombstones included, without meta) with ids in ``(after, upto]``
        compared as numbers (None: unbounded), in that order, at most ``limit``.

        ``lengths`` (from :meth:`snapshot_info`) bounds the id lengths searched: each
        length is one index seek. How a cycle reads the snapshot page by page, alongside
        a listing in ascending id order, so that its memory does not grow with the account.
        """
        args = (account_id, kind, after, upto, limit, lengths)
        return await self._run("load_range", snapshots.load_range, *args)

    async def load_range_rows(
        self,
        account_id: str,
        kind: Kind,
        *,
        after: str | None,
        upto: str | None,
        limit: int | None = None,
        lengths: tuple[int, int] | None = None,
    ) -> list[StoredRow]:
        """:meth:`load_range` as plain row tuples (:data:`~monitor.models.StoredRow`): the
        cycle's hot path, which compares hashes and builds a :class:`Stored` only for the
        few entities whose bytes changed."""
        args = (account_id, kind, after, upto, limit, lengths)
        return await self._run("load_range", snapshots.load_range_rows, *args)

    async def entity_meta(
        self, account_id: str, kind: Kind, entity_ids: Sequence[str]
    ) -> dict[str, bytes]:
        """The stored ``meta`` of these entities (msgpack ``[campaign_id, ad_group_id,
        pin_id, name]``), which :meth:`load_snapshot` leaves out to save memory."""
        return await self._run("entity_meta", snapshots.entity_meta, account_id, kind, entity_ids)

    async def state_groups(self, account_id: str, kind: Kind) -> StateGroups:
        """The live entities of one account and kind counted by stored state (blob), in
        the database: what `pinmon status` counts, without reading every row."""
        return await self._run("state_groups", snapshots.state_groups, account_id, kind)

    async def entities_in_states(
        self, account_id: str, kind: Kind, blobs: Sequence[bytes]
    ) -> list[tuple[str, bytes, bytes]]:
        """``(entity_id, blob, meta)`` of the live entities stored in one of these states."""
        args = (account_id, kind, blobs)
        return await self._run("entities_in_states", snapshots.entities_in_states, *args)

    async def write_rows(self, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]) -> None:
        """Upsert rows of a *baseline* before its commit, to bound its memory.

        Only for a baseline (no snapshot marker yet): it reports nothing, so rows written
        by a baseline that then fails are harmless; the next cycle is a baseline again.
        """
        await self._run("write_rows", snapshots.write_rows, account_id, kind, rows)

    async def commit_cycle(
        self,
        account_id: str,
        kind: Kind,
        *,
        fields: tuple[str, ...],
        rows: Sequence[SnapshotRow],
        events: Sequence[Event],
        deliveries: Pairs,
        at: float,
        mark: bool = True,
        index: HashIndex | None = None,
        refresh_index: bool = False,
    ) -> int:
        """Atomically write a completed listing's outcome; returns how many events were new.

        In one transaction: upsert ``rows``, record ``fields`` as the snapshot's field set
        (which also marks the baseline as taken), insert ``events`` into the history
        (ignoring ids already present), and insert one pending outbox row per
        ``(event_id, route, target)`` in ``deliveries`` (ignoring pairs already present).
        A failure (e.g. a pair naming an unknown event) writes nothing. ``mark=False``
        (the fast lane's lookups by id) writes neither the field set nor the time: a lookup
        of some entities is not a snapshot.

        ``index``: the kind's hash index the cycle started from (:meth:`load_hash_index`,
        or collected from the rows it read), stamped with the version it read: in the
        same transaction it is updated with ``rows`` and stored, when no other write of
        the kind came in between. ``refresh_index``: the same with the index as stored
        (a write of some entities that read none: the fast lane's lookups).
        """
        args = (account_id, kind, fields, rows, events, deliveries, at, mark, index,
                refresh_index)  # fmt: skip
        return await self._run("commit_cycle", snapshots.commit_cycle, *args)

    async def load_hash_index(self, account_id: str, kind: Kind) -> HashIndex | None:
        """The kind's hash index (every live entity's id and raw hash, packed), if it
        describes the stored entities as they are; None when there is none or it is stale."""
        return await self._run("load_hash_index", snapshots.load_hash_index, account_id, kind)

    async def save_hash_index(self, account_id: str, kind: Kind, index: HashIndex) -> bool:
        """Store an index collected by a cycle that had nothing to commit, unless the
        kind's entities were written since the version it is stamped with."""
        args = (account_id, kind, index)
        return await self._run("save_hash_index", snapshots.save_hash_index, *args)

    async def load_entities(
        self, account_id: str, kind: Kind, entity_ids: Sequence[str]
    ) -> dict[str, Stored]:
        """The stored state (without meta) of these entities, those that are stored."""
        args = (account_id, kind, entity_ids)
        return await self._run("load_entities", snapshots.load_entities, *args)

    # -- the outbox and the history ------------------------------------------------------

    async def record_events(self, events: Sequence[Event], *, deliveries: Pairs, at: float) -> int:
        """Insert events not tied to a snapshot (``monitor.*``) with their outbox rows,
        atomically, ignoring ids already present; returns how many were new."""
        return await self._run("record_events", outbox.record_events, events, deliveries, at)

    async def due_deliveries(
        self,
        now: float,
        *,
        limit: int = 100,
        target: str | None = None,
        probe: bool = False,
    ) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first; of one target if
        given. Rows a replica holds a live claim on are left out. ``probe``: pending
        ones whatever their next attempt, in the order they were queued (a probe of a
        down target takes the oldest)."""
        args = (now, limit, target, probe)
        return await self._run("due_deliveries", outbox.due_deliveries, *args)

    async def expedite(self, target: str, now: float) -> int:
        """Every pending delivery of ``target`` becomes due at ``now``, to go in the order
        it was queued (the target answered again after an outage); returns the count."""
        return await self._run("expedite", outbox.expedite, target, now)

    async def outbox_depth(self) -> tuple[int, float | None]:
        """Pending deliveries, and when the oldest of them was queued (for metrics)."""
        return await self._run("outbox_depth", outbox.oldest_pending)

    async def mark_delivered(self, delivery_id: int, *, at: float) -> None:
        """A delivery succeeded (StoreError if no delivery has this id)."""
        await self._settle(delivery_id, "delivered", at, None, None)

    async def mark_failed(
        self, delivery_id: int, *, error: str, at: float, retry_at: float | None
    ) -> None:
        """A delivery attempt failed: retry at ``retry_at``, or give up (``dead``) when None."""
        status = "dead" if retry_at is None else "pending"
        await self._settle(delivery_id, status, at, error, retry_at)

    async def mark_rejected(self, delivery_id: int, *, error: str, at: float) -> None:
        """The target refused the delivery for good (e.g. HTTP 400): ``failed``, no retry."""
        await self._settle(delivery_id, "failed", at, error, None)

    async def settle_many(self, outcomes: Sequence[Settlement]) -> int:
        """Record many delivery attempts' outcomes in one transaction, releasing any
        replica's claims; all of them or, on failure, none.

        Each outcome means what :meth:`mark_delivered`, :meth:`mark_failed` or
        :meth:`mark_rejected` would, but a row that no longer names the outcome's event
        and target is left alone rather than raising: the caller may hold outcomes for a
        moment, and a state that was started over in between may have reused the id.

        Returns:
            How many rows were settled.
        """
        if not outcomes:
            return 0
        return await self._run("settle_many", outbox.settle_many, outcomes)

    async def deliveries(
        self, *, statuses: Sequence[str], limit: int = LISTED, event_id: str | None = None
    ) -> list[Delivery]:
        """Deliveries in the given statuses, newest first (ValueError for an unknown one);
        only those of ``event_id`` when given."""
        return await self._run("deliveries", outbox.deliveries, statuses, limit, event_id)

    async def count_deliveries(self, *, statuses: Sequence[str], limit: int) -> dict[str, int]:
        """How many deliveries are in each status, each counted up to ``limit``, without
        reading them (ValueError for an unknown status)."""
        return await self._run("count_deliveries", outbox.count_by_status, statuses, limit)

    async def first_pending(self) -> Delivery | None:
        """The pending delivery queued first, if any (ties: the lower id)."""
        return await self._run("first_pending", outbox.first_pending)

    async def shift_pending(self, delta_s: float) -> int:
        """Move the times of every pending delivery by ``delta_s``, in one statement: the
        wall clock stepped while the daemon ran, and retries and group intervals keep their
        distance from now. Returns how many moved."""
        return await self._run("shift_pending", outbox.shift_pending, delta_s)

    async def clamp_pending(self, now: float, max_wait_s: float) -> int:
        """Pending deliveries due after ``now + max_wait_s`` become due then, and any queued
        after ``now`` count as queued now: at start, a clock that was ahead when they were
        scheduled must not stall them. Returns how many changed."""
        return await self._run("clamp_pending", outbox.clamp_pending, now, max_wait_s)

    async def requeue(self, *, event_id: str | None = None, failed: bool = False) -> int:
        """Queue deliveries again, due at once and unclaimed; returns the count.

        ``event_id`` selects every delivery of that event whatever its status (a resend);
        ``failed=True`` every ``failed`` and ``dead`` one; both, those of that event.
        Attempt counts are kept. ValueError when neither is given.
        """
        return await self._run("requeue", outbox.requeue, event_id, failed)

    async def events(
        self,
        *,
        since: float | None = None,
        types: Sequence[str] = (),
        limit: int = LISTED,
        entity_id: str | None = None,
        event_id: str | None = None,
    ) -> list[Event]:
        """Event history, newest first; ``since`` is inclusive, ``types`` are fnmatch globs;
        only one entity's (``entity_id``: an ad's timeline) or one event when given."""
        args = (since, types, limit, entity_id, event_id)
        return await self._run("events", outbox.events, *args)

    async def prune_events(self, *, before: float) -> int:
        """Drop history older than ``before`` whose deliveries are all settled, with those
        deliveries; an event with a pending delivery stays. Returns the count."""
        return await self._run("prune_events", outbox.prune_events, before)

    # -- the web board's reads -------------------------------------------------------------

    async def latest_of(
        self, entity_ids: Sequence[str], *, types: Sequence[str]
    ) -> dict[str, float]:
        """The newest time an event of one of ``types`` (exact names) was detected, per
        entity that has one: when an ad was last rejected, or entered review."""
        if not entity_ids:
            return {}
        return await self._run("latest_of", board.latest_of, entity_ids, types)

    async def newest_events(self, entity_ids: Sequence[str]) -> dict[str, Event]:
        """The newest event of each of these entities that has one."""
        if not entity_ids:
            return {}
        return await self._run("newest_events", board.newest_events, entity_ids)

    async def filtered_deliveries(
        self,
        *,
        statuses: Sequence[str],
        target: str | None = None,
        route: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Delivery], int]:
        """One page of deliveries in these statuses, newest first, of one target and one
        route when given; and how many match in all (ValueError for an unknown status)."""
        args = (statuses, target, route, limit, offset)
        return await self._run("filtered_deliveries", board.filtered_deliveries, *args)

    async def delivery_facets(self, *, statuses: Sequence[str]) -> list[tuple[str, str]]:
        """The distinct ``(target, route)`` of the deliveries in these statuses."""
        return await self._run("delivery_facets", board.delivery_facets, statuses)

    async def per_day(
        self, *, types: Sequence[str], since: float, until: float
    ) -> list[tuple[int, str, int]]:
        """``(day, type, count)`` of events of these types (exact names) from ``since`` to
        ``until``; ``day`` counts whole UTC days since the epoch."""
        return await self._run("per_day", board.per_day, types, since, until)

    async def review_spans(
        self, *, decisions: Sequence[str], entries: Sequence[str], since: float, limit: int
    ) -> list[float]:
        """For the newest ``limit`` events of each type of ``decisions`` since ``since``: the
        seconds since that entity's latest event of type ``entries`` before it (those
        that have one)."""
        args = (decisions, entries, since, limit)
        return await self._run("review_spans", board.review_spans, *args)

    async def state_version(self) -> tuple[object, ...]:
        """A value that changes whenever a commit records an event or takes a snapshot
        (what the board's views of the history are read from), read off two indexes."""
        return await self._run("state_version", board.state_version)

    # -- accounts ------------------------------------------------------------------------

    async def record_poll(
        self, account_id: str, *, name: str | None, ok: bool, at: float, error: str | None = None
    ) -> AccountState:
        """Record an account's cycle outcome; returns the updated bookkeeping.

        A success resets the failure count and error; a failure counts up and keeps the
        last success time. ``name=None`` keeps the name already known.
        """
        args = (account_id, name, ok, at, error)
        return await self._run("record_poll", accounts.record_poll, *args)

    async def record_successes(self, polls: Sequence[tuple[str, str | None]], *, at: float) -> None:
        """Record several accounts' successful cycles (``(account_id, name)``) at once."""
        if polls:
            await self._run("record_successes", accounts.record_successes, polls, at)

    async def accounts(self) -> list[AccountState]:
        """Every account the store has bookkeeping for, by account id."""
        return await self._run("accounts", accounts.accounts)

    # -- settings: key/values, credentials, targets --------------------------------------

    async def get_value(self, key: str) -> str | None:
        """A setting of the store (its instance id, the removal holds), or None."""
        return await self._run("get_value", settings.get_value, key)

    async def set_values(self, values: Mapping[str, str]) -> None:
        """Write several settings in one transaction."""
        await self._run("set_values", settings.set_values, values)

    async def get_prefix(self, prefix: str) -> dict[str, str]:
        """Every setting whose key starts with ``prefix`` (taken literally)."""
        return await self._run("get_prefix", settings.get_prefix, prefix)

    async def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete these settings in one transaction; returns how many existed."""
        return await self._run("delete_keys", settings.delete_keys, keys)

    async def clear_prefix(self, prefix: str) -> int:
        """Delete the settings whose key starts with ``prefix``; returns how many."""
        return await self._run("clear_prefix", settings.clear_prefix, prefix)

    async def credentials(self) -> Credentials | None:
        """The persisted OAuth token state, if any."""
        return await self._run("credentials", settings.credentials)

    async def save_credentials(self, state: Credentials) -> None:
        """Persist a rotated OAuth token state (all of it, or nothing)."""
        await self._run("save_credentials", settings.save_credentials, state)

    async def save_labels(self, labels: Mapping[str, str]) -> None:
        """Record each target's masked label by outbox key (one transaction)."""
        if labels:
            await self._run("save_labels", settings.save_labels, labels)

    async def labels(self) -> dict[str, str]:
        """Every recorded target label, by outbox key."""
        return await self._run("labels", settings.labels)

    async def disable_target(self, key: str, reason: str, at: float) -> None:
        """Stop delivering to a target (it answered 410 Gone) until :meth:`enable_targets`."""
        await self._run("disable_target", settings.disable_target, key, reason, at)

    async def disabled_targets(self) -> dict[str, str]:
        """The disabled targets' reasons, by outbox key."""
        return await self._run("disabled_targets", settings.disabled_targets)

    async def enable_targets(self) -> int:
        """Enable every disabled target again; returns how many were disabled."""
        return await self._run("enable_targets", settings.enable_targets)

    # -- the review clock -------------------------------------------------------------

    async def ad_reviews(self, account_id: str, ad_ids: Sequence[str]) -> dict[str, AdReview]:
        """The review clock's rows of these ads, those there are."""
        return await self._run("ad_reviews", reviews.ad_reviews, account_id, ad_ids)

    async def account_reviewed(self, account_id: str) -> bool:
        """Whether the review clock has any row for this account."""
        return await self._run("account_reviewed", reviews.account_reviewed, account_id)

    async def save_ad_reviews(self, rows: Sequence[AdReview]) -> None:
        """Write review clock rows whole (by account and ad), in one transaction."""
        if rows:
            await self._run("save_ad_reviews", reviews.save_ad_reviews, rows)

    async def stuck_reviews(self, before: float, *, limit: int = 500) -> list[AdReview]:
        """Ads in review since before ``before`` and not yet reported stuck, oldest first."""
        return await self._run("stuck_reviews", reviews.stuck_reviews, before, limit)

    async def open_reviews(self) -> list[AdReview]:
        """Review clock rows of ads in review, or rejected with no approval since."""
        return await self._run("open_reviews", reviews.open_reviews)

    async def landing_down(self) -> dict[str, float]:
        """The landing pages found down (monitor.landing), with since when."""
        return await self._run("landing_down", reviews.landing_down)

    async def set_landing(
        self, down: Sequence[tuple[str, float, int | None, str | None]], up: Sequence[str]
    ) -> None:
        """Record pages found down (url, since, status, error; a known one keeps its
        since) and forget those up again, in one transaction."""
        if down or up:
            await self._run("set_landing", reviews.set_landing, down, up)

    async def ad_spend(self, account_id: str, ad_ids: Sequence[str]) -> dict[str, AdSpend]:
        """The last spend figures stored for these ads of one account (monitor.analytics)."""
        if not ad_ids:
            return {}
        return await self._run("ad_spend", spend.ad_spend, account_id, ad_ids)

    async def save_ad_spend(self, rows: Sequence[AdSpend]) -> None:
        """Store ads' spend figures whole (by account and ad), in one transaction."""
        if rows:
            await self._run("save_ad_spend", spend.save_ad_spend, rows)

    # -- Slack threads ------------------------------------------------------------------

    async def slack_thread(self, target: str, account_id: str, ad_id: str) -> SlackThread | None:
        """The ad's latest Slack thread on a slack-bot target, open or resolved."""
        return await self._run("slack_thread", threads.slack_thread, target, account_id, ad_id)

    async def save_slack_thread(self, thread: SlackThread) -> None:
        """Write an ad's Slack thread (by target, account and ad) whole."""
        await self._run("save_slack_thread", threads.save_slack_thread, thread)

    # -- alerting: mutes and reminders ---------------------------------------------------

    async def mutes(self, *, now: float | None = None) -> list[Mute]:
        """The mutes in force at ``now`` (all stored when None), soonest to end first."""
        return await self._run("mutes", alerting.mutes, now)

    async def set_mute(self, mute: Mute) -> None:
        """Add a mute, or replace the one on the same scope and id."""
        await self._run("set_mute", alerting.set_mute, mute)

    async def delete_mute(self, scope: Scope, entity_id: str) -> bool:
        """Lift a mute; whether there was one."""
        return await self._run("delete_mute", alerting.delete_mute, scope, entity_id)

    async def reminders(self) -> list[Reminder]:
        """Every reminder, by route, account and ad."""
        return await self._run("reminders", alerting.reminders)

    async def save_reminders(self, entries: Sequence[Reminder]) -> None:
        """Start or update reminders (by route, account and ad), in one transaction."""
        if entries:
            await self._run("save_reminders", alerting.save_reminders, entries)

    async def delete_reminders(self, keys: Sequence[tuple[str, str, str]]) -> None:
        """End the reminders of these ``(route, account_id, ad_id)``."""
        if keys:
            await self._run("delete_reminders", alerting.delete_reminders, keys)

    # -- running a call ------------------------------------------------------------------

    async def run(self, op: str, func: Callable[[Db, *_Ts], _T], *args: *_Ts) -> _T:
        """``func(db, *args)``, a synchronous function of a connection, in a worker thread.

        For readers composed of several concept functions (`pinmon status`'s report), so
        that the read-only commands' synchronous path (``store/direct.py``) runs the very
        same function; ``op`` names it in errors.
        """
        return await self._run(op, func, *args)

    async def _settle(
        self, delivery_id: int, status: str, at: float, error: str | None, retry: float | None
    ) -> None:
        await self._run(f"mark_{status}", outbox.settle, delivery_id, status, at, error, retry)

    async def _run(self, op: str, func: Callable[[Db, *_Ts], _T], *args: *_Ts) -> _T:
        return await anyio.to_thread.run_sync(self._call, op, func, args, limiter=self._limiter)

    def _call(self, op: str, func: Callable[[Db, *_Ts], _T], args: tuple[*_Ts]) -> _T:
        return call(self._connection, op, func, args, where=self._where, errors=self.errors)

    def _closed(self, op: str) -> StoreError:
        return StoreError(f"{self._where}: {op} on a closed store")
