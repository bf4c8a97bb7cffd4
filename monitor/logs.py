"""structlog set-up: JSON lines or console, stdlib records in the same format, secrets redacted.

Secrets are masked at the source (``Secret``, masked target labels); the redaction
processor here is the second line of defence: every string that reaches an output is
scrubbed of every registered secret, whatever code path put it there.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import structlog

_MASK = "***"
_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
# Shorter fragments would redact ordinary words; real tokens and passwords are longer.
_MIN_SECRET_LEN = 6


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every log line from now on."""
    global _secrets
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _lock:
        if value not in _secrets:
            # Longest first, so a secret containing another is masked whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def register_url_secrets(url: str) -> None:
    """Redact a notification URL and every credential-like part of it.

    Apprise URLs carry credentials in the user info, the path (``slack://T/B/C``) or the
    query; all of those are registered, the host is not.
    """
    register_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for piece in (parts.username, parts.password):
        if piece:
            register_secret(unquote(piece))
    # hostname is lower-cased by urlsplit; the credential it may hold is not.
    host_port = parts.netloc.rpartition("@")[2]
    netloc_host = host_port.rpartition(":")[0] or host_port
    for segment in parts.path.split("/"):
        if segment and segment != netloc_host:
            register_secret(unquote(segment))
    # Schemes like slack://TokenA/... put the first credential where a host would be.
    if "." not in netloc_host and not netloc_host.replace("-", "").isalpha():
        register_secret(unquote(netloc_host))
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if value:
            register_secret(unquote(value))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if not _secrets:
        return event_dict
    return {k: _redact_value(v) for k, v in event_dict.items()}


def _redact_rendered(_logger: Any, _name: str, event_dict: Any) -> Any:
    # After rendering (exception tracebacks are formatted late): scrub the final text too.
    return redact(event_dict) if isinstance(event_dict, str) and _secrets else event_dict


def configure(*, level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger to write one format to ``stream``.

    Args:
        level: debug, info, warning or error.
        fmt: ``json``, ``console``, or ``auto`` (console on a terminal, else JSON lines).
        stream: Where to write; standard error by default.
    """
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    final: Iterable[Any] = (
        (structlog.processors.dict_tracebacks, renderer, _redact_rendered)
        if use_json
        else (renderer, _redact_rendered)
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
