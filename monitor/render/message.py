"""The message a notifier sends: what rendering produces, whatever the target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from monitor.events import Event

Level = Literal["info", "success", "warning", "failure"]

#: Every level a :class:`Message` may carry, mildest first.
LEVELS: Final[tuple[Level, ...]] = ("success", "info", "warning", "failure")


@dataclass(frozen=True, slots=True)
class Message:
    """One notification, ready to send.

    Attributes:
        title: One line: plain text, or the body's markup for targets that show the
            title inside the body (see :class:`monitor.render.escape.Dialect`).
        body: Markdown, with text from Pinterest escaped for the target.
        level: How the target should colour it: ``info``, ``success``, ``warning`` or
            ``failure``.
        event_ids: The events this message reports, for the outbox and for logs.
        events: The events themselves, for targets that send structured data (webhooks)
            rather than the rendered text.
        account_names: Ad account id → name for the accounts of ``events`` (those
            known), for targets that render the events themselves (Slack's Block Kit).
    """

    title: str
    body: str
    level: Level
    event_ids: tuple[str, ...]
    events: tuple[Event, ...] = ()
    account_names: Mapping[str, str] = field(default_factory=dict)
