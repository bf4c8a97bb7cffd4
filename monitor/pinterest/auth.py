"""Where the client gets its bearer token, and what it does when Pinterest refuses one."""

from __future__ import annotations

from typing import Protocol

from monitor.errors import AuthError


class TokenSource(Protocol):
    """Supplies the bearer token and replaces it when Pinterest refuses it.

    The client calls :meth:`refresh` at most once per request, on a 401. Many requests may
    run at once with the same token, so an implementation that refreshes over OAuth should
    do it behind one lock and return the already-rotated token when *rejected* is no longer
    the current one, rather than spending the refresh token again.
    """

    async def token(self) -> str:
        """Return the current access token."""
        ...

    async def refresh(self, rejected: str) -> str:
        """Return a new access token to use instead of *rejected*.

        Raises:
            AuthError: No new token can be had; the error must not contain any token.
        """
        ...


class StaticToken:
    """A TokenSource for a plain access token, which cannot be refreshed."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("access token is empty")
        self._token = token

    def __repr__(self) -> str:
        # Keep the token out of reprs that end up in tracebacks and debug logs.
        return "StaticToken(<redacted>)"

    async def token(self) -> str:
        """Return the token given at construction."""
        return self._token

    async def refresh(self, rejected: str) -> str:
        """Fail: a plain access token has no refresh token behind it.

        Raises:
            AuthError: Always.
        """
        raise AuthError(
            "access token refused by Pinterest (401) and it cannot be refreshed: "
            "configure a new token or an OAuth refresh token",
            status=401,
        )
