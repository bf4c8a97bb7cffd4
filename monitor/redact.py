"""Secrets out of every output: one mask, one URL masker, one registry of exact secrets.

Secrets are masked at the source: a target is shown by its label (:func:`mask_url`), a
config value by ``Secret``. A :class:`Redactor` is the second line of defence: it scrubs
every registered secret from whatever text reaches a log line, an error or a metric.

It must scrub the secrets *and nothing else*, or labels stop telling targets apart. So a
URL's secrets are exactly the parts of it that its label hides (:func:`secret_fragments`):
registering a URL can never mask its own label, nor the host or channel it shows.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

if TYPE_CHECKING:
    from monitor.config import Config

__all__ = [
    "DEFAULT",
    "MASK",
    "Redactor",
    "guard_logging",
    "mask_url",
    "quiet",
    "register_config_secrets",
    "scheme_of",
    "secret_fragments",
]

#: What every masked secret becomes, in labels, logs, errors and metrics alike.
MASK: Final = "****"

#: Shorter values are masked where they are known to be secret (labels, ``Secret``) but
#: not scrubbed from free text: they would blank ordinary words ("pass" in "password").
MIN_SECRET_LEN: Final = 6

#: Loggers that may print a notification URL: apprise itself, and urllib3 (under
#: requests, which apprise uses) logs "POST /services/T000/B000/XXXX" at DEBUG.
GUARDED_LOGGERS: Final = ("apprise", "urllib3.connectionpool", "slack_sdk")

#: Schemes whose host is a network address (shown), never a token in disguise.
_ADDRESS_SCHEMES: Final = frozenset(
    {"http", "https", "json", "jsons", "form", "forms", "xml", "xmls", "postgres", "postgresql"}
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A part that reads as a word ("hooks", "ads-alerts", "v2") rather than a token.
_WORD = re.compile(r"[A-Za-z][A-Za-z_-]{0,19}|v\d{1,2}")
# apprise's privacy form of a token ("T...2") is already masked.
_PRIVATE_FORM = re.compile(r".\.\.\..")
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+|\[[0-9A-Fa-f:.]+\]|localhost")
# A query key naming a credential: its value is masked even when it reads as a word.
_CREDENTIAL_KEY = re.compile(r"pass|pwd|secret|token|key|sig|auth|code|cred|session", re.I)
# Where a scheme-less (unparseable) text may hide a credential between delimiters.
_DELIMITERS = re.compile(r"[/:@?&=#,;\s]+")

_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("pinmon_log_quiet", default=False)


def scheme_of(url: str) -> str | None:
    """The lower-cased scheme of ``scheme://...``, or None when there is none."""
    match = _SCHEME.match(url.strip())
    return match.group(1).lower() if match else None


def _shown(part: str) -> bool:
    return bool(_WORD.fullmatch(part) or _PRIVATE_FORM.fullmatch(part))


def _split_url(url: str) -> tuple[str, str, str, str, str, str]:
    """``scheme, userinfo, hostport, path, query, fragment`` of ``scheme://...``, raw.

    Parsed by hand, not with urlsplit: apprise URLs put tokens where a port would be
    (``tgram://123:AAH.../``) and urlsplit lower-cases or rejects those.
    """
    scheme, _, rest = url.strip().partition("://")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, _, hostport = authority.rpartition("@")
    return scheme, userinfo, hostport, slash + path, query, fragment


def _split_hostport(hostport: str) -> tuple[str, str | None]:
    if hostport.startswith("[") and "]" in hostport:
        host, _, tail = hostport.partition("]")
        return host + "]", tail[1:] if tail.startswith(":") else None
    host, colon, port = hostport.partition(":")
    return host, port if colon else None


def mask_url(url: str, *, trusted: bool = False) -> str:
    """A label for ``url`` with every credential masked: safe to print, log and export.

    A password becomes ``****``; a user name, path segment or query key is shown when it
    reads as a word (``alice``, ``hooks``, ``#ads-alerts`` when trusted), otherwise masked;
    a query value is shown only when it reads as a word under a key that does not name a
    credential (``sslmode=require``, not ``token=...``). Hosts and numeric ports are shown.

    ``https://u:pw@hooks.example.com/in/9f3a?token=abc`` becomes
    ``https://u:****@hooks.example.com/in/****?token=****``.

    Args:
        url: Any URL; text without a ``scheme://`` becomes ``****``.
        trusted: ``url`` is apprise's privacy form (``plugin.url(privacy=True)``), which
            already masks what each service treats as a credential: its user, host and
            path are shown as given (``slack://T...2/A...D/T...Q/#ads-alerts``) and its
            query, where apprise repeats every option, is dropped.
    """
    scheme = scheme_of(url)
    if scheme is None:
        return MASK
    _, userinfo, hostport, path, query, fragment = _split_url(url)
    user, colon, _ = userinfo.partition(":")
    user = unquote(user)
    if user and not trusted and not _shown(user):
        user = MASK
    auth = f"{user}:{MASK}@" if colon else (f"{user}@" if userinfo else "")
    host, port = _split_hostport(hostport)
    if not trusted and scheme not in _ADDRESS_SCHEMES and not _HOSTNAME.fullmatch(host):
        host = MASK
    if port is not None:
        host += ":" + (port if port.isdigit() or trusted else MASK)
    segments = [unquote(s) for s in path.split("/") if s]
    if not trusted:
        segments = [s if _shown(s) else MASK for s in segments]
    label = f"{scheme}://{auth}{host}" + "".join(f"/{s}" for s in segments)
    if trusted:
        return label
    if query:
        label += "?" + "&".join(_mask_param(p) for p in query.split("&") if p)
    if fragment:
        label += f"#{MASK}"
    return label


def _mask_param(pair: str) -> str:
    key, eq, value = (unquote(p) for p in pair.partition("="))
    # apprise's json:// and form:// mark headers and payload fields with + - : prefixes.
    name = key.lstrip("+-:")
    shown_key = key if _WORD.fullmatch(name) else MASK
    if not eq:
        return shown_key
    plain = shown_key != MASK and _WORD.fullmatch(value) and not _CREDENTIAL_KEY.search(name)
    return f"{shown_key}={value if plain else MASK}"


def _url_parts(url: str) -> Iterator[str]:
    """Every piece of ``url`` a credential could be, raw and percent-decoded."""
    text = url.strip()
    if scheme_of(text) is None:
        yield text
        yield from _DELIMITERS.split(text)
        return
    yield text
    _, userinfo, hostport, path, query, fragment = _split_url(text)
    raw = [*userinfo.split(":"), *hostport.split(":"), *path.split("/"), fragment]
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        raw += [key, value, key.lstrip("+-:")]
    for part in raw:
        yield part
        yield unquote(part)


def secret_fragments(url: str, label: str, *, public: Iterable[str] = ()) -> set[str]:
    """The parts of ``url`` that its ``label`` hides: what to scrub wherever ``url`` leaks.

    A part the label shows (or one of ``public`` does, e.g. apprise's privacy URL, which
    names the options it considers safe) is not a secret, so scrubbing these fragments
    never alters the label. Parts shorter than :data:`MIN_SECRET_LEN` are left out.
    """
    shown = [label, unquote(label), *public]
    return {
        part
        for part in _url_parts(url)
        if len(part) >= MIN_SECRET_LEN and not any(part in text for text in shown)
    }


class Redactor:
    """A registry of exact secrets, and everything that scrubs them from text.

    One instance, :data:`DEFAULT`, is what logging scrubs with (a structlog processor,
    a final pass over each rendered line, and a stdlib logging filter); pass it, or a
    private instance in tests, wherever text leaves the process.

    Args:
        min_len: Values shorter than this are not registered (see :data:`MIN_SECRET_LEN`).
    """

    def __init__(self, *, min_len: int = MIN_SECRET_LEN) -> None:
        self._min_len = min_len
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    @property
    def secrets(self) -> frozenset[str]:
        """Every value registered so far."""
        return self._secrets

    def add(self, *values: str | None) -> None:
        """Scrub each of ``values`` (None and too-short ones are ignored) from now on."""
        with self._lock:
            new = {v for v in values if v and len(v) >= self._min_len} - self._secrets
            if not new:
                return
            self._secrets = self._secrets | new
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_url(self, url: str, label: str, *, public: Iterable[str] = ()) -> None:
        """Scrub the parts of ``url`` that its ``label`` hides (see :func:`secret_fragments`)."""
        self.add(*secret_fragments(url, label, public=public))

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by :data:`MASK`."""
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def redact_value(self, value: Any) -> Any:
        """``value`` with secrets scrubbed from every string inside it; an exception
        becomes its scrubbed ``Type: message``."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v) for v in value)
        if isinstance(value, BaseException):
            return self.redact(f"{type(value).__name__}: {value}")
        return value

    def process(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """structlog processor: scrub every value of the event dict."""
        if self._pattern is None:
            return event_dict
        return {k: self.redact_value(v) for k, v in event_dict.items()}

    def rendered(self, _logger: Any, _name: str, line: Any) -> Any:
        """structlog's last processor: scrub the rendered line (tracebacks render late)."""
        return self.redact(line) if isinstance(line, str) else line

    def filter(self, record: logging.LogRecord) -> bool:
        """stdlib logging filter: scrub a record in place; drop it inside :func:`quiet`."""
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


#: The process's redactor: logging scrubs with it; filled at start-up from the config.
DEFAULT: Final = Redactor()

_install_lock = threading.Lock()


def guard_logging(redactor: Redactor = DEFAULT) -> None:
    """Install ``redactor`` as a filter on the loggers that print notification URLs.

    On the loggers themselves, not on a handler: apprise captures a send's log lines
    with a handler of its own, and those lines become failure details. Also caps
    apprise's logger at WARNING unless the operator set a level on it: its DEBUG lines
    print request URLs and payloads.
    """
    with _install_lock:
        for name in GUARDED_LOGGERS:
            logger = logging.getLogger(name)
            if redactor not in logger.filters:
                logger.addFilter(redactor)
        apprise_logger = logging.getLogger("apprise")
        if apprise_logger.level == logging.NOTSET:
            apprise_logger.setLevel(logging.WARNING)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Drop guarded log records from this context (e.g. while probing a URL we report on)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def register_config_secrets(config: Config, redactor: Redactor = DEFAULT) -> Redactor:
    """Teach ``redactor`` every secret the config holds, before anything can log it.

    Apprise URLs are registered as their notifiers load them (their labels need apprise,
    which read-only commands do not import); everything else is registered here.

    Returns:
        ``redactor``, to pass on.
    """
    p = config.pinterest
    state = config.monitor.state
    if isinstance(state, str):
        redactor.add_url(state, mask_url(state))  # a database URL may hold a password
    for secret in (p.access_token, p.client_secret, p.refresh_token, config.web.token):
        if secret is not None:
            redactor.add(secret.reveal())
    for route in config.routes:
        for bot in route.slack_bots:
            redactor.add(bot.token.reveal())
            redactor.add_url(bot.base_url, mask_url(bot.base_url))
        for hook in route.webhooks:
            url = hook.url.reveal()
            redactor.add_url(url, mask_url(url))
            for secret in hook.secrets:
                redactor.add(secret.reveal(), secret.reveal().removeprefix("whsec_"))
    return redactor
