"""`pinmon routes test`: which routes an event would reach, and why, criterion by criterion.

:func:`trace` is pure and agrees with :func:`monitor.router.match_routes` by construction
(it asks it who receives); it adds the words for each criterion, so a user sees why a
route did not match. The command builds the event from an ad in the state, or a sample.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from monitor.config import Config, Route
from monitor.config.slack import slack_key, slack_label
from monitor.events import EVENT_TYPES, Event, FieldChange
from monitor.mutes import Mute, muted_by
from monitor.router import match_routes, route_matches

if TYPE_CHECKING:
    from monitor.store import StateStore


@dataclass(frozen=True, slots=True)
class Check:
    """One criterion of one route: what it asks, whether the event meets it."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class RouteTrace:
    """How one route treats the event."""

    route: str
    checks: list[Check]
    receives: bool
    note: str | None
    targets: int


def _checks(event: Event, route: Route) -> list[Check]:
    checks = [
        Check(
            "events",
            any(fnmatchcase(event.type, p) for p in route.events),
            f"{event.type} against {', '.join(route.events)}",
        )
    ]
    if route.accounts:
        ok = event.ad_account_id in route.accounts
        checks.append(
            Check("accounts", ok, f"{event.ad_account_id} in {', '.join(route.accounts)}")
        )
    if route.campaigns:
        ok = event.campaign_id in route.campaigns
        shown = event.campaign_id or "no campaign"
        checks.append(Check("campaigns", ok, f"{shown} in {', '.join(route.campaigns)}"))
    if route.fields:
        ok = any(name in event.changes for name in route.fields)
        changed = ", ".join(event.changes) or "nothing"
        checks.append(Check("fields", ok, f"changed: {changed}; wants {', '.join(route.fields)}"))
    for name, accepted in route.when.items():
        change = event.changes.get(name)
        value = change.new if change is not None else event.state.get(name)
        # One `when` entry alone: a Route with only it set (its events default to "*").
        ok = route_matches(event, Route(name=route.name, when={name: accepted}))
        checks.append(Check(f"when.{name}", ok, f"{value!r} in {', '.join(accepted)}"))
    return checks


def _targets(route: Route) -> int:
    return len(route.apprise) + len(route.webhooks) + len(route.slack_bots) + len(route.plugins)


def trace(event: Event, routes: Sequence[Route]) -> list[RouteTrace]:
    """Every route in config order: its criteria, whether it receives the event and, when
    it matches but does not receive, why (an earlier ``continue = false``, a fallback)."""
    receiving = {r.name for r in match_routes(event, routes)}
    traces: list[RouteTrace] = []
    for route in routes:
        checks = _checks(event, route)
        matched = all(c.ok for c in checks)
        receives = route.name in receiving
        note = None
        if matched and not receives:
            note = (
                "fallback: another route took it"
                if route.fallback
                else "an earlier route has continue = false"
            )
        elif receives and not route.continue_:
            note = "continue = false: later routes are not tried"
        traces.append(RouteTrace(route.name, checks, receives, note, _targets(route)))
    return traces


def sample_event(
    event_type: str,
    *,
    account_id: str,
    ad_id: str | None = None,
    campaign_id: str | None = None,
    ad_group_id: str | None = None,
    name: str | None = None,
    state: dict[str, object] | None = None,
    fields: Sequence[str] = (),
) -> Event:
    """An event to test with: ``fields`` changed (to their value in ``state``)."""
    state = dict(state or {})
    entity = event_type.partition(".")[0]
    return Event(
        id="evt_routes_test",
        type=event_type,
        entity=entity,
        entity_id=ad_id or campaign_id or account_id,
        ad_account_id=account_id,
        campaign_id=campaign_id,
        ad_group_id=ad_group_id,
        ad_id=ad_id,
        name=name,
        detected_at=time.time(),
        changes={f: FieldChange(None, state.get(f)) for f in fields},
        state=state,
    )


def format_trace(event: Event, traces: Sequence[RouteTrace], muted: Mute | None) -> str:
    """The trace as text: one block per route, ✓/✗ per criterion, then the verdict."""
    lines = [f"{event.type} for {event.entity} {event.entity_id} (account {event.ad_account_id})"]
    for t in traces:
        verdict = "RECEIVES" if t.receives else "no"
        lines.append(
            f"route {t.route}: {verdict} ({t.targets} target{'' if t.targets == 1 else 's'})"
        )
        for c in t.checks:
            lines.append(f"  {'✓' if c.ok else '✗'} {c.name}: {c.detail}")
        if t.note:
            lines.append(f"  note: {t.note}")
    if muted is not None:
        lines.append(f"muted by {muted.scope} {muted.entity_id}: nothing is sent")
    return "\n".join(lines)


def would_send(traces: Sequence[RouteTrace], muted: Mute | None) -> bool:
    """Whether any target would receive the event."""
    return muted is None and any(t.receives and t.targets for t in traces)


class UnknownAd(LookupError):
    """The state holds no ad of that id (not watched, or its history was pruned)."""


async def event_for(
    store: StateStore,
    event_type: str,
    *,
    ad_id: str | None,
    account_id: str | None,
    campaign_id: str | None,
    fields: Sequence[str],
) -> Event:
    """The event to trace: built from an ad in the state (its account, parents, name and
    state), or a sample of the given account and campaign.

    Raises:
        UnknownAd: ``ad_id`` is given and the state has no such ad.
    """
    from monitor.web.queries import ad_view

    if ad_id is None:
        return sample_event(
            event_type, account_id=account_id or "0", campaign_id=campaign_id, fields=fields
        )
    view = await ad_view(store, ad_id)
    if view is None or view.account_id is None:
        raise UnknownAd(ad_id)
    newest = view.timeline[0].event if view.timeline else None
    return sample_event(
        event_type,
        account_id=view.account_id,
        ad_id=ad_id,
        campaign_id=campaign_id or (newest.campaign_id if newest else None),
        ad_group_id=newest.ad_group_id if newest else None,
        name=view.name,
        state=dict(view.state),
        fields=fields,
    )


def target_labels(route: Route, labels: Mapping[str, str]) -> list[str]:
    """The route's targets as their masked labels (the ones the daemon recorded, else
    masked here): never a URL's secret."""
    from monitor.notify.apprise import url_key as apprise_key
    from monitor.notify.webhook import url_key as webhook_key
    from monitor.redact import mask_url

    shown = [
        labels.get(apprise_key(url.reveal())) or mask_url(url.reveal()) for url in route.apprise
    ]
    shown += [
        labels.get(webhook_key(hook.url.reveal())) or mask_url(hook.url.reveal())
        for hook in route.webhooks
    ]
    shown += [slack_label(b.channel, b.base_url) for b in route.slack_bots]
    return shown + [f"plugin {p.kind}" for p in route.plugins]


def configured_keys(routes: Sequence[Route]) -> frozenset[str]:
    """The outbox keys of every apprise, webhook and slack-bot target the routes name (a
    plugin's key is its notifier's own, known only once it is built)."""
    from monitor.notify.apprise import url_key as apprise_key
    from monitor.notify.webhook import url_key as webhook_key

    keys = {apprise_key(url.reveal()) for r in routes for url in r.apprise}
    keys |= {slack_key(b.channel, b.base_url) for r in routes for b in r.slack_bots}
    return frozenset(keys | {webhook_key(h.url.reveal()) for r in routes for h in r.webhooks})


def is_orphan(key: str, configured: frozenset[str]) -> bool:
    """Whether an outbox key names an apprise, webhook or slack-bot target the config no
    longer has (the daemon fails such rows with "target no longer configured")."""
    return key.startswith(("apprise:", "webhook:", "slack-bot:")) and key not in configured


async def routes_test(
    config: Config,
    *,
    event_type: str,
    ad_id: str | None,
    account_id: str | None,
    campaign_id: str | None,
    fields: Sequence[str],
) -> int:
    """Print the trace; 0 when some target would receive the event, 1 when none, 2 for
    an unknown type or an ad the state does not hold."""
    import sys

    from monitor.redact import register_config_secrets
    from monitor.store.factory import open_state

    if event_type not in EVENT_TYPES:
        print(f"pinmon: --type: {event_type!r} is not an event type", file=sys.stderr)
        return 2
    register_config_secrets(config)
    store = await open_state(config.monitor.state)
    try:
        mutes = await store.mutes(now=time.time())
        try:
            event = await event_for(
                store,
                event_type,
                ad_id=ad_id,
                account_id=account_id,
                campaign_id=campaign_id,
                fields=fields,
            )
        except UnknownAd:
            print(f"pinmon: --ad: no ad {ad_id} in the state", file=sys.stderr)
            return 2
    finally:
        await store.close()
    traces = trace(event, config.routes)
    muted = muted_by(event, mutes)
    print(format_trace(event, traces, muted))
    return 0 if would_send(traces, muted) else 1
