"""One hierarchy for every error pinmon raises on purpose.

A failed delivery is not an error: notifiers report it as a typed
:class:`~monitor.notify.SendResult`, whose outcome the delivery loop acts on.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error pinmon raises deliberately."""


class ConfigError(MonitorError):
    """The configuration is invalid; carries one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class PinterestError(MonitorError):
    """A request to the Pinterest API failed after its retries."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class TransientError(PinterestError):
    """One try failed in a way another may not (5xx, 429, timeout, garbage body).

    Raised inside the client's retry loop, which retries it under its
    :class:`~monitor.pinterest.retry.RetryPolicy` and never lets it out: when the
    retries run out it becomes a final error (see :func:`monitor.pinterest.retry.exhausted`).

    Attributes:
        reason: A stable word for logs: ``rate_limited``, ``server_error``, ``timeout``,
            ``connection_error``, ``truncated_body``, ``too_large``, ``not_json``, ...
        detail: One scrubbed line saying what happened.
        hint_s: How long the server asked us to wait, when it said so (a 429).
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
        hint_s: float | None = None,
    ) -> None:
        super().__init__(detail, status=status, code=code, request_id=request_id)
        self.reason = reason
        self.detail = detail
        self.hint_s = hint_s


class UnauthorizedError(PinterestError):
    """Pinterest refused the token (401): the client refreshes it once and tries again,
    and raises :class:`AuthError` if it is refused again. Never leaves the client."""

    def __init__(self, code: int | None, request_id: str | None) -> None:
        super().__init__("401", status=401, code=code, request_id=request_id)


class AuthError(PinterestError):
    """The token was refused (401) and could not be refreshed."""


class AccessLostError(PinterestError):
    """The token lost access to an ad account (403): not transient."""


class RateLimitedError(PinterestError):
    """Pinterest answered 429 and the retries ran out."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        code: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after_s = retry_after_s


class ListingError(PinterestError):
    """A listing did not complete: a failed page, a repeated bookmark or a garbage body.

    The entities it returned so far must never be read as "everything that exists".
    """


class ListenError(MonitorError):
    """An address to serve on cannot be bound: in use, not local, or not permitted."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(f"cannot listen on {shown}:{port}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason


class StoreError(MonitorError):
    """The state store could not be read or written."""
