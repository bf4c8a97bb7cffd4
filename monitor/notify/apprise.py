"""Deliver messages through apprise: one notifier per URL, so each target has its own result.

apprise is imported lazily, inside the functions that need it: importing it loads ~190
plugins, and ``pinmon --help`` must stay fast.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

from monitor.errors import ConfigError
from monitor.notify import Fault, Message, SendResult
from monitor.notify.markup import dialect_for
from monitor.redact import DEFAULT, MASK, Redactor, guard_logging, mask_url, quiet, scheme_of

if TYPE_CHECKING:
    from apprise import Apprise, AppriseAsset
    from apprise.plugins.base import NotifyBase
    from apprise.result import AppriseResult

__all__ = ["AppriseNotifier", "apprise_label", "apprise_url_problem"]

#: Schemes apprise sends as plain HTTP(S) requests. Its privacy mode treats their path and
#: query as ordinary text (headers included), but webhook receivers routinely put secrets
#: there: their labels are masked from the URL itself, like a signed webhook's.
HTTP_SCHEMES: Final = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})

# apprise's plugins end a failed request's log line with "error=NNN." (see _http_status).
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_MAX_DETAIL = 300


def _asset() -> AppriseAsset:
    from apprise import AppriseAsset

    # app_id shows in the footer Slack and others print under each message.
    return AppriseAsset(app_id="pinmon", app_desc="pinmon: Pinterest ad status alerts")


def _load(url: str, redactor: Redactor = DEFAULT) -> tuple[NotifyBase | None, str]:
    """The apprise plugin for ``url`` (None if none loads it) and ``url``'s label.

    apprise's own complaints are silenced. ``url``'s secrets are registered with
    ``redactor``, which guards apprise's loggers, before apprise can log about a send.
    """
    from apprise import Apprise

    guard_logging(redactor)
    with quiet():
        plugin: NotifyBase | None = Apprise.instantiate(url, asset=_asset())
    label = _label(url, plugin)
    # What apprise's privacy mode shows, and what mask_url would show, is not secret: a
    # native https://discord.com/api/webhooks/... URL must not turn "webhooks" into ****.
    public = [mask_url(url)]
    if plugin is not None and scheme_of(url) not in HTTP_SCHEMES:
        public.append(_privacy_url(plugin).partition("?")[0])
    redactor.add_url(url, label, public=public)
    return plugin, label


def _privacy_url(plugin: NotifyBase) -> str:
    # apprise leaves url() unannotated; privacy=True masks what each plugin marks private.
    return str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]


def _label(url: str, plugin: NotifyBase | None) -> str:
    if plugin is None:
        # Unloadable: nothing but the scheme is known not to be a credential.
        scheme = scheme_of(url)
        return f"{scheme}://{MASK}" if scheme else MASK
    if scheme_of(url) in HTTP_SCHEMES:
        return mask_url(url)
    return mask_url(_privacy_url(plugin), trusted=True)


def apprise_label(url: str) -> str:
    """A human label for an apprise URL with every credential masked.

    Uses apprise's privacy mode (which knows each plugin's tokens), without the query
    string where apprise repeats every option; plain HTTP targets (``json://``,
    ``form://``, ``xml://``) are masked like any webhook URL (:func:`monitor.redact.
    mask_url`). A URL apprise cannot load keeps only its scheme.
    """
    return _load(url)[1]


def apprise_url_problem(url: str) -> str | None:
    """Why apprise cannot use ``url``, or None when it can.

    The reason names the scheme and the service at most, never any other part of the
    URL: the rest may be a credential.
    """
    scheme = scheme_of(url)
    if not url.strip():
        return "empty apprise URL"
    if scheme is None:
        return "not an apprise URL (expected scheme://...)"
    if _load(url)[0] is not None:
        return None
    from apprise.manager_plugins import NotificationManager

    plugins = NotificationManager()  # type: ignore[no-untyped-call]  # a cached singleton
    if scheme not in plugins:
        if scheme in ("http", "https"):
            return (
                f"apprise cannot load this URL (no service recognises this {scheme}:// URL;"
                " use json:// or form:// for a generic webhook)"
            )
        return f"apprise cannot load this URL (unknown scheme '{scheme}://')"
    service = plugins[scheme]
    if not service.enabled:
        return f"apprise cannot load this URL ({scheme}:// is disabled on this system)"
    return (
        f"apprise cannot load this URL ({service.service_name}: a required part is missing"
        f" or malformed; see {service.setup_url})"
    )


def url_key(url: str) -> str:
    """The stable, non-secret outbox key of an apprise URL."""
    return "apprise:" + hashlib.sha256(url.strip().encode()).hexdigest()[:16]


class AppriseNotifier:
    """Sends to exactly one apprise URL and reports that target's own outcome.

    Raises:
        ConfigError: apprise cannot load the URL.
    """

    def __init__(self, url: str, *, timeout_s: float = 30.0, redactor: Redactor = DEFAULT) -> None:
        from apprise import Apprise

        plugin, self.label = _load(url, redactor)
        self.key = url_key(url)
        self.batch = True
        self._redactor = redactor
        if plugin is None:
            reason = apprise_url_problem(url) or "apprise cannot load this URL"
            raise ConfigError([f"{self.label}: {reason}"])
        self.timeout_s = timeout_s
        # The service's own message limits (Discord 2,000, Telegram 4,096, Slack 35,000
        # characters): digests are cut to fit with "…and N more", not truncated mid-line.
        self.body_limit: int | None = getattr(plugin, "body_maxlen", None) or None
        # How the plugin reads the message: text from Pinterest is escaped for it.
        self.dialect = dialect_for(plugin)
        self.sends_text = True  # the rendered title and body are what it sends
        self._apprise: Apprise = Apprise(asset=_asset())
        self._apprise.add(plugin)

    def __repr__(self) -> str:
        return f"AppriseNotifier({self.label!r})"

    async def send(self, message: Message) -> SendResult:
        """Send ``message``; every failure comes back as ``SendResult(ok=False)``."""
        from apprise import NotifyFormat, NotifyType

        notify_type = {
            "info": NotifyType.INFO,
            "success": NotifyType.SUCCESS,
            "warning": NotifyType.WARNING,
            "failure": NotifyType.FAILURE,
        }[message.level]
        try:
            result = await self._apprise.async_notify(
                body=message.body,
                title=message.title,
                notify_type=notify_type,
                body_format=NotifyFormat.MARKDOWN,
                timeout=self.timeout_s,
            )
        except Exception as exc:  # apprise reports failures as results; this is a bug in it
            return self._failed(f"apprise raised {type(exc).__name__}: {exc}", Fault.BROKEN)
        with result:
            return self._outcome(result)

    def _outcome(self, result: AppriseResult) -> SendResult:
        from apprise.result import AppriseResultStatus

        services = list(result)
        if not services:
            # Nothing was dispatched: apprise rejected the message itself.
            return self._failed(_last_problem(result.call_logs()) or result.status.name.lower())
        service = services[0]
        if service.status == AppriseResultStatus.SUCCESS:
            return SendResult.sent(self.label)
        if service.status == AppriseResultStatus.TIMEOUT:
            # The request may still land after we stop waiting: a retry can duplicate it.
            return self._failed(
                f"no answer within {self.timeout_s:g}s (delivery unknown)", Fault.TIMEOUT
            )
        problem = _last_problem(service.logs())
        status = _http_status(service.logs())
        prefix = f"{service.name}: " + (f"HTTP {status}: " if status is not None else "")
        # Without a status (a refused connection, a failed DNS lookup, a plugin's own
        # complaint) the log does not say what failed: retried as a broken request.
        return self._failed(
            prefix + (problem or "failed without a reason in apprise's log"),
            Fault.BROKEN,
            status=status,
        )

    def _failed(
        self, detail: str, fault: Fault | None = None, *, status: int | None = None
    ) -> SendResult:
        text = self._redactor.redact(detail)
        if len(text) > _MAX_DETAIL:
            text = text[: _MAX_DETAIL - 1] + "…"
        # apprise does not surface response headers: there is never a Retry-After.
        return SendResult.failed(self.label, text, status=status, fault=fault)


def _problems(entries: Any) -> list[str]:
    return [str(e.message) for e in entries if e.level in ("WARNING", "ERROR", "CRITICAL")]


def _last_problem(entries: Any) -> str | None:
    problems = _problems(entries)
    return problems[-1] if problems else None


def _http_status(entries: Any) -> int | None:
    """The last HTTP status apprise logged: its plugins end failures with ``error=NNN.``

    Parsed from the log text because apprise offers no sturdier source: 2.3's result
    objects (``NotifyResult``, ``NotifyAttempt``) carry only SUCCESS, FAILURE or TIMEOUT
    and the captured log lines; each plugin reads ``requests``' ``status_code`` into a
    local and logs it; and the one hook every plugin calls with the code
    (``URLBase.http_response_code_lookup``) is a static method shared by all targets
    and threads, so it cannot say which target answered. This is the only place the
    log text is read for a status.
    """
    statuses = [int(m.group(1)) for p in _problems(entries) for m in _HTTP_STATUS.finditer(p)]
    return statuses[-1] if statuses else None
