"""One GET against the Pinterest API: auth header, timeouts, bounded retries, typed errors.

Every wait goes through the injected ``sleep`` so tests never sleep. Tokens never reach a
log line or an error message: they live only in the Authorization header. What is
retried, how long each wait is and when to give up is :mod:`monitor.pinterest.retry`'s call;
this module only carries the loop out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final, TypeVar

import aiohttp
import msgspec
import structlog

from monitor import __version__
from monitor.errors import AuthError, PinterestError, TransientError, UnauthorizedError
from monitor.pinterest.auth import TokenSource
from monitor.pinterest.budget import Budget
from monitor.pinterest.responses import describe, quote, raise_for_status
from monitor.pinterest.retry import RateLimit, RetryPolicy, exhausted

log = structlog.get_logger(__name__)

T = TypeVar("T")
#: Metrics hook: (endpoint template, HTTP status, seconds the try took).
OnResponse = Callable[[str, int, float], None]
Sleep = Callable[[float], Awaitable[None]]

USER_AGENT: Final = f"pinmon/{__version__}"

#: The largest response body read, by default. A page of 250 ads is well under 1 MB; a
#: body past this is garbage (or hostile) and is failed like a truncated one, before it
#: can fill memory or the state file.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
#: Read granularity of a body (aiohttp's own default chunk).
_CHUNK: Final = 64 * 1024
#: A server ``Date`` further than this from the local clock is not used as "now".
_MAX_CLOCK_SKEW_S: Final = 3600.0


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
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._max_body = max_body_bytes
        self._clock = clock
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
        #: Responses so far and the status of the latest: what a caller that gave up
        #: waiting (monitor.analytics) says it was waiting on.
        self.responses = 0
        self.last_status: int | None = None
        # (server's Date, local clock when it arrived) of the latest answer that had one.
        self._server_date: tuple[float, float] | None = None
        self._date_seen: str | None = None

    def now(self) -> float:
        """The best estimate of the current time: the local clock, unless the API's own
        ``Date`` says it runs ahead (by at most an hour, a sane skew), so that a slow
        local clock does not make Pinterest's fresh stamps look like the future."""
        local = self._clock()
        if self._server_date is None:
            return local
        server, seen_at = self._server_date
        estimate = server + (local - seen_at)
        return estimate if 0 < estimate - local <= _MAX_CLOCK_SKEW_S else local

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
        # A hand-written loop rather than stamina's: stamina (26.1) always sleeps through
        # asyncio/trio itself, so neither the injected ``sleep`` (the tests never sleep and
        # assert every wait) nor the budget sees its waits; its test mode zeroes all waits
        # process-wide, server-dictated ones included; a retry after a token refresh must
        # not count as an attempt; and its default hooks would log and export retries of
        # their own (into prometheus_client's global registry) beside ``api.retry``.
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
            except UnauthorizedError as exc:
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
            except TransientError as exc:
                failures += 1
                step = self._retry.after(exc, failures, self._rng)
                if step.pause_s is not None and self._budget is not None:
                    self._budget.pause(step.pause_s)
                if step.wait_s is None:
                    raise exhausted(request.path, exc, failures, failure) from None
                log.warning(
                    "api.retry",
                    endpoint=request.endpoint,
                    reason=exc.reason,
                    status=exc.status,
                    request_id=exc.request_id,
                    attempt=tries,
                    wait_s=round(step.wait_s, 3),
                )
                await self._sleep(step.wait_s)

    async def _send(
        self, request: Request, headers: Mapping[str, str], token: str
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """One GET, inside the budget: counted in flight from before it is sent until
        its answer (or failure) is in, and the answer's rate-limit headers told to it."""
        if self._budget is not None:
            await self._budget.acquire()
        seen: RateLimit | None = None
        try:
            # No redirects: a Location elsewhere must never receive the bearer token.
            async with self._session.get(
                self._base_url + request.path,
                params=list(request.params),
                headers=dict(headers),
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                seen = RateLimit.from_headers(response.headers)
                body = await self._read(response)
        except TimeoutError:
            raise TransientError("timeout", "timed out") from None
        except aiohttp.ClientPayloadError as exc:
            raise TransientError("truncated_body", describe(exc, token)) from None
        except aiohttp.ClientConnectionError as exc:
            raise TransientError("connection_error", describe(exc, token)) from None
        except aiohttp.ClientError as exc:
            raise TransientError("http_error", describe(exc, token)) from None
        finally:
            if seen is not None:
                self.rate_limit = seen
            if self._budget is not None:
                self._budget.release(seen)
        return response, body

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, or TransientError once it exceeds the cap (the rest is never read)."""
        cap = self._max_body
        declared = response.content_length
        if declared is not None and declared > cap:
            raise TransientError(
                "too_large", f"body of {declared} bytes exceeds the {cap}-byte limit"
            )
        if declared is not None:
            # The usual case (Pinterest sends a length): one read, as aiohttp buffers it.
            body = await response.read()
            if len(body) > cap:  # a server sending more than it declared
                raise TransientError("too_large", f"body exceeds the {cap}-byte limit")
            return body
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise TransientError("too_large", f"body exceeds the {cap}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _note_date(self, value: str | None) -> None:
        if not value or value == self._date_seen:
            return  # the header changes once a second: parse it once, not per page
        self._date_seen = value
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return
        if when.tzinfo is not None:
            self._server_date = (when.timestamp(), self._clock())

    async def _try(
        self, request: Request, token: str, decode: Callable[[bytes], T], tries: int
    ) -> T:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        started = time.monotonic()
        response, body = await self._send(request, headers, token)
        duration_s = time.monotonic() - started
        self._note_date(response.headers.get("Date"))
        status = response.status
        self.responses += 1
        self.last_status = status
        request_id = response.headers.get("x-pinterest-rid")
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
                raise TransientError(
                    "unexpected_body", detail, status=status, request_id=request_id
                ) from None
            except msgspec.DecodeError:
                raise TransientError(
                    "not_json", "body is not JSON", status=status, request_id=request_id
                ) from None
        raise_for_status(status, body, response.headers, token, request_id, request.path)
