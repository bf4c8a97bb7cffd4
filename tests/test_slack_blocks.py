"""The slack-bot target's pure parts: Block Kit rendering, the thread plan, what Slack's
answers mean, and mrkdwn escaping; as tables."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from monitor.events import Event, FieldChange
from monitor.notify import Outcome
from monitor.notify.slack import SlackBotNotifier
from monitor.notify.slack.blocks import (
    HEADER_CHARS,
    MAX_BLOCKS,
    SECTION_CHARS,
    reply,
    resolved,
    root,
)
from monitor.notify.slack.client import failure
from monitor.notify.slack.plan import Step, plan
from monitor.redact import Redactor
from monitor.render.escape import Markup, escape
from monitor.store import SlackThread
from monitor.vocab import REJECTED_REASONS
from tests.slack_fake import texts

ACCOUNT = "549755885175"
AD = "687195134316"
NAMES = {ACCOUNT: "Acme Home & Living"}


def _event(change: str = "rejected", *, name: str = "Holiday Ad", **kw: Any) -> Event:
    base: dict[str, Any] = {
        "id": f"evt_{change}",
        "type": f"ad.{change}",
        "entity": "ad",
        "entity_id": AD,
        "ad_account_id": ACCOUNT,
        "campaign_id": "626735565838",
        "ad_group_id": "2680059592705",
        "ad_id": AD,
        "pin_id": "394205773611545468",
        "name": name,
        "campaign_name": "Holiday Sale",
        "ad_group_name": "Gift Shoppers",
        "detected_at": 1_764_326_400.0,
    }
    if change in ("rejected", "still_rejected"):
        base["state"] = {"review_status": "REJECTED", "rejected_reasons": ["HASHTAGS"],
                         "rejection_labels": ["Too many hashtags"]}  # fmt: skip
        base["changes"] = (
            {"review_status": FieldChange("APPROVED", "REJECTED")} if change == "rejected" else {}
        )
    if change == "approved":
        base["state"] = {"review_status": "APPROVED"}
        base["changes"] = {
            "review_status": FieldChange("REJECTED", "APPROVED"),
            "rejection_labels": FieldChange(["Too many hashtags"], []),
        }
    return Event(**(base | kw))


def _thread(*, resolved_: bool = False, last: str = "evt_other") -> SlackThread:
    return SlackThread("slack-bot:k", ACCOUNT, AD, "C0PINMON01", "1700000001.000001",
                       resolved_, 1_764_300_000.0, 1_764_300_000.0, last)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "thread", "step"),
    [
        ("rejected", None, Step.ROOT),
        ("still_rejected", None, Step.ROOT),  # a target added after the rejection
        ("review_stuck", None, Step.ROOT),
        ("approved", None, Step.ALONE),  # nothing to resolve
        ("status_changed", None, Step.ALONE),
        ("still_rejected", _thread(), Step.REPLY),
        ("status_changed", _thread(), Step.REPLY),
        ("rejected", _thread(), Step.REPLY),  # new reasons, same stretch of trouble
        ("approved", _thread(), Step.RESOLVE),
        ("approved", _thread(resolved_=True), Step.ALONE),
        ("rejected", _thread(resolved_=True), Step.ROOT),  # a new stretch: a new thread
        ("rejected", _thread(last="evt_rejected"), Step.DONE),  # resent after a crash
        ("approved", _thread(resolved_=True, last="evt_approved"), Step.DONE),
    ],
)
def test_which_message_an_event_becomes(
    change: str, thread: SlackThread | None, step: Step
) -> None:
    """The thread plan, by the event's change and the ad's thread."""
    assert plan(_event(change), thread) is step


def test_reports_and_campaigns_never_thread() -> None:
    """pinmon's own reports and campaign events go alone, whatever is stored."""
    report = _event("rejected", entity="monitor", type="monitor.target_disabled")
    campaign = _event("status_changed", entity="campaign", type="campaign.status_changed")
    assert plan(report, _thread()) is Step.ALONE
    assert plan(campaign, _thread()) is Step.ALONE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!channel> hi", "&lt;!channel&gt; hi"),
        ("<http://evil.example|click>", "&lt;http://evil.example|click&gt;"),
        ("@everyone @here", "@\u200beveryone @\u200bhere"),
        ("<@U024BE7LH>", "&lt;@\u200bU024BE7LH&gt;"),
        ("*bold* _it_ ~s~ `c`", "\u2217bold\u2217 \u02cdit\u02cd \u223cs\u223c \u02cbc\u02cb"),
        ("> quoted", "\u00ad&gt; quoted"),
        ("Tom & Jerry &amp;", "Tom &amp; Jerry &amp;amp;"),
        ("review_status", "review_status"),  # inside a word "_" is literal in Slack
        ("line\nforged", "line forged"),
    ],
)
def test_mrkdwn_escaping(text: str, expected: str) -> None:
    """Pinterest text in native mrkdwn: no mention, link, emphasis or quote can form."""
    assert escape(text, Markup.MRKDWN) == expected


HOSTILE = "<!channel> @everyone <http://evil.example|x> *b* &lt; " + "A" * 100_000


@pytest.mark.parametrize(
    "post",
    [
        root(_event(name=HOSTILE, campaign_name=HOSTILE, ad_group_name=HOSTILE), NAMES,
             threaded=True),
        reply(_event("still_rejected", name=HOSTILE), NAMES),
        resolved(_event("approved", name=HOSTILE), {ACCOUNT: HOSTILE}, opened_at=0.0),
    ],
    ids=["root", "reply", "resolved"],
)  # fmt: skip
def test_a_hostile_name_is_inert_and_within_slacks_limits(post: Any) -> None:
    """A 100 KB name full of mentions and links: nothing forms, every block fits (a
    header is plain_text, which Slack never parses: there the name only loses its "<!")."""
    mrkdwn = texts([b for b in post.blocks if b["type"] != "header"]) + post.text
    assert "<!channel>" not in mrkdwn
    assert "<http://evil" not in mrkdwn
    assert "@everyone" not in texts(list(post.blocks)) + post.text
    assert "<!channel>" not in texts(list(post.blocks))
    assert len(post.blocks) <= MAX_BLOCKS
    for block in post.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= HEADER_CHARS
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_CHARS
            assert block["text"]["verbatim"] is True  # Slack links nothing by itself
    assert len(post.text) <= 300


def test_every_reason_at_once_stays_within_a_section() -> None:
    """All of Pinterest's rejection reasons on one ad: the fixes are cut to one section,
    never in the middle of a link."""
    codes = list(REJECTED_REASONS)
    event = _event(state={"review_status": "REJECTED", "rejected_reasons": codes})
    post = root(event, NAMES, threaded=True)
    (fixes,) = [b for b in post.blocks if "What to fix" in b.get("text", {}).get("text", "")]
    text = fixes["text"]["text"]
    assert len(text) <= SECTION_CHARS
    assert text.count("<") == text.count(">")  # no link cut in half
    assert text.endswith("…")


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        (
            root(_event(), NAMES, threaded=True),
            [
                "*Account:* Acme Home &amp; Living\n*Campaign:* Holiday Sale\n"
                "*Ad group:* Gift Shoppers\n*Ad ID:* 687195134316",
                "*Why it was rejected:*\n• Too many hashtags",
                "*Next step:*",
                "|Open in Ads Manager> · <https://www.pinterest.com/pin/394205773611545468/"
                "|View the Pin>",
                "Reminders and later changes of this ad follow in this thread.",
            ],
        ),
        (
            reply(_event("still_rejected"), NAMES),
            ["*🔁 Ad still rejected*\nRejected for: Too many hashtags", "|Open in Ads Manager>"],
        ),
        (
            resolved(_event("approved"), NAMES, opened_at=1_764_326_400.0 - 7200),
            ["2 h after this alert", "*It was rejected for:* Too many hashtags"],
        ),
    ],
    ids=["root", "reminder", "resolved"],
)
def test_what_each_message_says(post: Any, expected: list[str]) -> None:
    """What an ads manager reads on a phone: what broke, what to do, whether it is fixed."""
    shown = texts(list(post.blocks))
    for piece in expected:
        assert piece in shown


def _error(
    status: int, data: dict[str, Any], headers: dict[str, str] | None = None
) -> SlackApiError:
    response = AsyncSlackResponse(
        client=None, http_verb="POST", api_url="https://slack.com/api/chat.postMessage",
        req_args={}, data=data, headers=headers or {}, status_code=status,
    )  # fmt: skip
    return SlackApiError("failed", response)


@pytest.mark.parametrize(
    ("exc", "outcome", "retry_after_s"),
    [
        (_error(429, {"ok": False, "error": "ratelimited"}, {"retry-after": "30"}), Outcome.RETRY, 30.0),
        (_error(200, {"ok": False, "error": "invalid_auth"}), Outcome.DISABLE, None),
        (_error(200, {"ok": False, "error": "token_revoked"}), Outcome.DISABLE, None),
        (_error(200, {"ok": False, "error": "channel_not_found"}), Outcome.DISABLE, None),
        (_error(200, {"ok": False, "error": "not_in_channel"}), Outcome.DISABLE, None),
        (_error(200, {"ok": False, "error": "account_inactive"}), Outcome.DISABLE, None),
        (_error(200, {"ok": False, "error": "invalid_blocks"}), Outcome.PERMANENT, None),
        (_error(200, {"ok": False, "error": "internal_error"}), Outcome.RETRY, None),
        (_error(503, {"ok": False, "error": "service_unavailable"}), Outcome.RETRY, None),
        (TimeoutError(), Outcome.RETRY, None),
        (OSError("boom"), Outcome.RETRY, None),
    ],
)  # fmt: skip
def test_what_slacks_answers_mean(
    exc: BaseException, outcome: Outcome, retry_after_s: float | None
) -> None:
    """Slack's answers through the one classifier: a 429's wait kept, a revoked token or
    an unreachable channel disables the target, a broken message is dead, the rest retried."""
    result = failure(exc, "slack-bot:#ads", Redactor(), lambda: 0.0)
    assert (result.outcome, result.retry_after_s) == (outcome, retry_after_s)


def test_the_key_survives_a_token_rotation_and_the_label_hides_the_token() -> None:
    """The outbox key is the channel's and API's, not the token's; the label shows neither
    the token nor anything of it, and the redactor learns it."""
    redactor = Redactor()
    a = SlackBotNotifier("xoxb-1111-aaaaaaaaaaaaaaaa", "#ads", redactor=redactor)
    b = SlackBotNotifier("xoxb-2222-bbbbbbbbbbbbbbbb", "#ads", redactor=redactor)
    other = SlackBotNotifier("xoxb-2222-bbbbbbbbbbbbbbbb", "C0123456789", redactor=redactor)
    assert a.key == b.key != other.key
    assert a.label == "slack-bot:#ads"
    assert "xoxb" not in repr(a)
    assert redactor.redact("x xoxb-1111-aaaaaaaaaaaaaaaa y") == "x **** y"


def test_the_message_passes_account_names_to_slack() -> None:
    """The delivery loop hands the account's name with the events (no text rendered)."""
    from monitor.digest import compose
    from monitor.store import Delivery

    notifier = SlackBotNotifier("xoxb-1111-aaaaaaaaaaaaaaaa", "#ads", redactor=Redactor())
    d = Delivery(1, _event(), "r", notifier.key, 0, "pending", 0.0, None, 0.0)
    message = compose([d], notifier, None, NAMES)
    assert (message.body, message.account_names) == ("", NAMES)
    assert replace(message, account_names={}).events == (d.event,)


def test_pinmons_own_reports_read_as_slack_and_quote_inertly() -> None:
    """A monitor.* report: its title as the header, its facts in mrkdwn bold, what it
    quotes (a refusal's text) escaped, so a link or mention in it forms nothing."""
    from monitor.notify.slack.blocks import report
    from monitor.ops import OpsChange, ops_event

    event = ops_event(
        OpsChange.DELIVERY_DEAD,
        subject="slack-bot:#ads",
        at=0.0,
        occurrence="1",
        detail={"target": "slack-bot:#ads", "reason": "[x](http://evil) <!channel> **b**"},
    )
    post = report(event)
    assert post.blocks[0]["text"]["text"] == (
        "📪 pinmon gave up delivering to a notification target"
    )
    shown = texts(list(post.blocks[1:]))
    assert "• *Target:* slack-bot:#ads" in shown
    assert "<http://evil" not in shown
    assert "](" not in shown.replace("]\u200b(", "")  # no CommonMark link survives
    assert "<!channel>" not in shown
    assert "&lt;!channel&gt;" in shown
    assert "`pinmon redeliver --failed`" in shown
