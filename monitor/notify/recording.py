"""A notifier that keeps what it is sent in memory: for tests, demos and plugin authors.

Like ``structlog.testing``, it ships in the package because it is useful outside our own
test suite: point a route at it to see exactly what the delivery loop hands a target,
script it to fail to see how the outbox retries, or copy it as the skeleton of a plugin.
Its constructor follows the plugin contract (:mod:`monitor.notify.plugins`), so it can be
registered as a ``pinmon.notifiers`` entry point as it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.events import Event
from monitor.notify import Message, Outcome, SendResult
from monitor.render.escape import MARKDOWN, Dialect

__all__ = ["RecordingNotifier"]


@dataclass(frozen=True, slots=True)
class _Scripted:
    permanent: bool
    detail: str
    retry_after_s: float | None
    status: int | None


class RecordingNotifier:
    """Records every message; answers success unless scripted to fail.

    Args:
        options: Route options, as a plugin receives them: ``name`` (default
            ``"default"``) makes the key ``recording:<name>``; ``batch`` (default
            true) says whether the delivery loop may send digests.
        timeout_s: Accepted for the plugin contract; nothing here can time out.

    Attributes:
        messages: Every message received, failed ones included, in order.
        delivered: The messages answered with success.
    """

    def __init__(
        self, options: Mapping[str, Any] | None = None, *, timeout_s: float = 30.0
    ) -> None:
        opts = dict(options or {})
        name = str(opts.get("name", "default"))
        self.key = f"recording:{name}"
        self.label = f"recording://{name}"
        self.batch = bool(opts.get("batch", True))
        self.body_limit: int | None = None
        self.dialect: Dialect = MARKDOWN
        self.sends_text = True  # it records the rendered message
        self.timeout_s = timeout_s
        self.messages: list[Message] = []
        self.delivered: list[Message] = []
        self._script: deque[_Scripted] = deque()

    def __repr__(self) -> str:
        return f"RecordingNotifier({self.label!r}, messages={len(self.messages)})"

    @property
    def events(self) -> list[Event]:
        """Every event of every message received, in order (repeats on redelivery)."""
        return [event for message in self.messages for event in message.events]

    def fail_next(
        self,
        n: int = 1,
        *,
        permanent: bool = False,
        detail: str = "scripted failure",
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        """Answer the next ``n`` sends with a failure, then succeed again.

        With ``status``, the failure is that HTTP answer as the classifier reads it (a
        410 disables the target, a 503 is retried); without, ``permanent`` says which.
        """
        scripted = _Scripted(permanent, detail, retry_after_s, status)
        self._script.extend(scripted for _ in range(n))

    async def send(self, message: Message) -> SendResult:
        """Record ``message``; succeed, or fail as scripted."""
        self.messages.append(message)
        if self._script:
            failure = self._script.popleft()
            if failure.status is not None:
                return SendResult.failed(
                    self.label,
                    failure.detail,
                    status=failure.status,
                    retry_after_s=failure.retry_after_s,
                )
            return SendResult(
                outcome=Outcome.PERMANENT if failure.permanent else Outcome.RETRY,
                target=self.label,
                detail=failure.detail,
                retry_after_s=failure.retry_after_s,
            )
        self.delivered.append(message)
        return SendResult.sent(self.label)
