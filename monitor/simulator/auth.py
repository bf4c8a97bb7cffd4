"""OAuth as Pinterest does it: expiring bearer tokens and rotating refresh tokens.

Every refresh (POST /oauth/token, ``grant_type=refresh_token``) returns a new access
token *and* a new refresh token; the refresh token it was given stops working at once.
All tokens belong to one simulated user, the advertiser: Pinterest's quotas are per
user per app, so the rate limiter keys on :attr:`Tokens.user`, not on the token.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.simulator import vocab
from monitor.simulator.scenario import AuthSpec

SCOPE: Final = "ads:read,user_accounts:read"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and the refresh token issued with it."""

    access_token: str
    refresh_token: str


class OAuthError(Exception):
    """A refused token request: carries the HTTP status and the Error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Tokens:
    """The access and refresh tokens currently valid, with their expiry times.

    Args:
        spec: Initial tokens, client credentials and lifetimes.
        now: The injected Unix-seconds clock that expiry is measured on.
        access_token_lifetime_s: Overrides ``spec``; how long an access token lives.
        refresh_token_lifetime_s: Overrides ``spec``.
    """

    user: Final = "advertiser"

    def __init__(
        self,
        spec: AuthSpec,
        *,
        now: Callable[[], float],
        access_token_lifetime_s: float | None = None,
        refresh_token_lifetime_s: float | None = None,
    ) -> None:
        self.spec = spec
        self.now = now
        self.access_lifetime_s = (
            spec.access_token_lifetime_s
            if access_token_lifetime_s is None
            else access_token_lifetime_s
        )
        self.refresh_lifetime_s = (
            spec.refresh_token_lifetime_s
            if refresh_token_lifetime_s is None
            else refresh_token_lifetime_s
        )
        self.access: dict[str, float] = {}
        self.refresh: dict[str, float] = {}
        self.refreshes = 0  #: successful refreshes so far
        self.reset()

    def reset(self) -> None:
        """Back to the initial tokens, issued now."""
        t = self.now()
        self.access = dict.fromkeys(self.spec.access_tokens, t + self.access_lifetime_s)
        self.refresh = dict.fromkeys(self.spec.refresh_tokens, t + self.refresh_lifetime_s)
        self.refreshes = 0

    def user_of(self, authorization: str | None) -> str | None:
        """The user a ``Authorization: Bearer ...`` header authenticates, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        expires_at = self.access.get(token.strip())
        if expires_at is None or expires_at <= self.now():
            return None
        return self.user

    def issue(self) -> TokenPair:
        """Mint a fresh token pair (what a completed OAuth consent would give)."""
        t = self.now()
        pair = TokenPair("pina_" + secrets.token_urlsafe(32), "pinr_" + secrets.token_urlsafe(32))
        self.access[pair.access_token] = t + self.access_lifetime_s
        self.refresh[pair.refresh_token] = t + self.refresh_lifetime_s
        return pair

    def expire_access_tokens(self) -> None:
        """Make every access token expired now: the next request gets a 401."""
        t = self.now()
        self.access = dict.fromkeys(self.access, t)

    def _check_client(self, authorization: str | None) -> None:
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _, secret = decoded.partition(":")
        valid = (client_id, secret) == (self.spec.client_id, self.spec.client_secret)
        if scheme.lower() != "basic" or not valid:
            raise OAuthError(*vocab.AUTH_FAILED)

    def grant(self, authorization: str | None, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer POST /oauth/token: rotate a refresh token into a new token pair.

        Returns:
            The ``OauthAccessTokenResponseRefresh`` body.

        Raises:
            OAuthError: Bad client credentials (401), a malformed request or an unknown,
                rotated-out or expired refresh token (400).
        """
        self._check_client(authorization)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError(400, 400, "Invalid parameters: grant_type is required")
        if grant_type != "refresh_token":
            raise OAuthError(400, 400, f"Invalid parameters: unsupported grant_type {grant_type!r}")
        old = form.get("refresh_token")
        if not old:
            raise OAuthError(400, 400, "Invalid parameters: refresh_token is required")
        t = self.now()
        expires_at = self.refresh.pop(old, None)
        if expires_at is None or expires_at <= t:
            raise OAuthError(*vocab.INVALID_GRANT)
        pair = self.issue()
        self.refreshes += 1
        return {
            "access_token": pair.access_token,
            "token_type": "bearer",
            "expires_in": int(self.access_lifetime_s),
            "scope": form.get("scope") or SCOPE,
            "response_type": "refresh_token",
            "refresh_token": pair.refresh_token,
            "refresh_token_expires_in": int(self.refresh_lifetime_s),
            "refresh_token_expires_at": int(t + self.refresh_lifetime_s),
        }
