"""HTTP sessions that never connect to a link-local or cloud metadata address.

The config refuses such hosts when they are written literally; a DNS name is checked
here, on every lookup the connection makes, because what it resolves to can change after
the config was loaded (DNS rebinding: a name that answered with a public address at the
check and with 169.254.169.254 at the send). The check sits in the resolver, so the
address that is checked is the address connected to. A literal address never reaches a
resolver (aiohttp connects to it directly): callers check those with
:func:`monitor.addresses.url_refused`.
"""

from __future__ import annotations

import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from monitor.addresses import host_address, refusal

__all__ = ["GuardedResolver", "LinkLocalRefused", "guarded_session"]


class LinkLocalRefused(OSError):
    """A name resolved to a link-local or metadata address; nothing was connected to.

    An ``OSError`` because aiohttp wraps resolver errors that are: it arrives as the
    ``os_error`` of a :class:`aiohttp.ClientConnectorError`.
    """


class GuardedResolver(AbstractResolver):
    """Resolves as ``inner`` does, refusing a name if any of its addresses is link-local.

    One such answer refuses the whole name rather than filtering it: a name that maps to
    a metadata address at all is a misconfiguration or an attack, and saying so beats
    quietly connecting to its other addresses.

    Args:
        inner: The resolver asked first; aiohttp's default when omitted (created in the
            running loop, so construct this inside one).
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The inner resolver's answer, unless one of its addresses is refused.

        Raises:
            LinkLocalRefused: An address is link-local or a metadata service.
        """
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = host_address(result["host"])
            reason = None if address is None else refusal(address)
            if reason is not None:
                raise LinkLocalRefused(f"the name resolves to {reason}")
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


def guarded_session(*, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A client session whose every lookup goes through :class:`GuardedResolver`.

    ``trust_env`` stays off: through an environment proxy, the proxy would resolve the
    name and the guard would never see the address.

    Args:
        resolver: Asked before the guard (tests map names to addresses with one).
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(resolver))
    return aiohttp.ClientSession(connector=connector, trust_env=False)
