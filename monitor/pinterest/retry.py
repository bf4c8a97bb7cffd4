"""The Pinterest client's retry policy: what is transient, how long to wait, when to give up.

Everything the client's retry loop (:meth:`monitor.pinterest.transport.Transport.get`)
decides lives here: which answers are worth another try (:func:`classify_status`), the
attempts and full-jitter backoff, how far a server's rate-limit hint is honoured, that a
429 pauses every request of the token, and the error raised when the tries run out.
Pure functions of their inputs (the random source is a parameter), so the waits are
testable without a clock. The outbox's own retry schedule is
:class:`monitor.schedule.DeliveryRetry`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from monitor.errors import PinterestError, RateLimitedError, TransientError


class Answer(StrEnum):
    """What a non-2xx answer of the API means for the request that got it.

    Attributes:
        UNAUTHORIZED: 401: refresh the token once and try again, then give up.
        ACCESS_LOST: 403: the token cannot reach the account; not transient.
        SPAM_BLOCKED: A 429 that names spam: not a quota, and retrying prolongs it.
        RATE_LIMITED: A quota 429: transient; wait for the hint and pause the token.
        SERVER_ERROR: 408 or any 5xx: transient.
        REFUSED: Any other status: final at once.
    """

    UNAUTHORIZED = "unauthorized"
    ACCESS_LOST = "access_lost"
    SPAM_BLOCKED = "spam_blocked"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    REFUSED = "refused"


#: The answers another try may not meet; their value is the TransientError's reason.
TRANSIENT_ANSWERS = frozenset({Answer.RATE_LIMITED, Answer.SERVER_ERROR})


def classify_status(status: int, message: str | None = None) -> Answer:
    """What a non-2xx ``status`` means, with the error body's ``message`` when it had one."""
    if status == 401:
        return Answer.UNAUTHORIZED
    if status == 403:
        return Answer.ACCESS_LOST
    if status == 429:
        # A spam block is not a quota: retrying only prolongs it.
        spam = message is not None and "spam" in message.lower()
        return Answer.SPAM_BLOCKED if spam else Answer.RATE_LIMITED
    if status >= 500 or status == 408:
        return Answer.SERVER_ERROR
    return Answer.REFUSED


@dataclass(frozen=True, slots=True)
class Step:
    """What the retry loop does after one transient failure.

    Attributes:
        wait_s: Sleep this long, then try again; None when the tries ran out.
        pause_s: Pause every request of the token this long (its budget), or None.
    """

    wait_s: float | None
    pause_s: float | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on retrying one request and on how long each try may take.

    Attributes:
        attempts: Tries per request, including the first. A retry after a token refresh
            does not count: it is the same try with a valid token.
        backoff_initial_s: Ceiling of the first backoff; it doubles with every failure.
        backoff_max_s: Ceiling of any backoff.
        rate_limit_wait_max_s: Cap on honouring ``x-ratelimit-reset`` / ``Retry-After``,
            which can announce a daily window (~67,000 s).
        connect_timeout_s: Limit on opening a connection to the API.
        total_timeout_s: Limit on one try, from connecting to the last byte of the body.
    """

    attempts: int = 4
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    rate_limit_wait_max_s: float = 120.0
    connect_timeout_s: float = 10.0
    total_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")
        for name in ("backoff_initial_s", "backoff_max_s", "rate_limit_wait_max_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be zero or more")
        for name in ("connect_timeout_s", "total_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")

    def backoff_s(self, failures: int, rng: random.Random | None = None) -> float:
        """Return the wait after the *failures*-th consecutive failure (1-based).

        Full jitter (a uniform draw between zero and the exponential ceiling) rather than a
        fixed delay: many accounts polled by one daemon fail together when Pinterest has
        a bad minute, and must not come back in lockstep.
        """
        exponent = min(max(failures - 1, 0), 62)  # 2**63 overflows nothing but is absurd
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2.0**exponent)
        return (rng or random).uniform(0.0, ceiling)

    def rate_limit_wait_s(self, hint_s: float) -> float:
        """Return how long to honour a server's "retry in *hint_s* seconds"."""
        return min(max(hint_s, 0.0), self.rate_limit_wait_max_s)

    def after(
        self, failure: TransientError, failures: int, rng: random.Random | None = None
    ) -> Step:
        """Decide what follows the *failures*-th consecutive transient failure (1-based).

        The wait is the server's hint (capped) when it gave one, else full-jitter backoff.
        A 429 also pauses the token's budget for that wait, even when this request gives
        up: the quota is shared by every request of the token, not just this one.
        """
        if failure.hint_s is not None:
            wait_s = self.rate_limit_wait_s(failure.hint_s)
        else:
            wait_s = self.backoff_s(failures, rng)
        return Step(
            wait_s=None if failures >= self.attempts else wait_s,
            pause_s=wait_s if failure.status == 429 else None,
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The rate-limit headers of the latest response that carried any.

    Attributes:
        limit: ``x-ratelimit-limit``: requests allowed in the window.
        remaining: ``x-ratelimit-remaining``: requests left in the window.
        reset_s: ``x-ratelimit-reset``: seconds until the window resets.
    """

    limit: int | None
    remaining: int | None
    reset_s: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        """Read the headers, or return None when the response carries none of them."""
        limit = _number(headers.get("x-ratelimit-limit"))
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset_s = _number(headers.get("x-ratelimit-reset"))
        if limit is None and remaining is None and reset_s is None:
            return None
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset_s=reset_s,
        )


def retry_hint_s(headers: Mapping[str, str]) -> float | None:
    """Return the seconds a 429 asks us to wait: ``x-ratelimit-reset``, else ``Retry-After``.

    ``Retry-After`` as an HTTP date is ignored (Pinterest does not document the header at
    all): the caller falls back to exponential backoff. A 429 whose window still has
    requests left (``x-ratelimit-remaining`` above 0) was not about the window — the
    per-second ceiling — so its reset is no hint: waiting out the minute would be wrong.
    """
    remaining = _number(headers.get("x-ratelimit-remaining"))
    names = ("retry-after",) if remaining is not None and remaining > 0 else ()
    for name in names or ("x-ratelimit-reset", "retry-after"):
        seconds = _number(headers.get(name))
        if seconds is not None and seconds > 0:
            return seconds
    return None


def exhausted(
    path: str, failure: TransientError, tries: int, final: type[PinterestError]
) -> PinterestError:
    """The error to raise when *failure* was the last of *tries* transient failures:
    :class:`RateLimitedError` after 429s, else *final* (a listing raises ListingError)."""
    message = f"GET {path} failed after {tries} tries: {failure.detail}"
    if failure.reason == Answer.RATE_LIMITED:
        return RateLimitedError(
            message, code=failure.code, request_id=failure.request_id, retry_after_s=failure.hint_s
        )
    return final(message, status=failure.status, code=failure.code, request_id=failure.request_id)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
