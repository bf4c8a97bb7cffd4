"""The notifier interface the delivery loop drives: a message in, a typed result out.

Adapters (apprise, webhooks, plugins) implement :class:`Notifier`; none of them raises for
an ordinary delivery failure, and none of them reports a failure as success. What a
failure means (retry, permanent, disable) is decided by :func:`classify`, for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from monitor.notify.outcome import Fault, Outcome, Verdict, classify, legacy_outcome
from monitor.render.escape import Dialect
from monitor.render.message import LEVELS, Level, Message

__all__ = ["LEVELS", "Fault", "Level", "Message", "Notifier", "Outcome", "SendResult", "classify"]


@dataclass(frozen=True, slots=True, init=False)
class SendResult:
    """What one send to one target came to.

    Build one with :meth:`sent` or :meth:`failed` (which asks :func:`classify`); the
    older ``SendResult(ok, target, detail, permanent=..., retry_after_s=..., status=...)``
    still works and keeps its meaning (see :func:`~monitor.notify.outcome.legacy_outcome`).

    Attributes:
        outcome: What the delivery loop does next: sent, retry, permanent or disable.
        target: The notifier's masked label, safe to log.
        detail: Why it failed, e.g. ``HTTP 500: ...``; never contains credentials.
        status: The HTTP status the target answered, when there was one.
        retry_after_s: How long the target asked us to wait, when it said so and the
            classifier kept it.
    """

    outcome: Outcome
    target: str
    detail: str
    status: int | None
    retry_after_s: float | None

    def __init__(
        self,
        ok: bool | None = None,
        target: str | None = None,
        detail: str = "",
        *,
        outcome: Outcome | None = None,
        permanent: bool = False,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        if target is None:
            raise TypeError("SendResult needs a target")
        if outcome is None:
            if ok is None:
                raise TypeError("SendResult needs ok or an outcome")
            outcome = legacy_outcome(ok, permanent=permanent, status=status)
        elif (ok is not None and ok != (outcome is Outcome.SENT)) or (
            permanent and outcome not in _GIVEN_UP
        ):
            raise ValueError(f"ok={ok}, permanent={permanent} contradict outcome {outcome}")
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "retry_after_s", retry_after_s)

    @classmethod
    def sent(cls, target: str) -> SendResult:
        """The target accepted the message."""
        return cls(target=target, outcome=Outcome.SENT)

    @classmethod
    def failed(
        cls,
        target: str,
        detail: str,
        *,
        status: int | None = None,
        fault: Fault | None = None,
        retry_after_s: float | None = None,
    ) -> SendResult:
        """A failed send, its outcome decided by :func:`classify`.

        A 2xx here is a target that refused in its body (Slack answers 200 with
        ``ok: false``): no status says "never", so it is retried.
        """
        verdict = classify(status, fault=fault, retry_after_s=retry_after_s)
        if verdict.outcome is Outcome.SENT:
            verdict = Verdict(Outcome.RETRY)
        return cls(
            target=target,
            detail=detail,
            outcome=verdict.outcome,
            status=status,
            retry_after_s=verdict.retry_after_s,
        )

    @property
    def ok(self) -> bool:
        """The target accepted the message. Never true for a failure, nor for a timeout
        (whose delivery is unknown)."""
        return self.outcome is Outcome.SENT

    @property
    def permanent(self) -> bool:
        """Retrying the same message cannot help (permanent, or the target is retired)."""
        return self.outcome in _GIVEN_UP


_GIVEN_UP: Final = frozenset({Outcome.PERMANENT, Outcome.DISABLE})


class Notifier(Protocol):
    """A delivery target.

    Attributes:
        key: A stable id for the outbox row, e.g. ``apprise:<sha256(url)[:16]>``: the
            same target keeps the same key across restarts. Never secret.
        label: Masked and human, e.g. ``slack://T...2/****/****/#ads-alerts``.
        batch: Whether several events may go out as one message (a digest). Targets
            that want one event per request (webhooks) say False.

        body_limit: The longest body the target takes (None: no limit): digests are
            cut to fit it with "…and N more".
        dialect: The markup the target reads (:class:`monitor.render.escape.Dialect`),
            which Pinterest text is escaped for; ``MARKDOWN`` for most.
        sends_text: Whether the target sends the message's title and body. Webhooks
            (which POST the events' JSON) say False, and get a message with the events
            and no text: nothing is rendered for them.

    A plugin may leave ``body_limit``, ``dialect`` and ``sends_text`` out:
    ``load_notifier`` supplies the defaults.
    """

    key: str
    label: str
    batch: bool
    body_limit: int | None
    dialect: Dialect
    sends_text: bool

    async def send(self, message: Message) -> SendResult:
        """Deliver one message; report failure as a result, never as an exception."""
        ...
