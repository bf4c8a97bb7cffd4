"""The slack-bot target: Block Kit messages through Slack's Web API, one thread per ad.

A rejection posts a root message; reminders and later changes of the ad reply in its
thread; the approval that ends it edits the root to "✅ Resolved" (``chat.update``) and
replies. The root's ``ts`` is stored with the ad (table ``slack_threads``), so threads
survive restarts and are shared by replicas. See docs/slack.md.

Ordering, for a crash between Slack's answer and the outbox's record: the thread row is
written right after Slack answers and before the delivery is settled, and it names the
last event posted, so a resent delivery finds itself there and is not posted again. What
remains: a crash after Slack accepted a root and before its row was written posts a
second root (the first is left unresolved); a reply can arrive twice the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Protocol

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError

from monitor.config.slack import SLACK_API, slack_key, slack_label
from monitor.events import Event
from monitor.notify import Fault, Message, SendResult
from monitor.notify.slack.blocks import MRKDWN, reply, report, resolved, root
from monitor.notify.slack.client import SlackClient, failure, missing_root
from monitor.notify.slack.plan import Step, plan, threaded
from monitor.redact import DEFAULT, Redactor
from monitor.render.escape import Dialect
from monitor.store import SlackThread

__all__ = ["SlackBotNotifier", "ThreadStore", "slack_label"]

log = structlog.get_logger("monitor.notify.slack")


class ThreadStore(Protocol):
    """Where the ads' threads are kept: the state store."""

    async def slack_thread(
        self, target: str, account_id: str, ad_id: str
    ) -> SlackThread | None: ...

    async def save_slack_thread(self, thread: SlackThread) -> None: ...


class SlackBotNotifier:
    """Posts each event to one Slack channel as Block Kit, threading by ad.

    Args:
        token: The bot token (``xoxb-...``); registered with ``redactor`` at once.
        channel: A channel id or ``#name`` the bot is a member of.
        base_url: Slack's Web API (a fake of it in tests).
        threads: Where threads are kept; None (``notify-test``) posts every event alone.
        timeout_s: Limit on one request.
        now: Unix time (injected in tests): thread times and HTTP-date Retry-Afters.
        redactor: Learns the token; scrubs failure details with it.
    """

    #: One event a message: each ad has its own thread, so a digest cannot be threaded.
    batch = False
    body_limit: int | None = None
    dialect: Dialect = MRKDWN
    #: The Block Kit is built from ``message.events``: nothing is rendered for it.
    sends_text = False

    def __init__(
        self,
        token: str,
        channel: str,
        *,
        base_url: str = SLACK_API,
        threads: ThreadStore | None = None,
        timeout_s: float = 30.0,
        now: Callable[[], float] = time.time,
        redactor: Redactor = DEFAULT,
    ) -> None:
        self.label = slack_label(channel, base_url)
        redactor.add(token)
        redactor.add_url(base_url, self.label)
        self._redactor = redactor
        self.key = slack_key(channel, base_url)
        self._channel = channel
        self._client = SlackClient(token, base_url=base_url, timeout_s=timeout_s)
        self._threads = threads
        self._now = now

    def __repr__(self) -> str:
        return f"SlackBotNotifier({self.label!r})"

    async def send(self, message: Message) -> SendResult:
        """Post each event of ``message`` (one, from the delivery loop) in its place."""
        if not message.events:
            return SendResult.failed(
                self.label, "message carries no events", fault=Fault.UNSENDABLE
            )
        for event in message.events:
            try:
                await self._send(event, message.account_names)
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                return failure(exc, self.label, self._redactor, self._now)
        return SendResult.sent(self.label)

    async def _send(self, event: Event, names: Mapping[str, str]) -> None:
        thread = None
        if self._threads is not None and threaded(event):
            thread = await self._threads.slack_thread(
                self.key, event.ad_account_id, event.entity_id
            )
        step = plan(event, thread) if self._threads is not None else Step.ALONE
        match step:
            case Step.DONE:
                log.info("slack.already_posted", target=self.label, event_id=event.id)
            case Step.ALONE if event.is_report:
                await self._client.post(self._channel, report(event))
            case Step.ALONE:
                await self._client.post(self._channel, root(event, names, threaded=False))
            case Step.ROOT:
                channel, ts = await self._client.post(
                    self._channel, root(event, names, threaded=True)
                )
                now = self._now()
                await self._save(
                    SlackThread(
                        self.key, event.ad_account_id, event.entity_id, channel, ts, False,
                        now, now, event.id,
                    )
                )  # fmt: skip
            case Step.REPLY:
                assert thread is not None
                await self._client.post(thread.channel, reply(event, names), thread_ts=thread.ts)
                await self._save(replace(thread, updated_at=self._now(), last_event_id=event.id))
            case Step.RESOLVE:
                assert thread is not None
                await self._resolve(event, names, thread)

    async def _resolve(self, event: Event, names: Mapping[str, str], thread: SlackThread) -> None:
        """Edit the root first (an edit again is harmless), then reply, then close: a
        failure or crash in between repeats at most the reply."""
        try:
            await self._client.update(
                thread.channel, thread.ts, resolved(event, names, opened_at=thread.opened_at)
            )
        except SlackApiError as exc:
            if not missing_root(exc):
                raise
            # The root was deleted: its thread with it. The approval goes alone.
            log.warning("slack.root_missing", target=self.label, ad_id=event.entity_id)
            await self._client.post(self._channel, root(event, names, threaded=False))
        else:
            await self._client.post(thread.channel, reply(event, names), thread_ts=thread.ts)
        await self._save(
            replace(thread, resolved=True, updated_at=self._now(), last_event_id=event.id)
        )

    async def _save(self, thread: SlackThread) -> None:
        assert self._threads is not None
        await self._threads.save_slack_thread(thread)
