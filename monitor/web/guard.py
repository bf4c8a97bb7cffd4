"""Who may see the board and act on it: the token, the session cookie, CSRF, the Host.

Pure functions over header values, so each rule is tested without a server. The rules:

- Without a ``[web] token`` the board serves loopback only, and only to requests whose
  ``Host`` names loopback: a page on another site cannot reach it by DNS rebinding.
- With a token, every request carries it as ``Authorization: Bearer`` or holds the
  session cookie the login form sets. The cookie holds an HMAC of the token, never the
  token itself.
- Every POST from a browser carries the CSRF token of its session (a hidden form field),
  and an ``Origin`` header, when sent, must name this very host.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Final

#: The session cookie's name (HttpOnly, SameSite=Strict).
COOKIE: Final = "pinmon_session"

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name, without port) is this machine only."""
    host = host.strip().removeprefix("[").removesuffix("]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host part of a ``Host`` header value: ``[::1]:9464`` → ``::1``."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


@dataclass(frozen=True, slots=True)
class Guard:
    """The access rules of one board.

    Args:
        token: The ``[web] token``, or None for a loopback-only board.
        key: A random per-process key the CSRF tokens are derived from.
    """

    token: str | None
    key: bytes

    def session_value(self) -> str:
        """What the session cookie holds once logged in: an HMAC of the token."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"pinmon-web-session", hashlib.sha256).hexdigest()

    def identify(self, *, host: str, authorization: str | None, cookie: str | None) -> str | None:
        """Who this request is, for CSRF (``loopback``, ``bearer`` or ``session``); None
        when it may not see the board."""
        if self.token is None:
            return "loopback" if is_loopback(host_of(host)) else None
        if authorization is not None:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return "bearer"
        if cookie is not None and hmac.compare_digest(
            cookie.encode(), self.session_value().encode()
        ):
            return "session"
        return None

    def login(self, given: str) -> bool:
        """Whether a token typed into the login form is the token."""
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf(self, who: str) -> str:
        """The CSRF token forms of this session carry."""
        return hmac.new(self.key, f"csrf:{who}".encode(), hashlib.sha256).hexdigest()

    def post_allowed(
        self, who: str, *, given: str | None, origin: str | None, host: str, scheme: str
    ) -> bool:
        """Whether a POST may act: a bearer client (no browser adds that header across
        sites) or a form with this session's CSRF token, from this origin."""
        if origin is not None and origin != "null" and origin != f"{scheme}://{host}":
            return False
        if who == "bearer":
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.csrf(who).encode())
