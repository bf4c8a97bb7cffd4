"""OAuth refresh: a TokenSource that rotates Pinterest's tokens and persists every rotation.

Pinterest answers every refresh with a *new* refresh token and the old one stops working.
A rotation that is not persisted before it is used leaves the next start with a dead
token, so each one is written to the state store (one transaction) before it is returned.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final

import aiohttp
import anyio
import msgspec
import structlog

from monitor.errors import AuthError
from monitor.redact import DEFAULT, Redactor

log = structlog.get_logger("monitor.pinterest.oauth")

#: Refresh this long before the access token expires (Pinterest's live 30 days).
REFRESH_MARGIN_S: Final = 86_400.0
#: After a failed refresh, wait this long (doubling, capped) before trying again, so
#: a revoked refresh token does not turn every request into a refresh attempt.
_BACKOFF_INITIAL_S: Final = 60.0
_BACKOFF_MAX_S: Final = 3_600.0


@dataclass(frozen=True, slots=True)
class TokenState:
    """The tokens in force, with their expiry times (Unix seconds, None when unknown)."""

    access_token: str | None
    access_expires_at: float | None
    refresh_token: str
    refresh_expires_at: float | None = None

    def __repr__(self) -> str:
        return "TokenState(<redacted>)"


def origin_of(refresh_token: str) -> str:
    """A fingerprint of the refresh token in the config (never the token itself).

    Persisted tokens are used only while the config still names the refresh token they
    descend from; a user who pastes a new one into the config gets the new one.
    """
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:32]


class _TokenResponse(msgspec.Struct):
    access_token: str
    refresh_token: str | None = None
    expires_in: float | None = None
    refresh_token_expires_in: float | None = None
    refresh_token_expires_at: float | None = None


class RefreshingToken:
    """A TokenSource that refreshes over OAuth, once, behind one lock for all requests."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        state: TokenState,
        persist: Callable[[TokenState], Awaitable[None]],
        now: Callable[[], float] = time.time,
        timeout_s: float = 30.0,
        redactor: Redactor = DEFAULT,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/oauth/token"
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._state = state
        self._persist = persist
        self._now = now
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._lock = anyio.Lock()
        self._failures = 0
        self._blocked_until = 0.0
        # Persisted rotations are not in the config: they are registered here, and each
        # new one as it arrives, before anything can log it.
        self._redactor = redactor
        redactor.add(state.access_token, state.refresh_token, client_secret)

    def __repr__(self) -> str:
        return "RefreshingToken(<redacted>)"

    def _fresh(self) -> str | None:
        s = self._state
        if s.access_token is None:
            return None
        if s.access_expires_at is not None and s.access_expires_at - self._now() < REFRESH_MARGIN_S:
            return None
        return s.access_token

    async def token(self) -> str:
        """The access token, refreshed first when it is missing or about to expire."""
        current = self._fresh()
        return current if current is not None else await self._refresh(None)

    async def refresh(self, rejected: str) -> str:
        """A new access token instead of ``rejected`` (which Pinterest answered 401 to)."""
        return await self._refresh(rejected)

    async def _refresh(self, rejected: str | None) -> str:
        async with self._lock:
            current = self._state.access_token
            # Another request refreshed while this one waited for the lock: use its token.
            if rejected is not None and current is not None and current != rejected:
                return current
            if rejected is None and (fresh := self._fresh()) is not None:
                return fresh
            now = self._now()
            if now < self._blocked_until:
                raise AuthError(
                    "token refresh failed recently; next attempt in "
                    f"{self._blocked_until - now:.0f}s",
                    status=401,
                )
            try:
                state = await self._exchange(now)
            except AuthError:
                self._failures += 1
                delay = min(_BACKOFF_MAX_S, _BACKOFF_INITIAL_S * 2 ** (self._failures - 1))
                self._blocked_until = now + delay
                raise
            # Persist before use: if this write fails, the old tokens stay in force.
            await self._persist(state)
            self._state = state
            self._failures = 0
            self._blocked_until = 0.0
            log.info("oauth.refreshed", access_expires_at=state.access_expires_at)
            assert state.access_token is not None
            return state.access_token

    async def _exchange(self, now: float) -> TokenState:
        data = {"grant_type": "refresh_token", "refresh_token": self._state.refresh_token}
        try:
            async with self._session.post(
                self._url,
                data=data,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthError(f"token refresh failed: {type(exc).__name__}", status=None) from None
        if status != 200:
            code = None
            with contextlib.suppress(msgspec.DecodeError, AttributeError):
                code = msgspec.json.decode(body).get("code")
            raise AuthError(
                f"token refresh refused by Pinterest (HTTP {status}"
                + (f", code {code})" if code is not None else ")"),
                status=status,
                code=code if isinstance(code, int) else None,
            )
        try:
            answer = msgspec.json.decode(body, type=_TokenResponse)
        except msgspec.MsgspecError:
            raise AuthError(
                "token refresh answered with an unreadable body", status=status
            ) from None
        self._redactor.add(answer.access_token, answer.refresh_token)
        refresh_expires = answer.refresh_token_expires_at or (
            now + answer.refresh_token_expires_in if answer.refresh_token_expires_in else None
        )
        return replace(
            self._state,
            access_token=answer.access_token,
            access_expires_at=now + answer.expires_in if answer.expires_in else None,
            refresh_token=answer.refresh_token or self._state.refresh_token,
            refresh_expires_at=refresh_expires or self._state.refresh_expires_at,
        )
