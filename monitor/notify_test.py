"""`pinmon notify-test`: send a realistic sample event through each route, report each target.

Run before trusting a route: a wrong webhook URL or a revoked Slack token shows up here,
not on the day the first real rejection is lost. Sends go straight to the targets (not
through the outbox); the only thing written to the state store is each target's masked
label, so that `pinmon deliveries` can name targets added since the daemon started.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import structlog

from monitor.config import Config
from monitor.delivery import Deliverer
from monitor.errors import ConfigError, StoreError
from monitor.events import Event, FieldChange, event_id
from monitor.notify import Notifier
from monitor.notify.guard import guarded_session
from monitor.planner import plan_for_route
from monitor.redact import register_config_secrets
from monitor.store import Delivery, StateStore
from monitor.store.factory import open_state
from monitor.targets import save_labels
from monitor.wiring import build_notifiers

log = structlog.get_logger("monitor.notify_test")


def sample_event(config: Config, *, now: float) -> Event:
    """An ad rejection that looks like a real one (marked as a test in its name)."""
    account = config.pinterest.ad_accounts[0] if config.pinterest.ad_accounts else "549755885175"
    reasons = ["LANDING_PAGE_BROKEN", "HASHTAGS"]
    labels = ["Landing page doesn't load", "Too many hashtags in the description"]
    return Event(
        id=event_id("ad", "notify-test", int(now), b"test"),
        type="ad.rejected",
        entity="ad",
        entity_id="687195134316",
        ad_account_id=account,
        campaign_id="626735565838",
        ad_group_id="2680059592705",
        ad_id="687195134316",
        pin_id="394205773611545468",
        name="pinmon notify-test — sample ad",
        campaign_name="Sample campaign",
        ad_group_name="Sample ad group",
        updated_time=int(now),
        detected_at=now,
        changes={
            "review_status": FieldChange("APPROVED", "REJECTED"),
            "summary_status": FieldChange("APPROVED", "REJECTED"),
            "rejected_reasons": FieldChange([], sorted(reasons)),
            "rejection_labels": FieldChange([], sorted(labels)),
        },
        state={
            "status": "ACTIVE",
            "review_status": "REJECTED",
            "summary_status": "REJECTED",
            "rejected_reasons": sorted(reasons),
            "rejection_labels": sorted(labels),
            "is_pin_deleted": False,
        },
    )


async def notify_test(config: Config, *, route: str | None = None) -> int:
    """Send the sample through each route's targets; 0 only when every target accepted it."""
    redactor = register_config_secrets(config)
    routes = [r for r in config.routes if route is None or r.name == route]
    if not routes:
        raise ConfigError([f"{config.path}: no route named {route!r}"])
    now = time.time()
    event = sample_event(config, now=now)
    failures = 0
    async with guarded_session() as session:
        notifiers, by_route = build_notifiers(config, session=session, redactor=redactor)
        await _save_labels(config, notifiers)
        # The real rendering path: the route's template, item limit and channel limit.
        deliverer = Deliverer(
            cast("StateStore", _NoStore()), notifiers, routes=config.routes, now=lambda: now
        )
        targets = {name: [n.key for n in ns] for name, ns in by_route.items()}
        for r in routes:
            # The route's own targets whatever its criteria (a sample is not a real
            # rejection of theirs), as the planner gives them to any producer.
            for row in plan_for_route([event], r, (), targets).rows:
                notifier = notifiers[row.target]
                delivery = Delivery(0, event, r.name, row.target, 0, "pending", now, None, now)
                message = deliverer.message_for([delivery], notifier)
                result = await deliverer.send(notifier, message)
                status = "ok" if result.ok else f"FAILED: {redactor.redact(result.detail)}"
                failures += not result.ok
                print(f"{r.name}: {notifier.label}: {status}")
    print(
        "all targets accepted the test message" if not failures else f"{failures} target(s) failed"
    )
    return 0 if not failures else 1


async def _save_labels(config: Config, notifiers: dict[str, Notifier]) -> None:
    """Record the targets' labels; a store that cannot be opened does not stop the test.

    A SQLite file that does not exist yet is not created: it holds no deliveries to name,
    and the daemon records the labels when it starts.
    """
    if isinstance(config.monitor.state, Path) and not config.monitor.state.exists():
        return
    try:
        store = await open_state(config.monitor.state)
    except StoreError as exc:
        log.warning("targets.labels_not_saved", error=str(exc))
        return
    try:
        await save_labels(store, notifiers)
    except StoreError as exc:
        log.warning("targets.labels_not_saved", error=str(exc))
    finally:
        await store.close()


class _NoStore:
    """notify-test renders and sends only: any store call is a bug."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"notify-test must not touch the state store ({name})")
