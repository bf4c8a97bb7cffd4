"""Which hosts a notifier must not reach: link-local addresses and cloud metadata services.

A webhook URL comes from a config file, often assembled from environment variables by
someone other than the operator. Pointed at ``169.254.169.254`` it would make pinmon POST
into the cloud's metadata service, the classic server-side request forgery; loopback and
private ranges stay allowed, since tests and on-premises receivers live there. Pure: the
config checks literal hosts at load, the webhook notifier checks resolved addresses at send.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Names that resolve to a metadata service wherever they resolve at all.
METADATA_HOSTS: Final = frozenset(
    {"metadata.google.internal", "metadata.goog", "instance-data.ec2.internal"}
)

#: Metadata services outside the link-local ranges: AWS's IPv6 endpoint (in fd00::/8,
#: otherwise private) and Alibaba Cloud's (in the 100.64.0.0/10 shared space).
METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)

_LINK_LOCAL: Final = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))

# IPv6 forms that carry an IPv4 address a host or gateway would reach: NAT64's well-known
# prefix embeds it in the last 32 bits (``IPv4-mapped`` and 6to4 have properties of their own).
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE: Final = ipaddress.ip_network("::/96")

#: A URL that the standard library and yarl cannot read differently: a scheme, a host of
#: letters, digits, dots and dashes, a port, then only printable ASCII after the first
#: ``/``, ``?`` or ``#`` (no userinfo, brackets, escapes, whitespace or backslash). Such a
#: URL needs no second reading, which spares every command that loads the config yarl's
#: import (tens of ms).
PLAIN_URL: Final = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-\[\]-~]*)?"
)

#: What a refusal says; the config error and the send failure both use it.
REFUSED: Final = "link-local/metadata address"


def parse_ipv4_loose(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written any way ``inet_aton`` reads it, else None.

    The C resolver accepts 1 to 4 dot-separated parts, each decimal, ``0x`` hex or
    ``0``-prefixed octal, the last one filling the remaining bytes: ``2852039166``,
    ``0xa9fea9fe``, ``0251.0376.0251.0376`` and ``169.254.43518`` are all 169.254.169.254.
    ``ipaddress`` takes only the dotted-decimal form, so these would slip past it.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                numbers.append(int(lowered[2:] or "0", 16))
            elif len(lowered) > 1 and lowered.startswith("0"):
                numbers.append(int(lowered[1:], 8))
            else:
                numbers.append(int(lowered, 10) if lowered.isdigit() else -1)
        except ValueError:
            return None
    *head, last = numbers
    if any(not 0 <= n <= 255 for n in head) or not 0 <= last < 1 << (8 * (4 - len(head))):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def host_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (brackets, zone id, loose IPv4 allowed)."""
    text = host.strip().removeprefix("[").removesuffix("]").rstrip(".")
    text = text.partition("%")[0]  # fe80::1%eth0: the zone does not change the address
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return parse_ipv4_loose(text)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` must not be reached (link-local or a metadata service, directly or
    embedded in an IPv6 form), else None."""
    if address in METADATA_ADDRESSES or any(address in net for net in _LINK_LOCAL):
        return f"{address} is a {REFUSED}"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and refusal(embedded) is not None:
            # Spelled the same on every Python (3.13 started printing mapped ones so).
            shown = f"::ffff:{embedded}" if address.ipv4_mapped is not None else address
            return f"{shown} embeds {embedded}, a {REFUSED}"
    return None


def host_refused(host: str) -> str | None:
    """Why a URL host must not be reached (a metadata name or address), else None.

    Names other than the known metadata ones pass: what they resolve to is checked when
    a request resolves them (DNS can change between load and send).
    """
    name = host.strip().lower().rstrip(".")
    if name in METADATA_HOSTS:
        return f"{name} is a {REFUSED}"
    address = host_address(name)
    return None if address is None else refusal(address)


def url_refused(url: str) -> str | None:
    """Why ``url``'s host must not be reached, else None; never quotes the URL itself.

    The host is read by both the standard library and yarl (what aiohttp sends with):
    where they disagree on an odd URL, either reading being refused refuses it.
    """
    text = url.strip()
    hosts: set[str] = set()
    with contextlib.suppress(ValueError):
        hosts.add(urlsplit(text).hostname or "")
    if PLAIN_URL.fullmatch(text) is None:
        try:
            import yarl

            hosts.add(yarl.URL(text).host or "")
        except (ValueError, TypeError):
            pass
    for host in sorted(h for h in hosts if h):
        if (reason := host_refused(host)) is not None:
            return reason
    return None
