"""Deliver the outbox: one worker per target sends what is due and records each outcome.

Polling only ever writes to the outbox; this is the only thing that sends. Each target has
its own worker, so a target that hangs or fails delays nobody else (one send at a time
per target, each under its own timeout), and a failed delivery waits for its retry slot
in the store, not in memory, so a restart loses nothing. Outcomes are written in batches
(:mod:`monitor.ledger`), always before a worker fetches its target's rows again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import anyio
import structlog

from monitor.config import Route
from monitor.digest import compose, digest_groups
from monitor.events import Event
from monitor.ledger import Ledger
from monitor.notify import Fault, Message, Notifier, Outcome, SendResult
from monitor.ops import OpsChange, ops_event
from monitor.pacing import PROBE_EVERY_S, PROBE_WINDOW_S, Group, GroupPacer, TargetHealth
from monitor.replicas import FetchDue
from monitor.schedule import DELIVERY_RETRY, MAX_WAIT_S
from monitor.store import Delivery, Settlement, StateStore

log = structlog.get_logger("monitor.delivery")

#: Deliveries fetched per pass of one target.
_BATCH = 500
#: How often account names are re-read from the store.
_NAMES_TTL_S = 60.0
#: How often the pacer forgets groups that sent nothing for a while.
_FORGET_EVERY_S = 60.0
#: How long the last write of outcomes may take at shutdown.
_CLOSE_S = 10.0
#: A jump between the wall clock and the monotonic one bigger than this is a clock step
#: (NTP correcting a wrong clock, an operator's date -s), not scheduling noise.
CLOCK_STEP_S = 5.0

#: Commits ``monitor.*`` events, routed as usual except to the targets in ``exclude``.
Emit = Callable[[Sequence[Event], Collection[str]], Awaitable[object]]


@dataclass(slots=True)
class DrainReport:
    """What passes over the due deliveries did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    results: list[tuple[str, SendResult]] = field(default_factory=list)


class Deliverer:
    """Sends due outbox rows through their notifiers and records each outcome.

    Args:
        store: The outbox lives here.
        notifiers: Every configured target, by its outbox key.
        send_timeout_s: A send that takes longer counts as failed (and is retried).
        account_names: Ad account id → name, for messages; by default the names the
            poll loop recorded in the store, re-read every minute.
        now: Wall clock (injected in tests).
        monotonic: A clock that never steps: a step of the wall clock while running
            moves pending deliveries with it, so no retry stalls (injected in tests).
        rand: Randomness for retry jitter (injected in tests).
        on_result: Called after every send (metrics).
        emit: Commits ``monitor.*`` events (a target disabled, a delivery dead) to
            history and outbox, never routed to the target they are about.
        routes: The configured routes: templates, group_interval and max_items per route.
        fetch_due: How pending rows of one target are fetched (now, target, limit,
            probe); replicas claim them instead, so no two send the same row.
        ledger: Where send outcomes are held until written (see :mod:`monitor.ledger`).
    """

    def __init__(
        self,
        store: StateStore,
        notifiers: Mapping[str, Notifier],
        *,
        send_timeout_s: float = 30.0,
        account_names: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        on_result: Callable[[Sequence[Delivery], SendResult], None] | None = None,
        emit: Emit | None = None,
        routes: Sequence[Route] = (),
        fetch_due: FetchDue | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._store = store
        # Not `ledger or ...`: a Ledger holding nothing is falsy (it has a length).
        self._ledger = ledger if ledger is not None else Ledger(store, monotonic=monotonic)
        self._fetch_due = fetch_due or self._due
        self._routes = {route.name: route for route in routes}
        self._notifiers = notifiers
        self._timeout_s = send_timeout_s
        self._fixed_names = account_names is not None
        self._names: Mapping[str, str] = account_names if account_names is not None else {}
        self._names_read_at = float("-inf")
        self._now = now
        self._monotonic = monotonic
        self._offset = now() - monotonic()
        self._rand = rand
        self._on_result = on_result
        self._emit = emit
        self._wake: dict[str, anyio.Event] = {key: anyio.Event() for key in notifiers}
        self._stopping = False
        # Set with _stopping: the loops that only wait for time leave at once on a stop,
        # so a shutdown is not held up by their sleep.
        self._stopped = anyio.Event()
        # The running loop's pacing (see monitor.pacing); drain() sends without either.
        self._pacer = GroupPacer()
        self._forgot_at = float("-inf")
        self._health: dict[str, TargetHealth] = {key: TargetHealth() for key in notifiers}
        self._resumed: set[str] = set()
        # Sends since the last delivery.sent line, by (route, target label): messages,
        # events. One line per fetch of a target, not per send: at a thousand webhook
        # deliveries a second a line each was the loop's largest own cost.
        self._sent: dict[tuple[str, str], list[int]] = {}

    async def _due(self, now: float, target: str, limit: int, probe: bool) -> list[Delivery]:
        return await self._store.due_deliveries(now, limit=limit, target=target, probe=probe)

    def wake(self) -> None:
        """New deliveries were committed: every worker looks now, not at its next tick."""
        for event in self._wake.values():
            event.set()

    def stop(self) -> None:
        """Ask :meth:`run`'s workers to finish the send under way, make a last pass, return."""
        self._stopping = True
        self._stopped.set()
        self.wake()

    async def drain(self) -> DrainReport:
        """Send everything due now, every target concurrently; for `run --once` and tests."""
        await self._clamp()
        report = DrainReport()
        try:
            # A pass can queue more (a disabled target reports itself to the other
            # routes): go again while something became due, a few times at most.
            for _ in range(3):
                async with anyio.create_task_group() as tg:
                    for key in self._notifiers:
                        tg.start_soon(self._drain_target, key, report)
                await self._fail_orphans(report)
                if not await self._store.due_deliveries(self._now(), limit=1):
                    break
        finally:
            await self._ledger.close(_CLOSE_S)
        return report

    async def run(self, *, tick_s: float = 1.0) -> None:
        """One worker per target, each draining on wake-ups and every ``tick_s``, until stopped."""
        await self._clamp()
        try:
            async with anyio.create_task_group() as tg:
                for key in self._notifiers:
                    tg.start_soon(self._worker, key, tick_s)
                if self._notifiers:
                    tg.start_soon(self._watch_clock, tick_s)
                    tg.start_soon(self._ledger.keep_flushing, self._stopped)
        finally:
            # Also when the shutdown's grace ran out and cancelled a send under way: what
            # was sent before it is recorded, not sent again at the next start.
            await self._ledger.close(_CLOSE_S)

    async def _clamp(self) -> None:
        """At start: no pending row may wait longer than any retry could have asked for,
        nor count as queued in the future (the clock was ahead when it was written)."""
        try:
            moved = await self._store.clamp_pending(self._now(), MAX_WAIT_S)
        except Exception:
            log.exception("delivery.clamp_failed")
            return
        if moved:
            log.warning("delivery.schedule_clamped", deliveries=moved, max_wait_s=MAX_WAIT_S)

    async def _watch_clock(self, tick_s: float) -> None:
        """Follow steps of the wall clock with the pending rows' times, so a clock set back
        a day does not hold every retry (and every group_interval) for a day."""
        while not self._stopping:
            with anyio.move_on_after(tick_s):
                await self._stopped.wait()
            if self._stopping:
                return
            offset = self._now() - self._monotonic()
            step = offset - self._offset
            if abs(step) <= CLOCK_STEP_S:
                continue
            try:
                moved = await self._store.shift_pending(step)
            except Exception:
                log.exception("delivery.clock_shift_failed")
                continue  # the step is still there next tick: try again
            self._offset = offset
            log.warning("delivery.clock_stepped", step_s=round(step, 3), deliveries=moved)
            self.wake()

    async def _worker(self, key: str, tick_s: float) -> None:
        wait_s = tick_s
        while True:
            with anyio.move_on_after(wait_s):
                await self._wake[key].wait()
            self._wake[key] = anyio.Event()
            wait_s = tick_s
            # Read once: the pass that sees the stop must be the one that holds nothing back.
            stopping = self._stopping
            try:
                ready_at = await self.run_pass(key, hold=not stopping)
                if ready_at is not None:
                    # Wake exactly when the first held group may go, or the next probe.
                    wait_s = min(tick_s, max(0.0, ready_at - self._now()))
            except Exception:
                # The store may be briefly unavailable; the rows wait there, try again.
                log.exception("delivery.drain_failed", target=self._notifiers[key].label)
            if stopping:
                return

    async def run_pass(self, key: str, *, hold: bool = True) -> float | None:
        """One pass of the running loop over one target, what :meth:`run` does at each
        wake-up: send what may go now (paced by group, one probe while the target is
        down; everything due without ``hold``) and record it. Returns when the target
        wants to be looked at again, if it knows (a held group, the next probe)."""
        if key not in self._resumed:
            self._resumed.add(key)
            await self._resume(key)
        return await self._drain_target(key, DrainReport(), hold=hold)

    async def _resume(self, key: str) -> None:
        """At start: a target whose oldest pending delivery has failed before is probed
        at once, not when that delivery's retry slot comes (it may be back already)."""
        try:
            oldest = await self._store.due_deliveries(self._now(), limit=1, target=key, probe=True)
        except Exception:
            log.exception("delivery.resume_failed", target=self._notifiers[key].label)
            return
        if oldest and oldest[0].attempts > 0:
            self._health[key].resume(self._now())
            log.info("delivery.target_probing", target=self._notifiers[key].label)

    async def _drain_target(
        self, key: str, report: DrainReport, *, hold: bool = False
    ) -> float | None:
        """Send what is due for one target, and record it; returns when the first held
        group is ready."""
        try:
            ready_at = await self._pass(key, report, hold=hold)
        finally:
            self._log_sent()
        await self._ledger.flush()
        return ready_at

    def _log_sent(self) -> None:
        for (route, target), (messages, events) in self._sent.items():
            log.info("delivery.sent", route=route, target=target, events=events, messages=messages)
        self._sent.clear()

    async def _pass(self, key: str, report: DrainReport, *, hold: bool) -> float | None:
        """Send what is due; with ``hold`` (the running loop), paced by group and, while
        the target is down, one probe at a time. Returns when to look again, if sooner
        than the next tick."""
        notifier = self._notifiers[key]
        await self._read_names()
        disabled = (await self._store.disabled_targets()).get(key)
        health = self._health[key] if hold else None
        while True:
            # What was sent must be recorded before the store is asked what is due, or
            # it would be sent again.
            await self._ledger.flush()
            self._log_sent()
            now = self._now()
            pause = self._health[key].paused(now)
            if pause is not None and not disabled:
                # The target asked for a pause (429 Retry-After): the running loop looks
                # again when it ends; a drain leaves the rows to their own schedule.
                return pause if hold else None
            if health is not None and health.down and not disabled:
                if not await self._probe(notifier, health, now, report):
                    return health.hold_until(self._now())
                continue  # it answered: the whole backlog is due, in order
            due = await self._fetch_due(now, key, _BATCH, False)
            if not due:
                return None
            if disabled:
                self._refuse(due, disabled, report)
                continue
            batches = digest_groups(due, notifier)
            if hold:
                batches, ready_at = self._paced(key, batches, notifier, now)
                if not batches:
                    return ready_at  # every group waits for its group_interval
            disabled, stop = await self._send_each(key, batches, notifier, health, report)
            if stop:
                return None  # shutting down: retrying is for the next start

    async def _send_each(
        self,
        key: str,
        batches: list[list[Delivery]],
        notifier: Notifier,
        health: TargetHealth | None,
        report: DrainReport,
    ) -> tuple[str | None, bool]:
        """Send the batches in turn; returns why the target is now disabled (if it is),
        and whether to stop (shutting down after a failure)."""
        for batch in batches:
            result = await self._send_batch(key, batch, notifier, report)
            if result.outcome is Outcome.DISABLE:
                return await self._disable(notifier, result), False
            if self._stopping and result.outcome is not Outcome.SENT:
                return None, True
            if health is not None and self._went_down(notifier, health, result):
                break  # the rest waits for the probe, untouched
            if self._health[key].paused(self._now()) is not None:
                break  # the rest waits for the pause the target asked for, untouched
        return None, False

    def _refuse(self, due: list[Delivery], disabled: str, report: DrainReport) -> None:
        error = f"target disabled: {disabled}"
        self._ledger.add(Settlement.rejected(d, self._now(), error) for d in due)
        report.dead += len(due)

    def _paced(
        self, key: str, batches: list[list[Delivery]], notifier: Notifier, now: float
    ) -> tuple[list[list[Delivery]], float]:
        """The batches whose group may send now, and when the first held one may."""
        ready = {id(b): self._ready_at(key, b, notifier, now) for b in batches}
        waiting = [t for t in ready.values() if t > now]
        return [b for b in batches if ready[id(b)] <= now], min(waiting, default=now)

    async def _send_batch(
        self, key: str, batch: list[Delivery], notifier: Notifier, report: DrainReport
    ) -> SendResult:
        message = self.message_for(batch, notifier)
        result = await self.send(notifier, message)
        if result.outcome is Outcome.RETRY and result.retry_after_s is not None:
            wait_s = min(result.retry_after_s, MAX_WAIT_S)
            self._health[key].quiet(self._now() + wait_s)
            log.warning("delivery.target_paused", target=notifier.label, wait_s=wait_s)
        group = self._group(key, batch, notifier)
        if group is not None:
            self._pacer.sent(group, self._now())
        await self._record(batch, result, report)
        return result

    def _went_down(self, notifier: Notifier, health: TargetHealth, result: SendResult) -> bool:
        """Follow a send's outcome in the target's health; True when it just went down."""
        now = self._now()
        if result.outcome is not Outcome.RETRY:
            health.answered(now)
            return False
        if not health.failed(now):
            return False
        log.warning(
            "delivery.target_down",
            target=notifier.label,
            reason=result.detail,
            probe_every_s=PROBE_EVERY_S,
            probe_for_s=PROBE_WINDOW_S,
        )
        return True

    async def _probe(
        self, notifier: Notifier, health: TargetHealth, now: float, report: DrainReport
    ) -> bool:
        """While the target is down: at the probe's time, send its oldest pending
        delivery alone, standing for all of them; True if the target answered.

        During the probe window that is every :data:`~monitor.pacing.PROBE_EVERY_S`;
        after it, whenever a delivery's own retry slot comes. On a failure the due
        deliveries not sent take the attempt as theirs (each moves to its next slot, and
        dies after the last): the target was down for them as well, and one request said
        so. On an answer every pending delivery becomes due, to go in queue order.
        """
        key = notifier.key
        if health.hold_until(now) is not None:
            return False
        if not health.in_window(now) and not await self._store.due_deliveries(
            now, limit=1, target=key
        ):
            return False  # past the window: only when a delivery's own slot has come
        probe = await self._fetch_due(now, key, 1, True)
        if not probe:
            return False  # nothing pending (or all claimed by other replicas)
        result = await self._send_batch(key, probe, notifier, report)
        now = self._now()
        if result.outcome is Outcome.RETRY:
            health.failed(now)
            await self._ledger.flush()  # the probe's own outcome first
            held = [
                d for d in await self._fetch_due(now, key, _BATCH, False) if d.id != probe[0].id
            ]
            await self._hold(held, result, report)
            log.info("delivery.probe_failed", target=notifier.label, reason=result.detail)
            return False
        if result.outcome is Outcome.DISABLE:
            await self._disable(notifier, result)
        down_s = health.answered(now)
        await self._ledger.flush()
        backlog = await self._store.expedite(key, now)
        log.info(
            "delivery.target_recovered",
            target=notifier.label,
            down_s=None if down_s is None else round(down_s, 1),
            backlog=backlog,
        )
        return True

    async def _hold(self, held: list[Delivery], result: SendResult, report: DrainReport) -> None:
        """Due deliveries not sent because their target is down: each counts the probe's
        failure as its attempt."""
        if not held:
            return
        now = self._now()
        error = f"target down, not sent (a probe failed: {result.detail})"
        dead = []
        for d in held:
            when = DELIVERY_RETRY.retry_at(d.attempts + 1, now, jitter=self._rand())
            self._ledger.add([Settlement.failed(d, now, error, when)])
            if when is None:
                dead.append(d)
        report.failed += len(held) - len(dead)
        report.dead += len(dead)
        await self._ledger.flush_when_due()
        if dead:
            await self._ledger.flush()
            await self._report_dead(dead, replace(result, detail=error))

    async def _read_names(self) -> None:
        # From the store, where the poll loop records them: delivery needs nothing of
        # polling's, so the two share no state but the database.
        if self._fixed_names or self._monotonic() - self._names_read_at < _NAMES_TTL_S:
            return
        self._names = {a.account_id: a.name for a in await self._store.accounts() if a.name}
        self._names_read_at = self._monotonic()

    def _group(self, key: str, batch: list[Delivery], notifier: Notifier) -> Group | None:
        """The digest group a batch belongs to; None when it is never grouped."""
        first = batch[0]
        if not notifier.batch or first.event.is_report or first.route not in self._routes:
            return None
        return (first.route, key, first.event.ad_account_id)

    def _ready_at(self, key: str, batch: list[Delivery], notifier: Notifier, now: float) -> float:
        """Alertmanager's group_interval: at most one message per group per interval."""
        group = self._group(key, batch, notifier)
        if group is None:
            return 0.0
        if now - self._forgot_at >= _FORGET_EVERY_S:
            longest = max((r.group_interval_s for r in self._routes.values()), default=0.0)
            self._pacer.forget(now - longest)
            self._forgot_at = now
        interval = self._routes[group[0]].group_interval_s
        return self._pacer.ready_at(group, (d.created_at for d in batch), interval)

    def message_for(self, batch: list[Delivery], notifier: Notifier) -> Message:
        """Render a group for its route (template, max items) in the target's dialect, and
        fit the target's limit (see :func:`monitor.digest.compose`)."""
        return compose(batch, notifier, self._routes.get(batch[0].route), self._names)

    async def send(self, notifier: Notifier, message: Message) -> SendResult:
        """One send under the target's timeout; never raises, failures are results."""
        try:
            with anyio.fail_after(self._timeout_s):
                return await notifier.send(message)
        except TimeoutError:
            return SendResult.failed(notifier.label, "timed out", fault=Fault.TIMEOUT)
        except Exception as exc:  # a notifier must not take the delivery loop down
            log.exception("delivery.crashed", target=notifier.label)
            return SendResult.failed(notifier.label, type(exc).__name__, fault=Fault.BROKEN)

    async def _record(self, batch: list[Delivery], result: SendResult, report: DrainReport) -> None:
        now = self._now()
        report.results.append((batch[0].route, result))
        if self._on_result is not None:
            self._on_result(batch, result)
        if result.outcome is Outcome.SENT:
            self._ledger.add(Settlement.delivered(d, now) for d in batch)
            report.sent += len(batch)
            counts = self._sent.setdefault((batch[0].route, result.target), [0, 0])
            counts[0] += 1
            counts[1] += len(batch)
            await self._ledger.flush_when_due()
            return
        dead = False
        for d in batch:
            match result.outcome:
                case Outcome.RETRY if d.next_attempt_at > now:
                    # A probe ahead of the row's own slot: not one of its attempts.
                    self._ledger.add([Settlement.probed(d, now, result.detail)])
                case Outcome.RETRY:
                    when = DELIVERY_RETRY.retry_at(
                        d.attempts + 1, now, retry_after_s=result.retry_after_s, jitter=self._rand()
                    )
                    dead = dead or when is None
                    self._ledger.add([Settlement.failed(d, now, result.detail, when)])
                case _:  # PERMANENT or DISABLE: refused for good, or retired: as dead
                    dead = True
                    self._ledger.add([Settlement.rejected(d, now, result.detail)])
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
        if dead or result.outcome is Outcome.DISABLE:
            # Recorded before it is reported, as each row used to be.
            await self._ledger.flush()
        else:
            await self._ledger.flush_when_due()
        if dead and result.outcome is not Outcome.DISABLE:
            await self._report_dead(batch, result)

    async def _report_dead(self, batch: list[Delivery], result: SendResult) -> None:
        """Nothing dies quietly: a delivery given up on is reported to the other targets.

        Not for a 410 (``target_disabled`` says it) and not about a report of a dead
        delivery itself: two dead targets must not keep reporting each other.
        """
        if self._emit is None:
            return
        if all(d.event.type == _DEAD_TYPE for d in batch):
            log.error("delivery.dead_report_lost", target=result.target, events=len(batch))
            return
        first = batch[0]
        now = self._now()
        event = ops_event(
            OpsChange.DELIVERY_DEAD,
            subject=result.target,
            at=now,
            occurrence=",".join(str(d.id) for d in batch[:20]),
            detail={
                "target": result.target,
                "route": first.route,
                "reason": result.detail,
                "attempts": first.attempts + 1,
                "events": len(batch),
                "event_ids": ", ".join(d.event.id for d in batch[:5])
                + (f" and {len(batch) - 5} more" if len(batch) > 5 else ""),
            },
        )
        await self._emit([event], {first.target})
        self.wake()

    async def _disable(self, notifier: Notifier, result: SendResult) -> str:
        """A 410 Gone: stop sending to this target, and tell the other routes."""
        reason = result.detail[:200]
        await self._store.disable_target(notifier.key, reason, self._now())
        log.error("delivery.target_disabled", target=notifier.label, reason=reason)
        if self._emit is not None:
            now = self._now()
            await self._emit(
                [
                    ops_event(
                        OpsChange.TARGET_DISABLED,
                        subject=notifier.label,
                        at=now,
                        occurrence=str(int(now)),
                        detail={"target": notifier.label, "reason": reason},
                    )
                ],
                {notifier.key},
            )
            self.wake()
        return reason

    async def _fail_orphans(self, report: DrainReport) -> None:
        # Rows for a target that left the config: keep them for `pinmon deliveries`, but
        # stop trying them here.
        now = self._now()
        orphans = [
            Settlement.failed(d, now, "target no longer configured", None)
            for d in await self._store.due_deliveries(now, limit=_BATCH)
            if d.target not in self._notifiers
        ]
        await self._store.settle_many(orphans)
        report.dead += len(orphans)


_DEAD_TYPE = f"monitor.{OpsChange.DELIVERY_DEAD}"
