"""One GET against the Pinterest API: auth header, timeouts, bounded retries, typed errors.

Every wait goes through the injected ``sleep`` so tests never sleep. Tokens never reach a
log line or an error message: they live only in the Authorization header. stamina is not
used here because its waits cannot be injected and 429s need server-dictated waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import aiohttp
import msgspec
import structlog

from monitor import __version__
from monitor.errors import AuthError, PinterestError
from monitor.pinterest.auth import TokenSource
from monitor.pinterest.budget import Budget
from monitor.pinterest.responses import (
    Transient,
    Unauthorized,
    describe,
    exhausted,
    quote,
    raise_for_status,
)
from monitor.pinterest.retry import RateLimit, RetryPolicy

log = structlog.get_logger(__name__)

T = TypeVar("T")
#: Metrics hook: (endpoint template, HTTP status, seconds the try took).
OnResponse = Callable[[str, int, float], None]
Sleep = Callable[[float], Awaitable[None]]

USER_AGENT: Final = f"pinmon/{__version__}"


@dataclass(frozen=True, slots=True)
class Request:
    """A GET to send: ``endpoint`` is the path template used for logs and metrics."""

    endpoint: str
    path: str
    params: Sequence[tuple[str, str]] = ()


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
        budget: Budget | None = None,
    ) -> None:
        self._session = session
        self._budget = budget
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
            except Unauthorized as exc:
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
            except Transient as exc:
                failures += 1
                if exc.status == 429 and self._budget is not None:
                    # The quota is shared: every request of this token waits, not just this.
                    self._budget.pause(self._wait_s(exc, failures))
                if failures >= self._retry.attempts:
                    raise exhausted(request.path, exc, failures, failure) from None
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

    def _wait_s(self, exc: Transient, failures: int) -> float:
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
        if self._budget is not None:
            await self._budget.acquire()
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
            raise Transient("timeout", "timed out") from None
        except aiohttp.ClientPayloadError as exc:
            raise Transient("truncated_body", describe(exc, token)) from None
        except aiohttp.ClientConnectionError as exc:
            raise Transient("connection_error", describe(exc, token)) from None
        except aiohttp.ClientError as exc:
            raise Transient("http_error", describe(exc, token)) from None
        duration_s = time.monotonic() - started
        status = response.status
        request_id = response.headers.get("x-pinterest-rid")
        seen = RateLimit.from_headers(response.headers)
        if seen is not None:
            self.rate_limit = seen
            if self._budget is not None:
                self._budget.observe(seen.remaining, seen.reset_s)
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
                detail = f"unexpected body: {quote(str(exc), token)}"
                raise Transient(
                    "unexpected_body", detail, status=status, request_id=request_id
                ) from None
            except msgspec.DecodeError:
                raise Transient(
                    "not_json", "body is not JSON", status=status, request_id=request_id
                ) from None
        raise_for_status(status, body, response.headers, token, request_id, request.path)
