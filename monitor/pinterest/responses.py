"""How one HTTP answer becomes a typed error, with secrets scrubbed.

Which answers are transient is the retry policy's call (:mod:`monitor.pinterest.retry`);
this module builds the errors that say so.

Server text quoted in an error (an error message, an exception string) is scrubbed of the
token first: a misbehaving proxy may echo the request back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NoReturn

import msgspec

from monitor.errors import (
    AccessLostError,
    PinterestError,
    RateLimitedError,
    TransientError,
    UnauthorizedError,
)
from monitor.pinterest.retry import TRANSIENT_ANSWERS, Answer, classify_status, retry_hint_s
from monitor.redact import MASK

_QUOTE_MAX: Final = 200  # server text quoted in an error: enough for a reason, not a page


def raise_for_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    token: str,
    request_id: str | None,
    path: str,
) -> NoReturn:
    """Raise what a non-2xx answer means (see :func:`~monitor.pinterest.retry.classify_status`):
    TransientError, UnauthorizedError, or a final PinterestError."""
    code, message = _error_body(body, token)
    detail = f"HTTP {status}" + (f" code {code}" if code is not None else "")
    detail += f": {message}" if message else ""
    answer = classify_status(status, message)
    if answer is Answer.UNAUTHORIZED:
        raise UnauthorizedError(code, request_id)
    if answer is Answer.ACCESS_LOST:
        raise AccessLostError(
            f"GET {path}: access denied ({detail})",
            status=status,
            code=code,
            request_id=request_id,
        )
    hint_s = retry_hint_s(headers) if status == 429 else None
    if answer is Answer.SPAM_BLOCKED:
        raise RateLimitedError(
            f"GET {path}: blocked as spam ({detail})",
            code=code,
            request_id=request_id,
            retry_after_s=hint_s,
        )
    if answer in TRANSIENT_ANSWERS:
        raise TransientError(
            answer.value, detail, status=status, code=code, request_id=request_id, hint_s=hint_s
        )
    raise PinterestError(
        f"GET {path} failed: {detail}", status=status, code=code, request_id=request_id
    )


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
