"""How long to wait before retrying a request: the policy, backoff with jitter, rate-limit hints.

Pure functions of their inputs (the random source is a parameter), so the waits are testable
without a clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass


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
    all): the caller falls back to exponential backoff.
    """
    for name in ("x-ratelimit-reset", "retry-after"):
        seconds = _number(headers.get(name))
        if seconds is not None and seconds > 0:
            return seconds
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
