"""What a send to a target came to, decided in one place: the delivery failure vocabulary.

Every notifier — apprise, webhooks, third-party plugins — reports its answer through
:func:`classify`, and the delivery loop acts on the :class:`Outcome` alone, so "which
answers are retried" is one table, not one per adapter. Pure: no clock, no I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

__all__ = [
    "RETRYABLE_STATUSES",
    "RETRY_AFTER_STATUSES",
    "Fault",
    "Outcome",
    "Verdict",
    "classify",
    "legacy_outcome",
]


class Outcome(StrEnum):
    """What the delivery loop does after a send.

    Attributes:
        SENT: The target accepted the message: never send it again.
        RETRY: Not now, maybe later: the delivery waits for its next slot (see
            :mod:`monitor.schedule`), and is dead after the last one.
        PERMANENT: Sending the same message again cannot succeed (a 400, a 404, a
            redirect, a URL no retry can change): given up on at once, and reported.
        DISABLE: The target is retired (410 Gone): given up on, and nothing more is
            sent to it until ``pinmon redeliver``.
    """

    SENT = "sent"
    RETRY = "retry"
    PERMANENT = "permanent"
    DISABLE = "disable"


class Fault(StrEnum):
    """How a send failed when no HTTP answer says why (the exception's kind).

    Attributes:
        TIMEOUT: No answer in time; the target may still act on it.
        UNREACHABLE: No connection: DNS, refused, TLS, a name resolving to a refused
            address (the next attempt resolves it again).
        BROKEN: The request failed in flight, or the notifier itself did.
        UNSENDABLE: Nothing a retry could change: the URL or the message itself.
        REVOKED: The target answered that our credentials or its destination are no
            more (Slack's ``invalid_auth``, ``channel_not_found``): like a 410 Gone.
    """

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BROKEN = "broken"
    UNSENDABLE = "unsendable"
    REVOKED = "revoked"


#: Answers that say "not now" rather than "never" (every 5xx is one too): the same
#: request may succeed later. Any other 4xx, and any 3xx (redirects are not followed: the
#: Location may carry a token, and nobody configured it), is permanent.
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429})

#: Only these answers carry a Retry-After we honour (RFC 9110 defines it for both).
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})

_GONE: Final = 410


class Verdict(NamedTuple):
    """The classifier's answer: the outcome, and the Retry-After the schedule honours."""

    outcome: Outcome
    retry_after_s: float | None = None


def classify(
    status: int | None = None,
    *,
    fault: Fault | None = None,
    retry_after_s: float | None = None,
) -> Verdict:
    """Decide what a send came to, from the target's HTTP answer or the failure's kind.

    Args:
        status: The HTTP status the target answered, when it answered; it decides over
            ``fault``.
        fault: How the send failed without an answer; None for an unexplained failure,
            which is retried like a broken request.
        retry_after_s: The wait the target asked for. Kept only with a retried 429 or
            503, or with no status at all (a non-HTTP target that knows its own wait).

    Returns:
        ``2xx`` sent; ``410`` disable; ``408``/``425``/``429``/``5xx`` retry; any other
        status permanent. Without a status: ``UNSENDABLE`` permanent, ``REVOKED``
        disable, anything else retry.
    """
    if status is None:
        if fault is Fault.UNSENDABLE:
            return Verdict(Outcome.PERMANENT)
        if fault is Fault.REVOKED:
            return Verdict(Outcome.DISABLE)
        return Verdict(Outcome.RETRY, retry_after_s)
    if 200 <= status < 300:
        return Verdict(Outcome.SENT)
    if status == _GONE:
        return Verdict(Outcome.DISABLE)
    if status in RETRYABLE_STATUSES or status >= 500:
        return Verdict(Outcome.RETRY, retry_after_s if status in RETRY_AFTER_STATUSES else None)
    return Verdict(Outcome.PERMANENT)


def legacy_outcome(ok: bool, *, permanent: bool, status: int | None) -> Outcome:
    """The outcome of a result built the pre-:class:`Outcome` way, from its flags.

    Plugins written against ``SendResult(ok, target, detail, permanent=...)`` keep their
    meaning: their own ``permanent`` decides, except that a 410 Gone disables the target
    whichever kind of target answered it.
    """
    if ok:
        return Outcome.SENT
    if status == _GONE:
        return Outcome.DISABLE
    return Outcome.PERMANENT if permanent else Outcome.RETRY
