"""structlog set-up: JSON lines or console, stdlib records in the same format, secrets redacted.

Secrets are masked at the source (``Secret``, masked target labels); the process's
:class:`~monitor.redact.Redactor` is the second line of defence: every string that reaches
an output is scrubbed of every registered secret, whatever code path put it there.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from monitor.redact import DEFAULT


def redact(text: str) -> str:
    """``text`` with every secret registered with :data:`monitor.redact.DEFAULT` masked."""
    return DEFAULT.redact(text)


def configure(*, level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger to write one format to ``stream``.

    Args:
        level: debug, info, warning or error.
        fmt: ``json``, ``console``, or ``auto`` (console on a terminal, else JSON lines).
        stream: Where to write; standard error by default.
    """
    # Imported here, not at the top: `redact` is what failing commands need of this
    # module, and the read-only commands never configure structlog (``configure_plain``).
    import structlog

    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        DEFAULT.process,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    final: Iterable[Any] = (
        (structlog.processors.dict_tracebacks, renderer, DEFAULT.rendered)
        if use_json
        else (renderer, DEFAULT.rendered)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Third-party chatter stays at warning unless we debug; it flows through the same
    # formatter (and the same redaction) as our own events.
    for noisy in ("apprise", "aiohttp", "asyncio", "urllib3", "markdown"):
        logging.getLogger(noisy).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


def configure_plain(*, level: str = "warning", stream: TextIO | None = None) -> None:
    """Send stdlib log records at ``level`` and above to ``stream``, redacted, as plain
    ``level logger: message`` lines; structlog is left alone (not even imported).

    For the read-only commands at their default level: nothing on their path logs through
    structlog, and a warning a driver logs still reaches standard error scrubbed.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(DEFAULT)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.getLevelName(level.upper()))
