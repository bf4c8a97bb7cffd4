"""The values the state store takes and returns: frozen dataclasses, one per stored concept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from monitor.events import Event
from monitor.models import Stored
from monitor.mutes import Mute as Mute  # stored here, defined with its logic

#: Rows a listing (`pinmon deliveries`, `pinmon events`) returns unless told otherwise.
LISTED: Final = 1000

#: Every delivery status; ``failed`` is a permanent refusal, ``dead`` means retries ran out.
STATUSES: Final = ("pending", "delivered", "failed", "dead")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An account's stored snapshot of one entity kind.

    Attributes:
        entities: Entity id to its stored state (tombstones included, flagged ``removed``).
        fields: The watched fields the blobs were encoded with; ``None`` when this account
            and kind have never completed a cycle (the next one is a silent baseline).
    """

    entities: dict[str, Stored]
    fields: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a cycle needs to know of a snapshot before reading it.

    Attributes:
        fields: The watched fields it was encoded with; None before the first baseline.
        taken_at: The ``at`` of the commit that wrote it (a version).
        count: Entities stored, tombstones included (at most the ``count_upto`` asked).
        lengths: The shortest and longest id stored (ids order as numbers), if any.
        version: Bumped by every write of the kind's entities (None before a baseline):
            what stamps its hash index (:mod:`monitor.hashindex`).
    """

    fields: tuple[str, ...] | None
    taken_at: float | None = None
    count: int = 0
    lengths: tuple[int, int] | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class StateGroups:
    """A snapshot's live entities counted by stored state, without reading them.

    Attributes:
        fields: The watched fields the states are encoded with; None before a baseline.
        groups: ``(blob, count)`` of each distinct stored state (few: the watched fields
            are statuses and reason lists, so many entities share one).
    """

    fields: tuple[str, ...] | None
    groups: list[tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (event, target) pair in the outbox."""

    id: int
    event: Event
    route: str
    target: str
    attempts: int
    status: str  # pending | delivered | failed | dead
    next_attempt_at: float
    last_error: str | None
    created_at: float


class Settlement(NamedTuple):
    """One delivery attempt's outcome, to record with :meth:`Store.settle_many`.

    Attributes:
        delivery_id: The outbox row.
        event_id: Its event, and ``target`` its target: the row is settled only if it
            still names them (a state started over may have given the id to another row).
        status: ``delivered``; ``pending`` to retry at ``retry_at``; ``dead`` (out of
            retries) or ``failed`` (refused for good).
        at: When the attempt ended.
        error: Why it failed; None for a delivery.
        retry_at: When to try again (``pending`` only).
        attempted: 1 when this counts as an attempt (the retry schedule and the death
            of a delivery go by them); 0 for a probe of a down target that the
            delivery's own schedule had not asked for yet.
    """

    delivery_id: int
    event_id: str
    target: str
    status: str
    at: float
    error: str | None = None
    retry_at: float | None = None
    attempted: int = 1

    @classmethod
    def delivered(cls, d: Delivery, at: float) -> Settlement:
        """``d`` was accepted by its target."""
        return cls(d.id, d.event.id, d.target, "delivered", at)

    @classmethod
    def failed(cls, d: Delivery, at: float, error: str, retry_at: float | None) -> Settlement:
        """An attempt of ``d`` failed: retry at ``retry_at``, or give up (``dead``) when None."""
        status = "dead" if retry_at is None else "pending"
        return cls(d.id, d.event.id, d.target, status, at, error, retry_at)

    @classmethod
    def probed(cls, d: Delivery, at: float, error: str) -> Settlement:
        """``d`` probed a down target ahead of its retry slot and failed: the error is
        kept, its schedule and attempts are not touched."""
        return cls(d.id, d.event.id, d.target, "pending", at, error, None, 0)

    @classmethod
    def rejected(cls, d: Delivery, at: float, error: str) -> Settlement:
        """The target refused ``d`` for good: ``failed``, no retry."""
        return cls(d.id, d.event.id, d.target, "failed", at, error)


@dataclass(frozen=True, slots=True)
class AdReview:
    """One ad's review history, as the review clock keeps it (see monitor.review_clock).

    Attributes:
        pending_since: Since when the ad is in review; None when it is not.
        stuck_at: When this stretch in review was reported stuck (once per stretch).
        rejected_at: When it was last seen rejected.
        approved_at: When it was last seen approved.
    """

    account_id: str
    ad_id: str
    pending_since: float | None = None
    stuck_at: float | None = None
    rejected_at: float | None = None
    approved_at: float | None = None


@dataclass(frozen=True, slots=True)
class AdSpend:
    """One ad's last spend figures (see monitor.analytics): sums over ``start_date`` to
    ``end_date`` (UTC, inclusive), fetched at ``as_of``.

    Attributes:
        spend_micro: Spend in micro-units of ``currency``.
        currency: The ad account's currency (ISO 4217), None when it was not known.
    """

    account_id: str
    ad_id: str
    spend_micro: int
    impressions: int
    clicks: int
    currency: str | None
    start_date: str
    end_date: str
    as_of: float

    @property
    def spend(self) -> float:
        """The spend in units of ``currency`` (micro-units / 1,000,000)."""
        return self.spend_micro / 1_000_000


@dataclass(frozen=True, slots=True)
class SlackThread:
    """One ad's Slack thread on one slack-bot target (see monitor.notify.slack).

    Attributes:
        target: The target's outbox key.
        channel: The channel id Slack answered with (``chat.update`` needs the id).
        ts: The root message's ``ts``: its id, and the ``thread_ts`` of every reply.
        resolved: Whether the approval that ended it has edited the root.
        opened_at: When the root was posted.
        updated_at: When the thread was last written to.
        last_event_id: The last event posted to it, so that a delivery resent after a
            crash (Slack had it, the outbox did not know yet) is not posted twice.
    """

    target: str
    account_id: str
    ad_id: str
    channel: str
    ts: str
    resolved: bool
    opened_at: float
    updated_at: float
    last_event_id: str


@dataclass(frozen=True, slots=True)
class AccountState:
    """Bookkeeping per account for `pinmon status` and health."""

    account_id: str
    name: str | None
    last_success_at: float | None
    last_attempt_at: float | None
    last_error: str | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class Reminder:
    """A rejection that a route repeats until the ad is no longer rejected.

    Attributes:
        route: The route that asked for reminders (``repeat_after``).
        account_id: The ad's account.
        ad_id: The rejected ad.
        event: The rejection event the reminders repeat.
        next_at: When the next reminder is due.
        count: Reminders sent so far.
    """

    route: str
    account_id: str
    ad_id: str
    event: Event
    next_at: float
    count: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        """``(route, account_id, ad_id)``: what identifies it (see ``Store.delete_reminders``)."""
        return (self.route, self.account_id, self.ad_id)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The OAuth token state in force, persisted at every rotation.

    Attributes:
        origin: A fingerprint of the configured refresh token these descend from: a
            state is used only while the config still names that token.
        access_token: The access token, if one was obtained.
        access_expires_at: Its expiry (Unix seconds), when known.
        refresh_token: The refresh token to use next (Pinterest rotates it).
        refresh_expires_at: Its expiry, when known.
    """

    origin: str
    access_token: str | None
    access_expires_at: float | None
    refresh_token: str
    refresh_expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Credentials(origin={self.origin!r}, <tokens redacted>)"


@dataclass(frozen=True, slots=True)
class StateLoss:
    """The state was found changed under the running daemon (SQLite: the file).

    Attributes:
        reason: ``deleted``, ``replaced`` (another file at the path), ``truncated`` or
            ``overwritten`` (the same file, other contents), ``unreadable``.
        restored: The running state was written back: nothing was lost.
        kept_as: Where the file found at the path was moved, so nothing is destroyed.
    """

    reason: str
    restored: bool
    kept_as: Path | None = None
