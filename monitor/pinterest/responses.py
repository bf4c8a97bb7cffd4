"""How one HTTP answer maps onto a result, a retry or a typed error, with secrets scrubbed.

Server text quoted in an error (an error message, an exception string) is scrubbed of the
token first: a misbehaving proxy may echo the request back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NoReturn

import msgspec

from monitor.errors import AccessLostError, PinterestError, RateLimitedError
from monitor.pinterest.retry import retry_hint_s
from monitor.redact import MASK

_QUOTE_MAX: Final = 200  # server text quoted in an error: enough for a reason, not a page


class Transient(Exception):
    """A try failed in a way that another try may not (5xx, 429, timeout, garbage body)."""

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
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.code = code
        self.request_id = request_id
        self.hint_s = hint_s


class Unauthorized(Exception):
    """Pinterest refused the token (401): refresh once, then give up."""

    def __init__(self, code: int | None, request_id: str | None) -> None:
        super().__init__("401")
        self.code = code
        self.request_id = request_id


def raise_for_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    token: str,
    request_id: str | None,
    path: str,
) -> NoReturn:
    """Raise what a non-2xx answer means: Transient, Unauthorized or a final PinterestError."""
    code, message = _error_body(body, token)
    detail = f"HTTP {status}" + (f" code {code}" if code is not None else "")
    detail += f": {message}" if message else ""
    if status == 401:
        raise Unauthorized(code, request_id)
    if status == 403:
        raise AccessLostError(
            f"GET {path}: access denied ({detail})",
            status=status,
            code=code,
            request_id=request_id,
        )
    if status == 429:
        hint_s = retry_hint_s(headers)
        if message and "spam" in message.lower():
            # A spam block is not a quota: retrying only prolongs it.
            raise RateLimitedError(
                f"GET {path}: blocked as spam ({detail})",
                code=code,
                request_id=request_id,
                retry_after_s=hint_s,
            )
        raise Transient(
            "rate_limited", detail, status=status, code=code, request_id=request_id, hint_s=hint_s
        )
    if status >= 500 or status == 408:
        raise Transient("server_error", detail, status=status, code=code, request_id=request_id)
    raise PinterestError(
        f"GET {path} failed: {detail}", status=status, code=code, request_id=request_id
    )


def exhausted(
    path: str, exc: Transient, tries: int, failure: type[PinterestError]
) -> PinterestError:
    """The error to raise when *exc* was the last of *tries* transient failures."""
    message = f"GET {path} failed after {tries} tries: {exc.detail}"
    if exc.reason == "rate_limited":
        return RateLimitedError(
            message, code=exc.code, request_id=exc.request_id, retry_after_s=exc.hint_s
        )
    return failure(message, status=exc.status, code=exc.code, request_id=exc.request_id)


def _error_body(body: bytes, token: str) -> tuple[int | None, str | None]:
    # Error bodies are {"code": int, "message": str} when Pinterest wrote them; proxies
    # and load balancers send HTML, which is not worth quoting.
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("code")
    message = data.get("message")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        quote(message, token) if isinstance(message, str) else None,
    )


def describe(exc: BaseException, token: str) -> str:
    """An exception as a one-line reason, scrubbed."""
    text = str(exc)
    return type(exc).__name__ + (f": {quote(text, token)}" if text else "")


def quote(text: str, token: str) -> str:
    """*text* on one line, without *token*, cut to a readable length."""
    text = " ".join(text.split())
    if token:
        text = text.replace(token, MASK)
    return text if len(text) <= _QUOTE_MAX else text[: _QUOTE_MAX - 1] + "…"
