"""Deliver the outbox: group due deliveries per target, send, record the outcome.

Polling only ever writes to the outbox; this loop is the only thing that sends. A target
that hangs or fails delays nobody else: targets are served concurrently, each under its
own timeout, and a failed delivery waits for its retry slot in the store, not in memory.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import structlog

from monitor.notify import Message, Notifier, SendResult
from monitor.render import render
from monitor.schedule import retry_at
from monitor.store import Delivery, StateStore

log = structlog.get_logger("monitor.delivery")

#: Events of one route, target and account sent as one digest message at most.
_MAX_GROUP = 100


@dataclass(slots=True)
class DrainReport:
    """What one pass over the due deliveries did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    results: list[tuple[str, SendResult]] = field(default_factory=list)


class Deliverer:
    """Sends due outbox rows through their notifiers and records each outcome."""

    def __init__(
        self,
        store: StateStore,
        notifiers: Mapping[str, Notifier],
        *,
        send_timeout_s: float = 30.0,
        account_names: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        on_result: Callable[[Sequence[Delivery], SendResult], None] | None = None,
    ) -> None:
        self._store = store
        self._notifiers = notifiers
        self._timeout_s = send_timeout_s
        self._names = account_names if account_names is not None else {}
        self._now = now
        self._rand = rand
        self._on_result = on_result
        self._wake = anyio.Event()
        self._stopping = False

    def wake(self) -> None:
        """New deliveries were committed: drain now instead of at the next tick."""
        self._wake.set()

    async def drain(self) -> DrainReport:
        """Send every delivery that is due now, grouped per route, target and account."""
        report = DrainReport()
        while True:
            due = await self._store.due_deliveries(self._now(), limit=1000)
            if not due:
                return report
            groups: dict[tuple[str, str, str], list[Delivery]] = defaultdict(list)
            for d in due:
                notifier = self._notifiers.get(d.target)
                # Targets that take one event per request (webhooks), and pinmon's reports about
                # itself, get groups of one.
                key = (
                    (d.route, d.target, d.event.ad_account_id)
                    if (notifier is None or notifier.batch) and d.event.entity != "monitor"
                    else (d.route, d.target, d.event.id)
                )
                if len(groups[key]) < _MAX_GROUP:
                    groups[key].append(d)
            by_target: dict[str, list[list[Delivery]]] = defaultdict(list)
            for (_, target, _), batch in groups.items():
                by_target[target].append(batch)
            before = report.sent + report.failed + report.dead
            async with anyio.create_task_group() as tg:
                for target, batches in by_target.items():
                    tg.start_soon(self._serve_target, target, batches, report)
            if report.sent + report.failed + report.dead == before:
                return report

    async def _serve_target(
        self, target: str, batches: list[list[Delivery]], report: DrainReport
    ) -> None:
        notifier = self._notifiers.get(target)
        for batch in batches:
            if notifier is None:
                # The target left the config: keep the rows, but stop trying them here.
                for d in batch:
                    await self._store.mark_failed(
                        d.id, error="target no longer configured", at=self._now(), retry_at=None
                    )
                report.dead += len(batch)
                continue
            message = render([d.event for d in batch], account_names=self._names)
            result = await self._send(notifier, message)
            await self._record(batch, result, report)

    async def _send(self, notifier: Notifier, message: Message) -> SendResult:
        try:
            with anyio.fail_after(self._timeout_s):
                return await notifier.send(message)
        except TimeoutError:
            return SendResult(ok=False, target=notifier.label, detail="timed out")
        except Exception as exc:  # a notifier must not take the delivery loop down
            log.exception("delivery.crashed", target=notifier.label)
            return SendResult(ok=False, target=notifier.label, detail=type(exc).__name__)

    async def _record(self, batch: list[Delivery], result: SendResult, report: DrainReport) -> None:
        now = self._now()
        report.results.append((batch[0].route, result))
        if self._on_result is not None:
            self._on_result(batch, result)
        dead = False
        for d in batch:
            if result.ok:
                await self._store.mark_delivered(d.id, at=now)
                continue
            if result.permanent:
                dead = True
                await self._store.mark_rejected(d.id, error=result.detail, at=now)
                continue
            when = retry_at(
                d.attempts + 1, now, retry_after_s=result.retry_after_s, jitter=self._rand()
            )
            dead = dead or when is None
            await self._store.mark_failed(d.id, error=result.detail, at=now, retry_at=when)
        if result.ok:
            report.sent += len(batch)
            log.info("delivery.sent", route=batch[0].route, target=result.target, events=len(batch))
        else:
            if dead:
                report.dead += len(batch)
            else:
                report.failed += len(batch)
            log.error(
                "delivery.failed",
                route=batch[0].route,
                target=result.target,
                events=len(batch),
                reason=result.detail,
                permanent=result.permanent,
                dead=dead,
            )

    def stop(self) -> None:
        """Ask :meth:`run` to finish the pass under way, make one last pass and return."""
        self._stopping = True
        self._wake.set()

    async def run(self, *, tick_s: float = 1.0) -> None:
        """Drain on every wake-up, and every ``tick_s`` for retries that fall due, until stopped."""
        while True:
            with anyio.move_on_after(tick_s):
                await self._wake.wait()
            self._wake = anyio.Event()
            try:
                await self.drain()
            except Exception:
                # The store may be briefly unavailable; the rows wait there, try again.
                log.exception("delivery.drain_failed")
            if self._stopping:
                return
