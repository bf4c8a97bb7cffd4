"""Deliver messages through apprise: one notifier per URL, so each target has its own result.

apprise is imported lazily, inside the functions that need it: importing it loads ~190
plugins, and ``pinmon --help`` must stay fast.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

from monitor.errors import ConfigError
from monitor.notify import Message, SendResult
from monitor.notify._redact import (
    HTTP_SCHEMES,
    fallback_label,
    guard_logging,
    quiet,
    redact,
    scheme_of,
    tidy_label,
)
from monitor.notify.markup import dialect_for

if TYPE_CHECKING:
    from apprise import Apprise, AppriseAsset
    from apprise.plugins.base import NotifyBase
    from apprise.result import AppriseResult

__all__ = ["AppriseNotifier", "apprise_url_problem", "mask_url"]

#: Answers that mean the target refuses this message or this configuration as such:
#: sending it again unchanged cannot succeed, so the caller should alert, not retry.
PERMANENT_STATUSES: Final = frozenset({400, 401, 403, 404, 405, 410, 413, 422})

_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_MAX_DETAIL = 300


def _asset() -> AppriseAsset:
    from apprise import AppriseAsset

    # app_id shows in the footer Slack and others print under each message.
    return AppriseAsset(app_id="pinmon", app_desc="pinmon: Pinterest ad status alerts")


def _load(url: str) -> NotifyBase | None:
    """The apprise plugin for ``url``, or None; apprise's own complaints are silenced."""
    from apprise import Apprise

    guard_logging(url)
    with quiet():
        plugin: NotifyBase | None = Apprise.instantiate(url, asset=_asset())
    return plugin


def _label(url: str, plugin: NotifyBase | None) -> str:
    if plugin is None:
        return fallback_label(url)
    # apprise leaves url() unannotated; privacy=True masks what each plugin marks private.
    privacy_url: str = plugin.url(privacy=True)  # type: ignore[no-untyped-call]
    return tidy_label(privacy_url, mask_path=scheme_of(url) in HTTP_SCHEMES)


def mask_url(url: str) -> str:
    """A human label for an apprise URL with every credential masked.

    Uses apprise's privacy mode (which knows each plugin's tokens) and then drops the
    query string and, for plain HTTP targets (``json://``, ``form://``, ``xml://``),
    token-like path segments. A URL apprise cannot load keeps only its scheme.
    """
    return _label(url, _load(url))


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
    if _load(url) is not None:
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

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        from apprise import Apprise

        plugin = _load(url)
        self.key = url_key(url)
        self.batch = True
        self.label = _label(url, plugin)
        if plugin is None:
            reason = apprise_url_problem(url) or "apprise cannot load this URL"
            raise ConfigError([f"{self.label}: {reason}"])
        self.timeout_s = timeout_s
        # The service's own message limits (Discord 2,000, Telegram 4,096, Slack 35,000
        # characters): digests are cut to fit with "…and N more", not truncated mid-line.
        self.body_limit: int | None = getattr(plugin, "body_maxlen", None) or None
        # How the plugin reads the message: text from Pinterest is escaped for it.
        self.dialect = dialect_for(plugin)
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
            return self._failed(f"apprise raised {type(exc).__name__}: {exc}")
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
            return SendResult(ok=True, target=self.label)
        if service.status == AppriseResultStatus.TIMEOUT:
            # The request may still land after we stop waiting: a retry can duplicate it.
            return self._failed(f"no answer within {self.timeout_s:g}s (delivery unknown)")
        problem = _last_problem(service.logs())
        status = _http_status(service.logs())
        prefix = f"{service.name}: " + (f"HTTP {status}: " if status is not None else "")
        return self._failed(
            prefix + (problem or "failed without a reason in apprise's log"),
            permanent=status in PERMANENT_STATUSES,
            status=status,
        )

    def _failed(
        self, detail: str, *, permanent: bool = False, status: int | None = None
    ) -> SendResult:
        text = redact(detail)
        if len(text) > _MAX_DETAIL:
            text = text[: _MAX_DETAIL - 1] + "…"
        return SendResult(
            ok=False, target=self.label, detail=text, permanent=permanent, status=status
        )


def _problems(entries: Any) -> list[str]:
    return [str(e.message) for e in entries if e.level in ("WARNING", "ERROR", "CRITICAL")]


def _last_problem(entries: Any) -> str | None:
    problems = _problems(entries)
    return problems[-1] if problems else None


def _http_status(entries: Any) -> int | None:
    """The last HTTP status apprise logged: its plugins end failures with ``error=NNN.``"""
    statuses = [int(m.group(1)) for p in _problems(entries) for m in _HTTP_STATUS.finditer(p)]
    return statuses[-1] if statuses else None
