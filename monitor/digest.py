"""What one message of the delivery loop holds, pure: digest groups and their rendering.

A digest group is the due deliveries of one route and account for a target that takes
digests; webhooks and pinmon's own reports go one event per message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from monitor.config import Route
from monitor.notify import Message, Notifier
from monitor.render import MARKDOWN, Dialect, bare, render
from monitor.render.templates import apply as apply_template
from monitor.store import Delivery

#: Events of one route and account sent as one digest message at most.
MAX_GROUP = 100


def digest_groups(due: list[Delivery], notifier: Notifier) -> list[list[Delivery]]:
    """Digest groups: per route and account; one event each for webhooks and self-reports."""
    groups: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    for d in due:
        single = not notifier.batch or d.event.is_report
        key = (d.route, d.event.id if single else d.event.ad_account_id)
        if len(groups[key]) < MAX_GROUP:
            groups[key].append(d)
    return list(groups.values())


def compose(
    batch: list[Delivery], notifier: Notifier, route: Route | None, names: Mapping[str, str]
) -> Message:
    """Render a group for its route (template, max items) in the target's dialect, and
    fit the target's limit; nothing for a target that sends the events themselves."""
    events = [d.event for d in batch]
    # A notifier built by hand (tests, embedders) may predate the attribute.
    if not getattr(notifier, "sends_text", True):
        # A webhook sends the events themselves, Slack's Block Kit is built from them:
        # nothing to render here.
        known = {e.ad_account_id: names[e.ad_account_id] for e in events
                 if e.ad_account_id in names}  # fmt: skip
        return replace(bare(events), account_names=known)
    max_items = route.max_items if route is not None else 20
    limit, dialect = notifier.body_limit, notifier.dialect
    if not isinstance(dialect, Dialect):
        dialect = MARKDOWN
    while True:
        message = render(events, account_names=names, max_items=max_items, dialect=dialect)
        if route is not None and route.template is not None:
            title, body = apply_template(
                route.template.title,
                route.template.body,
                list(message.events),
                account_names=names,
                default_title=message.title,
                default_body=message.body,
                dialect=dialect,
            )
            message = replace(message, title=title, body=body)
        if limit is None or len(message.body) <= limit or max_items <= 1:
            break
        max_items = max(1, max_items // 2)
    if limit is not None and len(message.body) > limit:
        message = replace(message, body=message.body[: limit - 1] + "…")
    return message
