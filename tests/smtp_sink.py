"""A local SMTP sink for e-mail tests: accepts every message on 127.0.0.1 and keeps it.

Usage::

    async with SmtpSink() as smtp:
        ...  # send to f"mailto://127.0.0.1:{smtp.port}?from=a@example.com&to=b@example.com&mode=insecure"
        (mail,) = await smtp.wait_for(1)
        assert mail["Subject"] == ...

Only what apprise's SMTP client needs: no TLS, no AUTH, every command answered 250.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from types import TracebackType
from typing import cast

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream


class SmtpSink:
    """An SMTP server on an ephemeral port of 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._received = anyio.Condition()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> SmtpSink:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(listener.serve, self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(exc_type, exc, tb)

    async def wait_for(self, n: int, timeout_s: float = 5.0) -> list[EmailMessage]:
        """Wait until at least ``n`` messages arrived; raises TimeoutError after ``timeout_s``."""
        with anyio.fail_after(timeout_s):
            async with self._received:
                while len(self.messages) < n:
                    await self._received.wait()
        return list(self.messages)

    async def _session(self, stream: anyio.abc.SocketStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            await stream.send(b"220 sink ESMTP\r\n")
            while True:
                command = (await reader.receive_until(b"\r\n", 65536))[:4].upper()
                if command == b"QUIT":
                    await stream.send(b"221 bye\r\n")
                    return
                if command != b"DATA":
                    await stream.send(b"250 ok\r\n")
                    continue
                await stream.send(b"354 end with <CRLF>.<CRLF>\r\n")
                lines = []
                while (line := await reader.receive_until(b"\r\n", 1 << 20)) != b".":
                    lines.append(line[1:] if line.startswith(b"..") else line)
                raw = b"\r\n".join(lines)
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                async with self._received:
                    self.messages.append(cast(EmailMessage, parsed))
                    self._received.notify_all()
                await stream.send(b"250 queued\r\n")
