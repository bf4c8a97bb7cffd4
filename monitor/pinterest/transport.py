"""One GET against the Pinterest API: auth header, timeouts, bounded retries, typed errors.

Every wait goes through the injected ``sleep`` so tests never sleep. Tokens never reach a
log line or an error message: they live only in the Authorization header, and server text
quoted in an error is scrubbed of the token before use.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

import aiohttp
import msgspec
import structlog

from monitor import __version__
from monitor.errors import AccessLostError, AuthError, PinterestError, RateLimitedError
from monitor.pinterest.auth import TokenSource
from monitor.pinterest.retry import RateLimit, RetryPolicy, retry_hint_s

log = structlog.get_logger(__name__)

T = TypeVar("T")
#: Metrics hook: (endpoint template, HTTP status, seconds the try took).
OnResponse = Callable[[str, int, float], None]
Sleep = Callable[[float], Awaitable[None]]

USER_AGENT: Final = f"pinmon/{__version__}"
_QUOTE_MAX: Final = 200  # server text quoted in an error: enough for a reason, not a page


@dataclass(frozen=True, slots=True)
class Request:
    """A GET to send: ``endpoint`` is the path template used for logs and metrics."""

    endpoint: str
    path: str
    params: Sequence[tuple[str, str]] = ()


class _Transient(Exception):
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


class _Unauthorized(Exception):
    def __init__(self, code: int | None, request_id: str | None) -> None:
        super().__init__("401")
        self.code = code
        self.request_id = request_id


class Transport:
    """Sends GETs with retries and maps every failure onto :mod:`monitor.errors`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        tokens: TokenSource,
        retry: RetryPolicy,
        sleep: Sleep,
        on_response: OnResponse | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._retry = retry
        self._sleep = sleep
        self._on_response = on_response
        self._rng = rng
        # sock_connect rather than connect: the latter also counts waiting for a pooled
        # connection, which under load is not the API being unreachable.
        self._timeout = aiohttp.ClientTimeout(
            total=retry.total_timeout_s, sock_connect=retry.connect_timeout_s
        )
        self.rate_limit: RateLimit | None = None

    async def get(
        self,
        request: Request,
        decode: Callable[[bytes], T],
        *,
        failure: type[PinterestError] = PinterestError,
    ) -> T:
        """Send *request* until it succeeds or the policy runs out, and decode the body.

        Args:
            request: What to send.
            decode: Turns a 2xx body into the result; its msgspec errors count as a
                garbage body, which is retried.
            failure: The error raised when transient failures exhaust the retries.

        Raises:
            AuthError: 401 again after one token refresh, or the refresh failed.
            AccessLostError: 403.
            RateLimitedError: 429 that is a spam block, or 429s until retries ran out.
            PinterestError: Any other 4xx at once (or *failure* after exhausted retries).
        """
        failures = 0
        tries = 0
        refreshed = False
        fresh: str | None = None
        while True:
            tries += 1
            token = fresh or await self._tokens.token()
            fresh = None
            try:
                return await self._try(request, token, decode, tries)
            except _Unauthorized as exc:
                if refreshed:
                    raise AuthError(
                        f"GET {request.path}: access token refused (401) again after a refresh",
                        status=401,
                        code=exc.code,
                        request_id=exc.request_id,
                    ) from None
                refreshed = True
                log.info("api.token_refreshing", endpoint=request.endpoint, attempt=tries)
                fresh = await self._tokens.refresh(token)
            except _Transient as exc:
                failures += 1
                if failures >= self._retry.attempts:
                    raise _exhausted(request, exc, failures, failure) from None
                wait_s = self._wait_s(exc, failures)
                log.warning(
                    "api.retry",
                    endpoint=request.endpoint,
                    reason=exc.reason,
                    status=exc.status,
                    request_id=exc.request_id,
                    attempt=tries,
                    wait_s=round(wait_s, 3),
                )
                await self._sleep(wait_s)

    def _wait_s(self, exc: _Transient, failures: int) -> float:
        if exc.hint_s is not None:
            return self._retry.rate_limit_wait_s(exc.hint_s)
        return self._retry.backoff_s(failures, self._rng)

    async def _try(
        self, request: Request, token: str, decode: Callable[[bytes], T], tries: int
    ) -> T:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        started = time.monotonic()
        try:
            # No redirects: a Location elsewhere must never receive the bearer token.
            async with self._session.get(
                self._base_url + request.path,
                params=list(request.params),
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
        except TimeoutError:
            raise _Transient("timeout", "timed out") from None
        except aiohttp.ClientPayloadError as exc:
            raise _Transient("truncated_body", _describe(exc, token)) from None
        except aiohttp.ClientConnectionError as exc:
            raise _Transient("connection_error", _describe(exc, token)) from None
        except aiohttp.ClientError as exc:
            raise _Transient("http_error", _describe(exc, token)) from None
        duration_s = time.monotonic() - started
        status = response.status
        request_id = response.headers.get("x-pinterest-rid")
        self.rate_limit = RateLimit.from_headers(response.headers) or self.rate_limit
        log.debug(
            "api.request",
            endpoint=request.endpoint,
            status=status,
            duration_s=round(duration_s, 3),
            request_id=request_id,
            attempt=tries,
        )
        if self._on_response is not None:
            self._on_response(request.endpoint, status, duration_s)
        if 200 <= status < 300:
            try:
                return decode(body)
            except msgspec.ValidationError as exc:
                detail = f"unexpected body: {_quote(str(exc), token)}"
                raise _Transient(
                    "unexpected_body", detail, status=status, request_id=request_id
                ) from None
            except msgspec.DecodeError:
                raise _Transient(
                    "not_json", "body is not JSON", status=status, request_id=request_id
                ) from None
        _raise_for_status(status, body, response.headers, token, request_id, request)


def _raise_for_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    token: str,
    request_id: str | None,
    request: Request,
) -> NoReturn:
    code, message = _error_body(body, token)
    detail = f"HTTP {status}" + (f" code {code}" if code is not None else "")
    detail += f": {message}" if message else ""
    if status == 401:
        raise _Unauthorized(code, request_id)
    if status == 403:
        raise AccessLostError(
            f"GET {request.path}: access denied ({detail})",
            status=status,
            code=code,
            request_id=request_id,
        )
    if status == 429:
        hint_s = retry_hint_s(headers)
        if message and "spam" in message.lower():
            # A spam block is not a quota: retrying only prolongs it.
            raise RateLimitedError(
                f"GET {request.path}: blocked as spam ({detail})",
                code=code,
                request_id=request_id,
                retry_after_s=hint_s,
            )
        raise _Transient(
            "rate_limited", detail, status=status, code=code, request_id=request_id, hint_s=hint_s
        )
    if status >= 500 or status == 408:
        raise _Transient("server_error", detail, status=status, code=code, request_id=request_id)
    raise PinterestError(
        f"GET {request.path} failed: {detail}", status=status, code=code, request_id=request_id
    )


def _exhausted(
    request: Request, exc: _Transient, tries: int, failure: type[PinterestError]
) -> PinterestError:
    message = f"GET {request.path} failed after {tries} tries: {exc.detail}"
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
        _quote(message, token) if isinstance(message, str) else None,
    )


def _describe(exc: BaseException, token: str) -> str:
    text = str(exc)
    return type(exc).__name__ + (f": {_quote(text, token)}" if text else "")


def _quote(text: str, token: str) -> str:
    text = " ".join(text.split())
    if token:
        text = text.replace(token, "<redacted>")
    return text if len(text) <= _QUOTE_MAX else text[: _QUOTE_MAX - 1] + "…"
