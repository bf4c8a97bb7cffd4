"""When the delivery loop may send, pure: the per-group message rate and a target's outage.

Two rules sit on top of each delivery's own retry schedule (:mod:`monitor.schedule`):

- :class:`GroupPacer`, Alertmanager's ``group_interval``: the first events of a digest
  group (route, target, account) go out at once; after a message, the group sends at most
  one more per interval, and whatever arrived meanwhile is merged into that one. A cycle's
  events are committed together, so they leave together and without added wait.
- :class:`TargetHealth`, a circuit breaker per target: after consecutive retryable failures
  the target counts as down. For the first :data:`PROBE_WINDOW_S` of an outage one
  delivery (the oldest pending) probes it every :data:`PROBE_EVERY_S` instead of each due
  delivery failing on its own; later the deliveries' long-horizon schedule sets when the
  next probe goes. The first success ends the outage and the whole backlog goes at once.

Both live in memory: after a restart the first message of a group goes at once, and a
target with retried deliveries pending is probed at once (see :meth:`TargetHealth.resume`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

#: A down target is probed this often during the first part of its outage.
PROBE_EVERY_S: Final = 30.0
#: How long an outage is probed every :data:`PROBE_EVERY_S`; after that the deliveries'
#: own schedule (5 min, 30 min, 2 h, ...) decides, so a target gone for days costs little.
PROBE_WINDOW_S: Final = 600.0
#: Retryable failures in a row after which a target counts as down. One failure is not
#: an outage (a receiver's deploy, one 503): the rows after it are still tried.
DOWN_AFTER: Final = 2

#: A digest group: route, target key, account.
Group = tuple[str, str, str]


@dataclass(slots=True)
class GroupPacer:
    """At most one message per group per ``interval_s``; the first one without waiting.

    Attributes:
        last_sent: When each group's last message went (the wall clock of the loop).
    """

    last_sent: dict[Group, float] = field(default_factory=dict)

    def ready_at(self, group: Group, created: Iterable[float], interval_s: float) -> float:
        """When a message of ``group`` made of rows queued at ``created`` may go.

        At once when the group sent nothing within the interval, or when every row was
        queued before its last message (they are the overflow of that message, or
        retries): otherwise when the interval since that message ends.
        """
        last = self.last_sent.get(group)
        if last is None or interval_s <= 0 or all(c <= last for c in created):
            return 0.0
        return last + interval_s

    def sent(self, group: Group, at: float) -> None:
        """A message of ``group`` was attempted at ``at`` (sent or not: a failure's rows
        follow their retry schedule, not this)."""
        self.last_sent[group] = at

    def forget(self, before: float) -> None:
        """Drop groups whose last message is older than ``before`` (keeps memory flat)."""
        for group in [g for g, at in self.last_sent.items() if at < before]:
            del self.last_sent[group]


@dataclass(slots=True)
class TargetHealth:
    """One target's run of failures, and when it is next probed while down.

    Attributes:
        failures: Retryable failures in a row.
        down_since: When the outage began (the failure that made it one), or None.
        next_probe_at: When the next probe may go during the probe window.
        quiet_until: The target asked for a pause (a 429's Retry-After): nothing is sent
            to it before this, probes included.
    """

    failures: int = 0
    down_since: float | None = None
    next_probe_at: float = 0.0
    quiet_until: float = 0.0

    def quiet(self, until: float) -> None:
        """The target asked us to wait until ``until`` (Slack's rate limit is per app and
        method, not per message: every delivery to it waits, not only the one refused)."""
        self.quiet_until = max(self.quiet_until, until)

    def paused(self, now: float) -> float | None:
        """When the pause the target asked for ends, if it has not."""
        return self.quiet_until if now < self.quiet_until else None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def resume(self, now: float) -> None:
        """At start, the target has deliveries that already failed: probe it at once
        rather than wait for their retry slots (it may have come back meanwhile)."""
        self.failures = DOWN_AFTER
        self.down_since = now
        self.next_probe_at = now

    def hold_until(self, now: float) -> float | None:
        """While probing every :data:`PROBE_EVERY_S`: the next probe's time, if it has
        not come (nothing is sent before it). None: send what is due (up, or past the
        probe window: each delivery's own schedule decides)."""
        if (pause := self.paused(now)) is not None:
            return pause
        if self.down_since is None or now - self.down_since >= PROBE_WINDOW_S:
            return None
        return self.next_probe_at if now < self.next_probe_at else None

    def probing(self, now: float) -> bool:
        """Whether a probe may go now even if no delivery is due by its own schedule."""
        return self.hold_until(now) is None and self.in_window(now)

    def in_window(self, now: float) -> bool:
        return self.down_since is not None and now - self.down_since < PROBE_WINDOW_S

    def failed(self, now: float) -> bool:
        """A retryable failure; True when it makes the target down."""
        self.failures += 1
        if self.down_since is not None:
            self.next_probe_at = now + PROBE_EVERY_S
            return False
        if self.failures < DOWN_AFTER:
            return False
        self.down_since = now
        self.next_probe_at = now + PROBE_EVERY_S
        return True

    def answered(self, now: float) -> float | None:
        """The target answered (a success, or a refusal for good: it is up); returns how
        long it was down, or None if it was not."""
        since = self.down_since
        self.failures = 0
        self.down_since = None
        self.next_probe_at = 0.0
        return None if since is None else max(0.0, now - since)
