"""The slack-bot target's side of Slack's Web API: two methods over ``slack_sdk``, and
what Slack's answers mean to the outbox.

``slack_sdk``'s own retry handlers are off: the outbox decides when to try again, from
the :class:`~monitor.notify.SendResult` built here (a 429's ``Retry-After`` included), so
a retry survives a restart and is counted like every other target's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from monitor.notify import Fault, SendResult
from monitor.notify.slack.blocks import Post
from monitor.notify.webhook import parse_retry_after
from monitor.redact import Redactor

__all__ = ["DISABLING", "SlackClient", "failure", "missing_root"]

#: Slack's errors that no retry can mend and that will fail every message alike: the
#: token is no more, or the bot cannot post where it was told to. The target is disabled.
DISABLING: Final = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "team_access_not_granted",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "ekm_access_denied",
    }
)
#: Errors of this message alone: sending it again cannot succeed.
_UNSENDABLE: Final = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "invalid_arg_name",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_thread_ts",
    }
)
#: ``chat.update`` cannot edit the root (someone deleted it, or edits are closed).
_ROOT_GONE: Final = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
_MAX_DETAIL = 300


class SlackClient:
    """``chat.postMessage`` and ``chat.update`` with a bot token.

    Args:
        token: The bot token; never logged (``slack_sdk`` masks its header too).
        base_url: Slack's Web API, or a fake of it.
        timeout_s: Limit on one request.
    """

    def __init__(self, token: str, *, base_url: str, timeout_s: float) -> None:
        self._client = AsyncWebClient(
            token=token, base_url=base_url, timeout=max(1, int(timeout_s)), retry_handlers=[]
        )

    async def post(
        self, channel: str, post: Post, *, thread_ts: str | None = None
    ) -> tuple[str, str]:
        """Post a message (a reply when ``thread_ts``); returns Slack's channel id and ``ts``.

        Raises:
            SlackApiError, aiohttp.ClientError, TimeoutError: see :func:`failure`.
        """
        kwargs: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        response = await self._client.chat_postMessage(
            channel=channel,
            text=post.text,
            blocks=list(post.blocks),
            unfurl_links=False,
            unfurl_media=False,
            **kwargs,
        )
        return str(response["channel"]), str(response["ts"])

    async def update(self, channel: str, ts: str, post: Post) -> None:
        """Replace the message ``ts`` of ``channel`` (its id) with ``post``."""
        await self._client.chat_update(
            channel=channel, ts=ts, text=post.text, blocks=list(post.blocks)
        )


def missing_root(exc: SlackApiError) -> bool:
    """Whether ``chat.update`` failed because the root can no longer be edited."""
    return _error(exc) in _ROOT_GONE


def failure(
    exc: BaseException, label: str, redactor: Redactor, now: Callable[[], float]
) -> SendResult:
    """What a failed request means: a 429's wait honoured, a revoked token or a channel
    the bot cannot post in disables the target, a broken message is dead, the rest retried."""
    if isinstance(exc, SlackApiError):
        status = int(exc.response.status_code)
        error = _error(exc)
        said = f"Slack: {error or 'no error code'} (HTTP {status})"
        if status == 429:
            wait = parse_retry_after(_header(exc.response.headers, "Retry-After"), now())
            return _failed(label, said, redactor, status=429, retry_after_s=wait)
        if error in DISABLING:
            return _failed(label, said, redactor, fault=Fault.REVOKED)
        if error in _UNSENDABLE:
            return _failed(label, said, redactor, fault=Fault.UNSENDABLE)
        return _failed(label, said, redactor, status=status)
    if isinstance(exc, TimeoutError):
        return _failed(label, "no answer in time (delivery unknown)", redactor, fault=Fault.TIMEOUT)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _failed(label, "cannot connect to Slack", redactor, fault=Fault.UNREACHABLE)
    # str() of these may quote the request URL: the type is the safe summary.
    return _failed(label, f"request failed: {type(exc).__name__}", redactor, fault=Fault.BROKEN)


def _error(exc: SlackApiError) -> str:
    data = exc.response.data
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


def _failed(
    label: str,
    detail: str,
    redactor: Redactor,
    *,
    status: int | None = None,
    fault: Fault | None = None,
    retry_after_s: float | None = None,
) -> SendResult:
    detail = redactor.redact(detail)[:_MAX_DETAIL]
    return SendResult.failed(label, detail, status=status, fault=fault, retry_after_s=retry_after_s)
