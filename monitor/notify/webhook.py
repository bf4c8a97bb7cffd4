"""POST each event as JSON to an HTTP endpoint, signed per the Standard Webhooks spec.

https://www.standardwebhooks.com/: ``webhook-id`` is the event id (stable across
redeliveries, so receivers de-duplicate on it), ``webhook-timestamp`` is Unix seconds and
``webhook-signature`` holds one ``v1,<base64 HMAC-SHA256>`` per configured secret, so a
receiver can rotate its secret without a window in which deliveries fail to verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Final

import aiohttp

from monitor import __version__
from monitor.addresses import url_refused
from monitor.errors import ConfigError
from monitor.events import Event
from monitor.notify import Fault, Message, SendResult
from monitor.notify.guard import LinkLocalRefused, guarded_session
from monitor.redact import DEFAULT, Redactor, mask_url
from monitor.render.escape import MARKDOWN, Dialect
from monitor.render.payload import webhook_json

__all__ = ["WebhookNotifier", "decode_secret", "mask_webhook_url", "parse_retry_after", "sign"]

SECRET_PREFIX: Final = "whsec_"

# Enough of a refusal's body to show why ("signature mismatch"); never the whole page.
_MAX_BODY = 200
_MAX_DETAIL = 300


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret.

    Unpadded base64 is accepted, as the reference implementations do.

    Raises:
        ValueError: no ``whsec_`` prefix, not base64, or an empty key. The message never
            contains the secret.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("must start with whsec_")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after whsec_ is not base64") from None
    if not key:
        raise ValueError("empty key after whsec_")
    return key


def sign(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: one ``v1,<base64>`` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP-date).

    Returns None when the header is absent or unreadable; a date in the past is 0.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zone-less one is not a date we can trust
    return max(0.0, when.timestamp() - now)


def mask_webhook_url(url: str) -> str:
    """A label for a webhook URL: password, query values and token-like path segments masked.

    ``https://user:pw@hooks.example.com/in/9f3a...c1?token=abc`` becomes
    ``https://user:****@hooks.example.com/in/****?token=****`` (see
    :func:`monitor.redact.mask_url`).
    """
    return mask_url(url)


def url_key(url: str) -> str:
    """The stable, non-secret outbox key of a webhook URL."""
    return "webhook:" + hashlib.sha256(url.strip().encode()).hexdigest()[:16]


class WebhookNotifier:
    """Sends each event of a message as one signed POST to one URL.

    Args:
        url: The endpoint; may carry credentials (they never reach a label or log).
        secrets: ``whsec_...`` secrets; each signs every delivery (rotation).
        timeout_s: Limit on one request, connection included.
        session: A session to reuse connections from; the notifier never closes it.
            Build it with :func:`~monitor.notify.guard.guarded_session` (the daemon
            does): the session's resolver is what refuses a name that resolves to a
            link-local address. Without one, each send opens and closes its own, guarded
            unless ``allow_link_local``, so nothing is left open.
        clock: Unix time, for ``webhook-timestamp`` and HTTP-date ``Retry-After``.
        redactor: Learns the URL's secret parts and the secrets, and scrubs them from
            failure details; the default one is also what every log line is scrubbed with.
        allow_link_local: Reach link-local and metadata addresses too (an explicit
            opt-in of the config); otherwise a literal one fails every send. Give no
            session with it: a guarded one would still refuse names resolving there.

    Raises:
        ConfigError: no secret, or a secret that is not ``whsec_<base64>``.
    """

    batch = False
    #: Webhooks send the event JSON, not the rendered text: no limit, no markup.
    body_limit: int | None = None
    dialect: Dialect = MARKDOWN
    #: Only ``message.events`` is sent: the delivery loop renders no text for it.
    sends_text = False

    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        *,
        timeout_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        redactor: Redactor = DEFAULT,
        allow_link_local: bool = False,
    ) -> None:
        self.key = url_key(url)
        self.label = mask_webhook_url(url)
        # Before validation: a problem message must not be the first to quote a secret.
        redactor.add_url(url, self.label)
        redactor.add(*secrets, *(s.removeprefix(SECRET_PREFIX) for s in secrets))
        self._redactor = redactor
        problems: list[str] = []
        keys: list[bytes] = []
        for i, secret in enumerate(secrets, start=1):
            try:
                keys.append(decode_secret(secret))
            except ValueError as exc:
                problems.append(f"webhooks: {self.label}: secret {i}: {exc}")
        if not secrets:
            problems.append(f"webhooks: {self.label}: at least one whsec_ secret is needed")
        if problems:
            raise ConfigError(problems)
        self.timeout_s = timeout_s
        self._url = url.strip()
        self._keys = tuple(keys)
        self._session = session
        self._clock = clock
        self._allow_link_local = allow_link_local
        # aiohttp connects to a literal address without asking the resolver: check it here.
        self._refused = None if allow_link_local else url_refused(self._url)

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.label!r})"

    async def send(self, message: Message) -> SendResult:
        """POST every event of ``message`` in turn; the first failure ends the send.

        The outbox retries the whole message on failure, so an event that went out
        before the failure may arrive twice: receivers de-duplicate on ``webhook-id``.
        """
        if not message.events:
            return self._failed("message carries no events (nothing to POST)", Fault.UNSENDABLE)
        if self._refused is not None:
            # The URL itself names the address: no retry can change that.
            return self._failed(f"refused: {self._refused}", Fault.UNSENDABLE)
        if self._session is not None:
            return await self._send_all(self._session, message.events)
        own = aiohttp.ClientSession() if self._allow_link_local else guarded_session()
        async with own as session:
            return await self._send_all(session, message.events)

    async def _send_all(
        self, session: aiohttp.ClientSession, events: Sequence[Event]
    ) -> SendResult:
        for event in events:
            result = await self._post(session, event)
            if not result.ok:
                return result
        return SendResult.sent(self.label)

    def headers(self, event: Event, body: bytes) -> dict[str, str]:
        """The request headers for ``event`` whose JSON is ``body``, signed now."""
        timestamp = int(self._clock())
        return {
            "Content-Type": "application/json",
            "User-Agent": f"pinmon/{__version__}",
            "webhook-id": event.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._keys, event.id, timestamp, body),
        }

    async def _post(self, session: aiohttp.ClientSession, event: Event) -> SendResult:
        body = webhook_json(event)
        try:
            async with session.post(
                self._url,
                data=body,
                headers=self.headers(event, body),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as response:
                text = await _read_text(response)
                return self._outcome(response.status, response.reason, response.headers, text)
        except TimeoutError:
            # The receiver may still act on it after we stop waiting: a retry can duplicate.
            return self._failed(
                f"no answer within {self.timeout_s:g}s (delivery unknown)", Fault.TIMEOUT
            )
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, LinkLocalRefused):
                # Retried like a failed lookup, not dead at once: a DNS answer can change
                # (a resolver misconfigured for a while), and each attempt is checked anew,
                # so a retry can never reach the address.
                return self._failed(f"refused: {exc.os_error}; not connected", Fault.UNREACHABLE)
            return self._failed(f"cannot connect: {_connect_reason(exc)}", Fault.UNREACHABLE)
        except aiohttp.InvalidURL:
            return self._failed("invalid URL", Fault.UNSENDABLE)
        except (aiohttp.ClientError, OSError) as exc:
            # str() of these may quote the request URL: the type is the safe summary.
            return self._failed(f"request failed: {type(exc).__name__}", Fault.BROKEN)

    def _outcome(
        self, status: int, reason: str | None, headers: Mapping[str, str], text: str
    ) -> SendResult:
        if 200 <= status < 300:
            return SendResult.sent(self.label)
        said = f": {text}" if text else ""
        if status == 410:
            detail = f"410 Gone: the receiver retired this endpoint{said}"
        elif 300 <= status < 400:
            # The Location may carry a token, and following it would send the signed
            # payload somewhere nobody configured: the operator must update the URL.
            detail = f"HTTP {status}: redirects are not followed{said}"
        else:
            detail = f"HTTP {status}" + (f" {reason}" if reason else "") + said
        # Whether the wait is honoured (only on a 429 or 503) is the classifier's call.
        retry_after_s = parse_retry_after(headers.get("Retry-After"), self._clock())
        return self._failed(detail, status=status, retry_after_s=retry_after_s)

    def _failed(
        self,
        detail: str,
        fault: Fault | None = None,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> SendResult:
        # A receiver's answer or an exception may echo the URL or a secret back at us.
        detail = self._redactor.redact(detail)
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 1] + "…"
        return SendResult.failed(
            self.label, detail, status=status, fault=fault, retry_after_s=retry_after_s
        )


async def _read_text(response: aiohttp.ClientResponse) -> str:
    """The start of the body as one line of text; an unreadable body is just absent."""
    if 200 <= response.status < 300:
        return ""
    try:
        raw = await response.content.read(_MAX_BODY)
    except (aiohttp.ClientError, TimeoutError):
        return ""
    return " ".join(raw.decode("utf-8", "replace").split())


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection failed, without aiohttp's message (it names the host and port)."""
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(exc.os_error, socket.gaierror):
        return "DNS lookup failed"
    errno = exc.os_error.errno
    return os.strerror(errno) if errno else type(exc.os_error).__name__
