"""The slack-bot target end to end: one Slack thread per ad, that resolves itself.

The real daemon (`run_once`, each a fresh runtime on the same state: a restart between
every step) against the simulator, a real SQLite file (PostgreSQL when
PINMON_TEST_POSTGRES is set) and a local fake of Slack's Web API (tests/slack_fake.py).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import anyio
import pytest

from monitor.config import load_config
from monitor.daemon import EXIT_DELIVERY_FAILED, EXIT_OK, run_once
from monitor.store.factory import open_state
from tests.harness import ACCOUNT, ADS, Rig, rig
from tests.slack_fake import CHANNEL_ID, TOKEN, SlackFake, rate_limited, refused, texts

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

HOUR = 3600.0
DAY = 86_400.0
#: Three days ago on the hour: the simulator's stamps are in the real clock's past.
T0 = float(int(time.time()) // 3600 * 3600) - 3 * DAY
PG_URL = os.environ.get("PINMON_TEST_POSTGRES")


def _config(r: Rig, slack: SlackFake, *, token: str = TOKEN, state: str = "state.db") -> None:
    """A slack-bot route for ad events (reminded daily) and an apprise route for pinmon's
    own reports; the token comes from the environment, as the docs say."""
    os.environ["PINMON_TEST_SLACK_TOKEN"] = token
    r.path.write_text(
        f"""
[pinterest]
base_url = "{r.sim.base_url}"
access_token = "pina_e2e_secret_token_0123456789"
ad_accounts = ["{ACCOUNT}"]

[monitor]
interval = "1h"
state = "{state}"

[[routes]]
name = "ads-to-slack"
events = ["ad.*"]
repeat_after = "24h"

[[routes.slack-bot]]
token = "${{PINMON_TEST_SLACK_TOKEN}}"
channel = "#ads-alerts"
base_url = "{slack.base_url}"

[[routes]]
name = "reports"
events = ["monitor.*"]
apprise = ["{r.sink.url("/alerts", scheme="json")}"]
"""
    )


async def _story(r: Rig, slack: SlackFake) -> None:
    """Baseline; rejected; reminded a day later; paused; approved; rejected again."""
    assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
    assert slack.calls == []  # the baseline says nothing
    r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
    assert await run_once(r.config, now=lambda: T0) == EXIT_OK
    (root,) = slack.accepted()
    assert root.method == "chat.postMessage"
    assert "thread_ts" not in root.body
    assert root.authorization == f"Bearer {TOKEN}"
    blocks = root.body["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🚫 Ad rejected: Holiday Ad 0"},
    }
    shown = texts(blocks)
    for expected in (
        "*Account:* Acme Home &amp; Living",  # the account by its name, escaped
        "*Campaign:* Holiday Sale 2024",
        "*Ad group:* Gift Shoppers",
        "*Why it was rejected:*",
        "*What to fix:*",
        "*Fix:* Remove the hashtags",
        "*What it costs:* this ad is not delivering",
        "Spend last 7 days: ",  # the money at risk, from the simulator's ads analytics
        "*Next step:*",
        "|Open in Ads Manager>",
        "follow in this thread",
    ):
        assert expected in shown
    assert root.body["text"].startswith("🚫 Ad rejected: Holiday Ad 0 — Rejected for:")
    ts = next(t for t, m in slack.messages.items() if m is root.body)

    assert await run_once(r.config, now=lambda: T0 + DAY + 60) == EXIT_OK  # the reminder
    reminder = slack.accepted()[-1]
    assert (reminder.method, reminder.body["thread_ts"]) == ("chat.postMessage", ts)
    assert reminder.body["channel"] == CHANNEL_ID  # Slack's id, from the root's answer
    assert "still rejected" in texts(reminder.body["blocks"])
    assert "Spend last 7 days: " in texts(reminder.body["blocks"])

    r.sim.world.pause(ADS[0])  # a later change of the ad: in its thread too
    assert await run_once(r.config, now=lambda: T0 + DAY + HOUR) == EXIT_OK
    paused = slack.accepted()[-1]
    assert paused.body["thread_ts"] == ts
    assert "paused" in texts(paused.body["blocks"]).lower()

    r.sim.world.approve_ad(ADS[0])
    assert await run_once(r.config, now=lambda: T0 + DAY + 2 * HOUR) == EXIT_OK
    update, answer = slack.accepted()[-2:]
    assert (update.method, update.body["ts"], update.body["channel"]) == (
        "chat.update",
        ts,
        CHANNEL_ID,
    )
    assert update.body["blocks"][0]["text"]["text"] == "✅ Resolved: Holiday Ad 0"
    assert "*It was rejected for:* " in texts(update.body["blocks"])
    assert (answer.method, answer.body["thread_ts"]) == ("chat.postMessage", ts)
    assert "Resolved" in texts(answer.body["blocks"])

    r.sim.world.reject_ad(ADS[0], reasons=["CLICKBAIT"])
    assert await run_once(r.config, now=lambda: T0 + 2 * DAY) == EXIT_OK
    again = slack.accepted()[-1]
    assert again.method == "chat.postMessage"
    assert "thread_ts" not in again.body
    assert "rejected again" in texts(again.body["blocks"])
    assert len(slack.accepted()) == 6


async def test_a_rejection_threads_its_reminder_and_its_approval_resolves_it(
    tmp_path: Path,
) -> None:
    """Rejection → root with Block Kit; reminder, pause → replies in its thread; approval → root
    edited to "✅ Resolved" and a reply; a later rejection → a new root. Every step is a
    new runtime on the same SQLite file: threads survive restarts."""
    async with rig(tmp_path) as r, SlackFake() as slack:
        _config(r, slack)
        await _story(r, slack)
        store = await open_state(tmp_path / "state.db")
        try:
            key = next(k for k in await store.labels() if k.startswith("slack-bot:"))
            thread = await store.slack_thread(key, ACCOUNT, ADS[0])
        finally:
            await store.close()
        assert thread is not None
        assert not thread.resolved
        assert thread.ts == next(reversed(slack.messages))


@pytest.mark.skipif(not PG_URL, reason="PINMON_TEST_POSTGRES is not set")
async def test_threads_on_postgresql(tmp_path: Path) -> None:
    """The same story with the state in PostgreSQL: threads kept there."""
    from tests.test_store import pg_schema  # one schema per test, dropped after

    with pg_schema(f"t_slack_{secrets.token_hex(6)}") as url:
        async with rig(tmp_path) as r, SlackFake() as slack:
            _config(r, slack, state=url)
            await _story(r, slack)


async def test_a_rate_limit_waits_as_long_as_slack_asks(tmp_path: Path) -> None:
    """A 429 with Retry-After 120 s: nothing goes to Slack before those 120 s (not the
    other ad's root either), and both go after."""
    async with rig(tmp_path) as r, SlackFake() as slack:
        _config(r, slack)
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        slack.script("chat.postMessage", rate_limited(120))
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        r.sim.world.reject_ad(ADS[1], reasons=["CLICKBAIT"])
        assert await run_once(r.config, now=lambda: T0) == EXIT_DELIVERY_FAILED
        assert [c.status for c in slack.calls] == [429]  # the second was held back too
        store = await open_state(tmp_path / "state.db")
        try:
            (waiting,) = [d for d in await store.deliveries(statuses=["pending"])
                          if d.attempts]  # fmt: skip
        finally:
            await store.close()
        assert waiting.next_attempt_at >= T0 + 120
        assert "ratelimited" in (waiting.last_error or "")
        assert await run_once(r.config, now=lambda: T0 + 119) == EXIT_OK
        assert len(slack.calls) == 2  # only the root of the ad that was not refused
        assert await run_once(r.config, now=lambda: T0 + 121) == EXIT_OK
        assert len(slack.accepted()) == 2
        headers = {c.body["blocks"][0]["text"]["text"] for c in slack.accepted()}
        assert headers == {"🚫 Ad rejected: Holiday Ad 0", "🚫 Ad rejected: Holiday Ad 1"}


async def test_a_revoked_token_disables_the_target_and_says_so(tmp_path: Path) -> None:
    """invalid_auth: the target is disabled with Slack's reason, pinmon reports it to the
    other route, and the token appears in no output of the CLI."""
    wrong = "xoxb-1111111111-2222222222-RevokedTokenAbcdefXyz"
    async with rig(tmp_path) as r, SlackFake() as slack:
        _config(r, slack, token=wrong)
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        env = {**os.environ, "PINMON_TEST_SLACK_TOKEN": wrong}
        done = await anyio.run_process(
            [sys.executable, "-m", "monitor", "run", "--once", "--log-level", "debug",
             "-c", str(r.path)], check=False, env=env,
        )  # fmt: skip
        out = done.stdout.decode() + done.stderr.decode()
        assert done.returncode == EXIT_DELIVERY_FAILED, out
        assert "invalid_auth" in out
        for command in (["check"], ["deliveries", "--all"], ["status"]):
            shown = await anyio.run_process(
                [sys.executable, "-m", "monitor", *command, "-c", str(r.path)],
                check=False, env=env,
            )  # fmt: skip
            out += shown.stdout.decode() + shown.stderr.decode()
        assert wrong not in out
        assert "RevokedTokenAbcdefXyz" not in out
        assert "slack-bot:#ads-alerts" in out
        store = await open_state(tmp_path / "state.db")
        try:
            (reason,) = (await store.disabled_targets()).values()
        finally:
            await store.close()
        assert "invalid_auth" in reason
        (report,) = r.messages()
        assert report["title"] == "📭 pinmon disabled a notification target"
        assert "slack-bot:#ads-alerts" in report["message"]
        assert "invalid_auth" in report["message"]
        assert len(slack.calls) == 1  # nothing more was tried


async def test_a_resent_delivery_is_not_posted_twice(tmp_path: Path) -> None:
    """Slack accepted the root but the outbox never heard (a crash): sent again, it finds
    itself in the thread and posts nothing; the reminder still threads."""
    async with rig(tmp_path) as r, SlackFake() as slack:
        _config(r, slack)
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config, now=lambda: T0) == EXIT_OK
        store = await open_state(tmp_path / "state.db")
        try:
            (sent,) = await store.deliveries(statuses=["delivered"])
            assert await store.requeue(event_id=sent.event.id) == 1
        finally:
            await store.close()
        assert await run_once(r.config, now=lambda: T0 + 60) == EXIT_OK
        assert len(slack.accepted()) == 1
        assert await run_once(r.config, now=lambda: T0 + DAY + 60) == EXIT_OK
        assert slack.accepted()[-1].body.get("thread_ts") is not None


async def test_a_deleted_root_lets_the_approval_go_alone(tmp_path: Path) -> None:
    """Someone deleted the root: chat.update answers message_not_found, the approval is
    posted on its own and the thread is closed."""
    async with rig(tmp_path) as r, SlackFake() as slack:
        _config(r, slack)
        assert await run_once(r.config, now=lambda: T0 - HOUR) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(r.config, now=lambda: T0) == EXIT_OK
        slack.script("chat.update", refused("message_not_found"))
        r.sim.world.approve_ad(ADS[0])
        assert await run_once(r.config, now=lambda: T0 + HOUR) == EXIT_OK
        last = slack.accepted()[-1]
        assert last.method == "chat.postMessage"
        assert "thread_ts" not in last.body
        assert "Resolved" in last.body["blocks"][0]["text"]["text"]


async def test_config_errors_name_the_key_and_never_the_token(tmp_path: Path) -> None:
    """A user token, a bad channel, plain http to a remote host: one line each, exit 2."""
    path = tmp_path / "pinmon.toml"
    path.write_text(
        """
[pinterest]
access_token = "pina_x"
[[routes]]
name = "a"
slack-bot = [{ token = "xoxp-User-Token-Should-Not-Print", channel = "ads alerts" }]
[[routes]]
name = "b"
[[routes.slack-bot]]
token = "xoxb-1234567890-abcdefghijkl"
channel = "C0123456789"
base_url = "http://slack.example.com/api/"
[[routes]]
name = "c"
slack-bot = [{ token = "xoxb-1234567890-abcdefghijkl", channel = "#ads" , colour = "red" }]
"""
    )
    done = await anyio.run_process(
        [sys.executable, "-m", "monitor", "check", "-c", str(path)], check=False
    )
    err = done.stderr.decode()
    assert done.returncode == 2
    assert "Traceback" not in err
    assert "xoxp-User" not in err
    assert "routes[0].slack-bot: item 0: token: a bot token" in err
    assert "routes[1].slack-bot: item 0: base_url: use https://" in err
    assert "routes[2].slack-bot: item 0: unknown key 'colour'" in err
    good = path.read_text().split("[[routes]]")[0] + (
        '[[routes]]\nname = "d"\nslack-bot = [{ token = "xoxb-1234567890-abcdefghijkl",'
        ' channel = "#ads" }]\n'
    )
    path.write_text(good)
    (route,) = load_config(path).routes
    assert route.slack_bots[0].base_url == "https://slack.com/api/"


async def test_the_running_loop_sends_nothing_to_slack_before_the_pause_ends(
    tmp_path: Path,
) -> None:
    """The daemon's running delivery loop (run_pass): after a 429 with Retry-After 45 s a
    pass sends nothing, and asks to be woken when the pause ends; then all goes."""
    from monitor.delivery import Deliverer
    from monitor.notify.slack import SlackBotNotifier
    from monitor.store.sqlite import open_store
    from tests.test_slack_blocks import _event

    store = await open_store(tmp_path / "state.db")
    clock = [T0]
    try:
        async with SlackFake() as slack:
            bot = SlackBotNotifier(TOKEN, "#ads-alerts", base_url=slack.base_url, threads=store,
                                   now=lambda: clock[0])  # fmt: skip
            events = [_event(id=f"evt_{i}", ad_id=f"10{i}", entity_id=f"10{i}") for i in (1, 2)]
            await store.record_events(
                events, deliveries=[(e.id, "r", bot.key) for e in events], at=T0
            )
            slack.script("chat.postMessage", rate_limited(45))
            d = Deliverer(store, {bot.key: bot}, now=lambda: clock[0],
                          monotonic=lambda: clock[0], rand=lambda: 0.5)  # fmt: skip
            assert await d.run_pass(bot.key) == T0 + 45
            for step in range(1, 45, 4):
                clock[0] = T0 + step
                assert await d.run_pass(bot.key) == T0 + 45
            assert len(slack.calls) == 1  # only the refused one
            clock[0] = T0 + 45
            await d.run_pass(bot.key)
            assert len(slack.accepted()) == 2
    finally:
        await store.close()


async def test_notify_test_posts_a_sample_rejection_on_its_own(tmp_path: Path) -> None:
    """`pinmon notify-test` posts a realistic rejection to the channel, threaded nowhere."""
    async with rig(tmp_path) as r, SlackFake() as slack:
        _config(r, slack)
        done = await anyio.run_process(
            [sys.executable, "-m", "monitor", "notify-test", "-c", str(r.path), "--route",
             "ads-to-slack"], check=False, env={**os.environ},
        )  # fmt: skip
        out = done.stdout.decode() + done.stderr.decode()
        assert done.returncode == 0, out
        (sample,) = slack.accepted()
        assert "thread_ts" not in sample.body
        assert sample.body["blocks"][0]["text"]["text"].startswith("🚫 Ad rejected")
        assert TOKEN not in out


def test_a_base_url_with_credentials_is_masked_in_the_label() -> None:
    """The label names Slack's address only when it is not the usual one, masked."""
    from monitor.config.slack import slack_label

    assert slack_label("#ads", "https://slack.com/api/") == "slack-bot:#ads"
    label = slack_label("#ads", "https://user:pw-Secret-123@slack.example.com/api/")
    assert "pw-Secret-123" not in label
    assert label.startswith("slack-bot:#ads via https://user:")
