"""Keep notification-URL credentials out of labels, results and third-party log lines.

An apprise URL *is* a credential (a Slack webhook's path is its password), and apprise,
requests and urllib3 all log through stdlib ``logging`` — at DEBUG level with the full
request URL. This module masks URLs for display and installs one logging filter that
rewrites any known secret fragment before a record reaches a handler (including the
handler apprise uses to capture a send's log lines into its result).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

MASK: Final = "****"

#: Schemes apprise sends as plain HTTP(S) requests: apprise treats their path and query
#: as ordinary text, but webhook receivers routinely put secrets there.
HTTP_SCHEMES: Final = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})

#: Loggers that may print a notification URL: apprise itself, and urllib3 (under
#: requests, which apprise uses) logs "POST /services/T000/B000/XXXX" at DEBUG.
GUARDED_LOGGERS: Final = ("apprise", "urllib3.connectionpool")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A path segment that reads as a word ("hooks", "api", "v2") rather than a token.
_WORDISH = re.compile(r"[A-Za-z][A-Za-z_-]{0,19}|v\d{1,2}")
# apprise's own privacy form of a token ("T...2") is already masked.
_APPRISE_MASKED = re.compile(r".\.\.\..")
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+|\[[0-9A-Fa-f:.]+\]|localhost")
# Shorter fragments are too likely to be ordinary words in a log line to redact safely.
_MIN_FRAGMENT = 6

_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("pinmon_apprise_quiet", default=False)


def scheme_of(url: str) -> str | None:
    """The lower-cased scheme of ``scheme://...``, or None when there is none."""
    match = _SCHEME.match(url.strip())
    return match.group(1).lower() if match else None


def tidy_label(url: str, *, mask_path: bool = False) -> str:
    """Shorten an already privacy-masked URL for display.

    Drops the query string (apprise repeats every option there, and for HTTP targets it
    holds header and parameter values), masks any password left in it, decodes the path
    (``%23ads`` → ``#ads``) and, with ``mask_path``, masks segments that look like tokens.
    """
    head, _, _ = url.partition("?")
    scheme, sep, rest = head.partition("://")
    if not sep:
        return MASK
    authority, _, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{hostport}" if colon else f"{userinfo}@{hostport}"
    segments = [unquote(s) for s in path.split("/") if s]
    if mask_path:
        segments = [s if _safe_segment(s) else MASK for s in segments]
    return f"{scheme}://{authority}" + "".join(f"/{s}" for s in segments)


def _safe_segment(segment: str) -> bool:
    return bool(_WORDISH.fullmatch(segment) or _APPRISE_MASKED.fullmatch(segment))


def fallback_label(url: str) -> str:
    """A label for a URL no plugin could load: nothing but its scheme survives."""
    scheme = scheme_of(url)
    return f"{scheme}://{MASK}" if scheme else MASK


def secret_fragments(url: str) -> set[str]:
    """The parts of ``url`` that may be credentials, for redaction from log lines.

    Errs towards redacting too much: a channel name blanked out of a debug line costs
    nothing, a token printed in one is a leak.
    """
    text = url.strip()
    scheme = scheme_of(text) or ""
    try:
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        # Unparseable: every run between delimiters is a candidate.
        return _keep(re.split(r"[/:@?&=#,]+", text.partition("://")[2]))
    userinfo, _, hostport = parts.netloc.rpartition("@")
    candidates = [unquote(s) for s in userinfo.split(":")]
    candidates += [v for _, v in query]
    candidates += [unquote(s) for s in parts.path.split("/")]
    if scheme not in HTTP_SCHEMES:
        # Outside plain HTTP targets the "host" and "port" are usually tokens, and
        # case-sensitive ones (slack://TokenA/..., tgram://bot_id:bot_token/...).
        candidates += [unquote(s) for s in hostport.split(":")]
    return _keep(candidates)


def _keep(candidates: Iterable[str]) -> set[str]:
    found = set()
    for candidate in candidates:
        for piece in (candidate, candidate.lstrip("#@+")):
            if len(piece) >= _MIN_FRAGMENT and not _HOSTNAME.fullmatch(piece):
                found.add(piece)
    return found


class _Redactor(logging.Filter):
    """Rewrites registered secret fragments out of records; drops records while quiet."""

    def __init__(self) -> None:
        super().__init__("pinmon.redact")
        self._lock = threading.Lock()
        self._fragments: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, fragments: Iterable[str]) -> None:
        with self._lock:
            new = set(fragments) - self._fragments
            if not new:
                return
            self._fragments |= new
            # Longest first, so a token is never half-replaced by a shorter fragment of it.
            alternatives = sorted(self._fragments, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in alternatives))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if _quiet.get():
            return False
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging's own error path report it
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Pre-render the traceback: an exception message may quote the request URL.
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


_REDACTOR: Final = _Redactor()
_install_lock = threading.Lock()


def guard_logging(url: str) -> None:
    """Register ``url``'s secrets for redaction and make sure the filter is installed.

    Also caps apprise's logger at WARNING unless the operator set a level on it: its
    DEBUG lines print request URLs and payloads, and a WARNING floor keeps its failure
    reasons flowing into send results even when the root logger is set higher.
    """
    _REDACTOR.register(secret_fragments(url))
    with _install_lock:
        for name in GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            if _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)
        apprise_logger = logging.getLogger("apprise")
        if apprise_logger.level == logging.NOTSET:
            apprise_logger.setLevel(logging.WARNING)


def redact(text: str) -> str:
    """``text`` with every registered secret fragment masked."""
    return _REDACTOR.redact(text)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Drop guarded log records from this context (e.g. while probing a URL we report on)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)
