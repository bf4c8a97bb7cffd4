"""Prometheus metrics of one daemon run: what the poll loop, the client and the outbox report.

Each :class:`Metrics` owns its own registry, never the process-global one, so several
runtimes (and tests) in one process do not collide. Every label value is bounded: endpoints
are path templates, event types a closed set, targets the masked labels of configured
notifiers (passed through the redactor as a second line of defence: labels are safe by
construction, so it changes nothing unless a secret slipped into one).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest

from monitor.events import EVENT_TYPES
from monitor.notify.outcome import Outcome
from monitor.ops import OpsChange
from monitor.redact import DEFAULT, Redactor
from monitor.schedule import DELIVERY_RETRY

if TYPE_CHECKING:
    from monitor.notify import SendResult
    from monitor.store import Delivery

#: The exposition format served on /metrics. 0.0.4 rather than prometheus_client's "latest"
#: (1.0.0): every Prometheus and agent version scrapes it, and our names need no escaping.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

#: Delivery outcomes, as :meth:`Metrics.delivery` counts them.
OUTCOMES: Final = frozenset({"sent", "failed", "dead", "rejected"})

#: From a quick 5-ad cycle to a 200,000-ad account on a slow day (10 minutes).
CYCLE_BUCKETS_S: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

#: Every type :meth:`Metrics.event` exports as itself: the entity events and pinmon's own.
KNOWN_EVENT_TYPES: Final = EVENT_TYPES | {f"monitor.{change}" for change in OpsChange}

# A filled-in path would create one series per account; templates keep the set fixed.
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


class Metrics:
    """The pinmon metric families and the small calls that update them.

    Args:
        now: Wall clock (Unix seconds) stamped on the last successful cycle.
        process: Also export the standard ``process_*`` families (RSS, CPU, open fds).
        redactor: Scrubs target labels before they are exported.
    """

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        process: bool = True,
        redactor: Redactor = DEFAULT,
    ) -> None:
        self._now = now
        self._redactor = redactor
        self.registry = CollectorRegistry()
        r = self.registry
        self._cycles = Counter(
            "pinmon_cycles", "Poll cycles completed, by outcome.", ["outcome"], registry=r
        )
        self._cycle_duration = Histogram(
            "pinmon_cycle_duration_seconds",
            "Wall time of one poll cycle, every account included.",
            buckets=CYCLE_BUCKETS_S,
            registry=r,
        )
        self._api = Counter(
            "pinmon_api_requests",
            "Pinterest API responses, by endpoint template and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
        self._rate_limit = Gauge(
            "pinmon_rate_limit_remaining",
            "x-ratelimit-remaining of the latest API response that carried it (NaN: unknown).",
            registry=r,
        )
        self._entities = Gauge(
            "pinmon_watched_entities",
            "Entities in the stored snapshots, by kind and summary_status.",
            ["kind", "summary_status"],
            registry=r,
        )
        self._events = Counter("pinmon_events", "Events detected, by type.", ["type"], registry=r)
        self._deliveries = Counter(
            "pinmon_deliveries",
            "Outbox deliveries attempted, by masked target label and outcome.",
            ["target", "outcome"],
            registry=r,
        )
        self._outbox = Gauge(
            "pinmon_outbox_pending", "Deliveries waiting in the outbox.", registry=r
        )
        self._outbox_age = Gauge(
            "pinmon_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending delivery (0 when none is pending).",
            registry=r,
        )
        self._last_success = Gauge(
            "pinmon_last_successful_cycle_timestamp_seconds",
            "Unix time of the end of the last cycle in which every account succeeded.",
            registry=r,
        )
        self._lane = Gauge(
            "pinmon_fast_lane_ads", "Ads in the review fast lane (in review, or just edited).",
            registry=r,
        )  # fmt: skip
        self._lane_age = Gauge(
            "pinmon_fast_lane_oldest_age_seconds",
            "How long the longest-waiting ad has been in the fast lane (0 when empty).",
            registry=r,
        )
        self._kind_statuses: dict[str, set[str]] = {}
        self._rate_limit.set(math.nan)
        if process:
            ProcessCollector(registry=r)

    def cycle_completed(self, duration_s: float, ok: bool) -> None:
        """One poll cycle ended; ``ok`` when every account in it succeeded."""
        self._cycles.labels(outcome="ok" if ok else "failed").inc()
        self._cycle_duration.observe(duration_s)
        if ok:
            self._last_success.set(self._now())

    def api_response(self, endpoint: str, status: int, duration_s: float) -> None:
        """One API response; the signature of the client's ``on_response`` hook."""
        del duration_s  # cycle duration is the latency that matters; this keeps series few
        self._api.labels(endpoint=_ID_SEGMENT.sub("/{id}", endpoint), status=str(status)).inc()

    def rate_limit_remaining(self, value: int | None) -> None:
        """The latest ``x-ratelimit-remaining``; None when no response carried one yet."""
        self._rate_limit.set(math.nan if value is None else value)

    def entities(self, kind: str, counts_by_summary_status: Mapping[str, int]) -> None:
        """Replace one kind's entity counts (summed over accounts) by summary_status.

        A status absent from ``counts_by_summary_status`` is dropped from the export, so a
        status that no entity has any more does not linger at its last value.
        """
        previous = self._kind_statuses.get(kind, set())
        current = set(counts_by_summary_status)
        for status in previous - current:
            self._entities.remove(kind, status)
        for status, count in counts_by_summary_status.items():
            self._entities.labels(kind=kind, summary_status=status).set(count)
        self._kind_statuses[kind] = current

    def event(self, type: str) -> None:
        """One new event was committed (types outside the documented set count as ``other``)."""
        self._events.labels(type=type if type in KNOWN_EVENT_TYPES else "other").inc()

    def delivery(self, target: str, outcome: str, *, count: int = 1) -> None:
        """Count ``count`` deliveries to ``target`` (a masked label) that ended in ``outcome``.

        Raises:
            ValueError: ``outcome`` is not one of :data:`OUTCOMES`.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome!r}; known: {sorted(OUTCOMES)}")
        self._deliveries.labels(target=self._redactor.redact(target), outcome=outcome).inc(count)

    def send_result(self, batch: Sequence[Delivery], result: SendResult) -> None:
        """Count one send's deliveries by outcome: the Deliverer's ``on_result`` hook.

        The result's outcome says which: ``sent``, ``rejected`` (permanent, or the target
        is retired), or a retry, which is ``dead`` for each delivery that this failure
        leaves without a slot in the outbox's retry policy and ``failed`` for the others.
        """
        if result.outcome is not Outcome.RETRY:
            label = "sent" if result.outcome is Outcome.SENT else "rejected"
            self.delivery(result.target, label, count=len(batch))
            return
        dead = sum(DELIVERY_RETRY.exhausted(d.attempts + 1) for d in batch)
        if dead:
            self.delivery(result.target, "dead", count=dead)
        if len(batch) - dead:
            self.delivery(result.target, "failed", count=len(batch) - dead)

    def outbox(self, depth: int, oldest_age_s: float | None) -> None:
        """The outbox's pending count and the age of its oldest pending delivery."""
        self._outbox.set(depth)
        self._outbox_age.set(0.0 if oldest_age_s is None else max(0.0, oldest_age_s))

    def fast_lane(self, ads: int, oldest_age_s: float | None) -> None:
        """The review fast lane's size and the age of its longest-waiting ad."""
        self._lane.set(ads)
        self._lane_age.set(0.0 if oldest_age_s is None else max(0.0, oldest_age_s))

    def render(self) -> bytes:
        """Every family in the text exposition format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
