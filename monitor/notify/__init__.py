"""The notifier interface the delivery loop drives: a message in, a typed result out.

Adapters (apprise, webhooks) implement :class:`Notifier`; none of them raises for an
ordinary delivery failure, and none of them reports a failure as success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

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
    """

    title: str
    body: str
    level: Level
    event_ids: tuple[str, ...]
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one send to one target came to.

    Attributes:
        ok: The target accepted the message. Never true for a failure, nor for a
            timeout (whose delivery is unknown).
        target: The notifier's masked label, safe to log.
        detail: Why it failed, e.g. ``HTTP 500: ...``; never contains credentials.
        permanent: Retrying the same message cannot help (the target answered 400, 401,
            403, 404, ...): the caller should stop retrying and alert instead.
        retry_after_s: How long the target asked us to wait, when it said so.
        status: The HTTP status the target answered, when there was one: a 410 Gone
            from any kind of target disables it.
    """

    ok: bool
    target: str
    detail: str = ""
    permanent: bool = False
    retry_after_s: float | None = None
    status: int | None = None

    @property
    def gone(self) -> bool:
        """The target says it is retired for good (HTTP 410): stop sending to it."""
        return self.status == 410


class Notifier(Protocol):
    """A delivery target.

    Attributes:
        key: A stable id for the outbox row, e.g. ``apprise:<sha256(url)[:16]>``: the
            same target keeps the same key across restarts. Never secret.
        label: Masked and human, e.g. ``slack://T...2/****/****/#ads-alerts``.
        batch: Whether several events may go out as one message (a digest). Targets
            that want one event per request (webhooks) say False.

    Optionally, ``body_limit`` (the longest body the target takes) and ``dialect`` (a
    :class:`monitor.render.escape.Dialect`: the markup the target reads, default a
    CommonMark body under a plain title) shape the messages it is handed.
    """

    key: str
    label: str
    batch: bool

    async def send(self, message: Message) -> SendResult:
        """Deliver one message; report failure as a result, never as an exception."""
        ...
