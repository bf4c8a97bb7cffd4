"""Real apprise sends into a local HTTP sink: what targets receive, and how failures come back."""

from __future__ import annotations

import logging
import socket

import anyio
import pytest

from monitor.errors import ConfigError
from monitor.events import Event, FieldChange
from monitor.notify import Message
from monitor.notify.apprise import AppriseNotifier, apprise_label, apprise_url_problem
from monitor.render import render
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7")
SLACK_URL = "slack://{}/{}/{}/#ads-alerts".format(*SLACK_TOKENS)
MESSAGE = Message(
    title="🚫 Ad rejected: Holiday Sale",
    body="**Why:**\n- Landing page broken",
    level="failure",
    event_ids=("evt_1",),
)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_json_send_delivers_title_body_and_type() -> None:
    """A json:// target receives the title, the Markdown body untouched and the level as type."""
    async with HttpSink() as sink:
        notifier = AppriseNotifier(sink.url("/hook", scheme="json"))
        with anyio.fail_after(10):
            result = await notifier.send(MESSAGE)
        assert result.ok, result.detail
        assert result.target == notifier.label
        (request,) = await sink.wait_for(1, timeout_s=5)
    assert (request.method, request.path) == ("POST", "/hook")
    payload = request.json
    assert payload["title"] == MESSAGE.title
    assert payload["message"] == MESSAGE.body
    assert payload["type"] == "failure"
    assert request.headers["User-Agent"] == "pinmon"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (400, True), (401, True), (404, True)],
)
async def test_http_error_is_a_failed_result(status: int, permanent: bool) -> None:
    """An HTTP error is ok=False with the status in detail; a 4xx refusal is marked permanent."""
    async with HttpSink() as sink:
        sink.fail_next("/hook", status=status)
        notifier = AppriseNotifier(sink.url("/hook", scheme="json"))
        with anyio.fail_after(10):
            result = await notifier.send(MESSAGE)
    assert not result.ok
    assert f"HTTP {status}" in result.detail
    assert result.permanent is permanent
    assert result.retry_after_s is None  # apprise does not surface response headers


async def test_connection_refused_is_a_transient_failure() -> None:
    """A target that refuses the connection is ok=False, not permanent, with a reason."""
    notifier = AppriseNotifier(f"json://127.0.0.1:{closed_port()}/hook")
    with anyio.fail_after(10):
        result = await notifier.send(MESSAGE)
    assert not result.ok
    assert not result.permanent
    assert "connection error" in result.detail.lower()


async def test_timeout_is_a_failure_of_unknown_delivery() -> None:
    """A target slower than timeout_s is reported failed, and as possibly delivered."""
    async with HttpSink() as sink:
        sink.respond("/slow", delay_s=2.0)
        notifier = AppriseNotifier(sink.url("/slow", scheme="json"), timeout_s=0.3)
        with anyio.fail_after(10):
            result = await notifier.send(MESSAGE)
    assert not result.ok
    assert "delivery unknown" in result.detail


async def test_each_notifier_reports_only_its_own_target() -> None:
    """Two targets sent concurrently get independent results."""
    async with HttpSink() as sink:
        sink.respond("/bad", status=500)
        good = AppriseNotifier(sink.url("/good", scheme="json"))
        bad = AppriseNotifier(sink.url("/bad", scheme="json"))
        results = {}

        async def send(name: str, notifier: AppriseNotifier) -> None:
            results[name] = await notifier.send(MESSAGE)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(send, "good", good)
                tg.start_soon(send, "bad", bad)
    assert results["good"].ok
    assert not results["bad"].ok
    assert good.key != bad.key


async def test_credentials_stay_out_of_label_key_detail_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Passwords and path secrets never reach the label, the key, a failure detail or a log line."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="apprise")
    async with HttpSink() as sink:
        sink.fail_next("/hook/s3cr3tpath", status=500)
        url = f"json://user:hunter2@127.0.0.1:{sink.port}/hook/s3cr3tpath?-token=qwerty123"
        notifier = AppriseNotifier(url)
        with anyio.fail_after(10):
            result = await notifier.send(MESSAGE)
        (request,) = await sink.wait_for(1)
    assert request.path == "/hook/s3cr3tpath"  # the secret path was really used
    assert notifier.label == f"json://user:****@127.0.0.1:{sink.port}/hook/****?-token=****"
    assert not result.ok
    assert "apprise" in caplog.text  # apprise did log (at DEBUG), only redacted
    for secret in ("hunter2", "s3cr3tpath", "qwerty123"):
        for text in (notifier.label, notifier.key, result.detail, repr(notifier), caplog.text):
            assert secret not in text


async def test_slack_receives_readable_mrkdwn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rendered rejection reaches Slack with name, reasons in words and a working link."""
    from apprise.plugins.slack import NotifySlack

    event = Event(
        id="evt_1",
        type="ad.rejected",
        entity="ad",
        entity_id="687195134316",
        ad_account_id="549755885175",
        campaign_id="626735565838",
        ad_group_id="2680059592705",
        ad_id="687195134316",
        name="Holiday Sale — Carousel",
        campaign_name="Holiday 2024",
        detected_at=0.0,
        changes={"review_status": FieldChange("PENDING", "REJECTED")},
        state={"review_status": "REJECTED", "rejected_reasons": ["LANDING_PAGE_BROKEN"]},
    )
    async with HttpSink() as sink:
        # apprise's Slack webhook mode has no host option: point its endpoint at the sink.
        monkeypatch.setattr(NotifySlack, "webhook_url", sink.url("/services"))
        notifier = AppriseNotifier(SLACK_URL)
        with anyio.fail_after(10):
            result = await notifier.send(render([event], account_names={}))
        assert result.ok, result.detail
        (request,) = await sink.wait_for(1)
    assert request.path == "/services/{}/{}/{}".format(*SLACK_TOKENS)
    payload = request.json
    assert payload["channel"] == "#ads-alerts"
    (attachment,) = payload["attachments"]
    assert attachment["title"] == "🚫 Ad rejected: Holiday Sale — Carousel"
    text = attachment["text"]
    assert "*Why it was rejected:*" in text  # **bold** became Slack's *bold*
    assert "**" not in text
    assert "- Landing page broken" in text
    assert "review_status: PENDING → REJECTED" in text  # no stray backslashes
    assert (
        "<https://ads.pinterest.com/advertiser/549755885175/reporting/ads/"
        "?campaignIds=%5B626735565838%5D&amp;adGroupIds=%5B2680059592705%5D|Open in Ads Manager>"
    ) in text
    assert payload["mrkdwn"] is True
    assert notifier.label == "slack://T...2/A...D/T...7/#ads-alerts"
    assert not any(token in notifier.label for token in SLACK_TOKENS)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (SLACK_URL, None),
        ("https://hooks.slack.com/services/{}/{}/{}".format(*SLACK_TOKENS), None),
        ("json://127.0.0.1:8080/hook", None),
        ("nope://user:hunter2@x", "apprise cannot load this URL (unknown scheme 'nope://')"),
        ("slack://hunter2", "Slack: a required part is missing or malformed"),
        ("https://example.com/hunter2", "no service recognises this https:// URL"),
        ("hunter2", "not an apprise URL"),
        ("  ", "empty apprise URL"),
    ],
)
def test_apprise_url_problem(url: str, expected: str | None) -> None:
    """A loadable URL has no problem; any other gets a reason that never echoes the URL."""
    reason = apprise_url_problem(url)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason
        assert "hunter2" not in reason


def test_unloadable_url_cannot_make_a_notifier() -> None:
    """Constructing a notifier for a URL apprise rejects is a ConfigError without the secret."""
    with pytest.raises(ConfigError) as info:
        AppriseNotifier("slack://hunter2")
    assert "hunter2" not in str(info.value)


def test_key_is_stable_and_label_masks_other_schemes() -> None:
    """The outbox key depends only on the URL; labels of other services hide their tokens."""
    assert AppriseNotifier(SLACK_URL).key == AppriseNotifier(SLACK_URL).key
    assert AppriseNotifier(SLACK_URL).key.startswith("apprise:")
    label = apprise_label("tgram://123456789:AAHsecretsecret/12345")
    assert "AAHsecretsecret" not in label
    assert apprise_label("nope://user:hunter2@host") == "nope://****"
