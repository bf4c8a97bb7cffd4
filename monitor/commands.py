"""Store-backed commands: deliveries, redeliver, events, mutes (`pinmon deliveries`, ...).

The read-only ones (``show_*``) are synchronous: they read on a connection of their own
(``store/direct.py``), without the event loop the writing ones run the store in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.config import Config
from monitor.events import Event, to_json
from monitor.mutes import Mute, Scope
from monitor.redact import register_config_secrets
from monitor.store import LISTED, STATUSES, Delivery, alerting, outbox, settings
from monitor.store.direct import Direct, open_direct
from monitor.targets import label_of

if TYPE_CHECKING:
    from monitor.store import StateStore


async def _open(config: Config) -> StateStore:
    from monitor.store.factory import open_state

    # Secrets first: an error opening a database may quote its URL.
    register_config_secrets(config)
    return await open_state(config.monitor.state)


def _read(config: Config) -> Direct:
    # Secrets first, as for `_open`.
    register_config_secrets(config)
    return open_direct(config.monitor.state)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def show_deliveries(config: Config, *, everything: bool, as_json: bool) -> int:
    """Print pending, failed and dead deliveries (``everything``: delivered ones too).

    Targets are named by the masked labels the daemon recorded (see :mod:`monitor.targets`).
    """
    statuses = ["pending", "failed", "dead"] + (["delivered"] if everything else [])
    with _read(config) as state:
        rows = state.call("deliveries", outbox.deliveries, statuses, LISTED, None)
        labels = state.call("labels", settings.labels)
    print_deliveries(rows, labels, as_json=as_json)
    return 0


def print_deliveries(rows: Sequence[Delivery], labels: Mapping[str, str], *, as_json: bool) -> None:
    """`pinmon deliveries`'s output: a table, or one JSON object per line."""
    import json

    if as_json:
        for d in rows:
            print(
                json.dumps(
                    {
                        "id": d.id,
                        "event_id": d.event.id,
                        "type": d.event.type,
                        "route": d.route,
                        "target": d.target,
                        "target_label": label_of(labels, d.target),
                        "status": d.status,
                        "attempts": d.attempts,
                        "next_attempt_at": d.next_attempt_at,
                        "last_error": d.last_error,
                    }
                )
            )
        return
    if not rows:
        print("no deliveries waiting or failed")
        return
    width = max(len("route"), *(len(d.route) for d in rows))
    print(
        f"{'status':<9} {'attempts':>8}  {'next try':<20} {'event':<28} {'type':<24} "
        f"{'route':<{width}}  target / error"
    )
    for d in rows:
        nxt = _when(d.next_attempt_at) if d.status == "pending" else "-"
        err = f" / {d.last_error}" if d.last_error else ""
        print(
            f"{d.status:<9} {d.attempts:>8}  {nxt:<20} {d.event.id:<28} "
            f"{d.event.type:<24} {d.route:<{width}}  {label_of(labels, d.target)}{err}"
        )


async def redeliver(config: Config, *, event_id: str | None, failed: bool) -> int:
    """Queue deliveries again; 1 when nothing matched.

    One event's deliveries are queued again, and the planner gives it any target the
    config routes it to now that it never had (a route fixed or added since): a redelivery
    is an explicit ask, so mutes do not hold it back.
    """
    store = await _open(config)
    try:
        count = await store.requeue(event_id=event_id, failed=failed)
        added = await _plan_again(config, store, event_id) if event_id is not None else 0
        # A target disabled by a 410 gets another chance: the user says it is fixed.
        enabled = await store.enable_targets()
    finally:
        await store.close()
    print(f"queued {count} deliver{'y' if count == 1 else 'ies'} again")
    if added:
        print(f"queued {added} new deliver{'y' if added == 1 else 'ies'} to targets it never had")
    if enabled:
        print(f"re-enabled {enabled} target{'' if enabled == 1 else 's'} disabled by 410 Gone")
    return 0 if count or added else 1


async def _plan_again(config: Config, store: StateStore, event_id: str) -> int:
    from monitor.planner import plan
    from monitor.wiring import build_notifiers

    found = await store.events(event_id=event_id, limit=1)
    if not found:
        return 0
    _, by_route = build_notifiers(config)
    targets = {name: [n.key for n in ns] for name, ns in by_route.items()}
    had = {
        (d.route, d.target)
        for d in await store.deliveries(statuses=STATUSES, event_id=event_id, limit=10_000)
    }
    rows = [
        r for r in plan(found, config.routes, (), targets).rows if (r.route, r.target) not in had
    ]
    if rows:
        await store.record_events(found, deliveries=rows, at=time.time())
    return len(rows)


def show_events(
    config: Config, *, since_s: float | None, types: Sequence[str], as_json: bool
) -> int:
    """Print the event history, newest first."""
    since = time.time() - since_s if since_s is not None else None
    with _read(config) as state:
        rows = state.call("events", outbox.events, since, tuple(types), LISTED, None, None)
    print_events(rows, as_json=as_json)
    return 0


def print_events(rows: Sequence[Event], *, as_json: bool) -> None:
    """`pinmon events`'s output: one line, or one JSON document, per event."""
    for event in rows:
        if as_json:
            print(to_json(event).decode())
        else:
            changes = ", ".join(f"{k}: {c.old} -> {c.new}" for k, c in event.changes.items())
            print(
                f"{_when(event.detected_at)}  {event.type:<26} {event.entity_id:<16} "
                f"{event.name or ''}  {changes}".rstrip()
            )
    if not rows and not as_json:
        print("no events")


async def mute(
    config: Config, *, scope: Scope, entity_id: str, for_s: float, reason: str | None
) -> int:
    """Silence an ad, campaign or account for ``for_s`` seconds."""
    now = time.time()
    entry = Mute(scope, entity_id, until=now + for_s, created_at=now, reason=reason)
    store = await _open(config)
    try:
        await store.set_mute(entry)
    finally:
        await store.close()
    print(
        f"muted {scope} {entity_id} until {_when(entry.until)}" + (f" ({reason})" if reason else "")
    )
    return 0


async def unmute(config: Config, *, scope: Scope, entity_id: str) -> int:
    """Lift a mute; 1 when there was none."""
    store = await _open(config)
    try:
        gone = await store.delete_mute(scope, entity_id)
    finally:
        await store.close()
    print(f"unmuted {scope} {entity_id}" if gone else f"{scope} {entity_id} was not muted")
    return 0 if gone else 1


def show_mutes(config: Config) -> int:
    """Print the mutes in force."""
    with _read(config) as state:
        mutes = state.call("mutes", alerting.mutes, time.time())
    print_mutes(mutes)
    return 0


def print_mutes(mutes: Sequence[Mute]) -> None:
    """`pinmon mutes`'s output, soonest to end first."""
    if not mutes:
        print("no active mutes")
    for m in sorted(mutes, key=lambda m: m.until):
        print(f"{m.scope:<8} {m.entity_id:<20} until {_when(m.until)}  {m.reason or ''}".rstrip())
