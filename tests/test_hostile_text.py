"""Text from Pinterest is data: hostile names reach Slack, Discord, Telegram, e-mail and JSON
targets (apprise's real plugins, local sinks) as text that pings nobody, links nowhere and
stays on its line, while ordinary names read as they are."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
import pytest

from monitor.delivery import Deliverer
from monitor.events import Event, FieldChange
from monitor.notify.apprise import AppriseNotifier
from monitor.ops import OpsChange, ops_event
from monitor.render import render
from monitor.render.escape import MAX_TEXT_CHARS, Dialect, Markup, escape
from monitor.render.templates import apply
from monitor.store import Delivery
from tests.sink import HttpSink
from tests.smtp_sink import SmtpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

ACCOUNT = "549755885175"
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#ads-alerts"
DISCORD = "discord://123456789012345678/aBcDeFgHiJkLmNoPqRsTuVwXyZ"
BOT = "123456789:AAHsecretsecretsecretsecretsecret12"
TELEGRAM = f"tgram://{BOT}/12345"
#: Every link pinmon itself puts in a message points here.
OURS = ("https://ads.pinterest.com/", "https://www.pinterest.com/pin/")

LONG = "x" * 100_000
HOSTILE = [
    "@everyone free money",
    "@here look",
    "<!channel> <!here> <!everyone>",
    "<@U024BE7LH> <@123456789012345678> <@&123456789012345678> <#C024BE7LH>",
    "[click](https://evil.example)",
    "<https://evil.example|x> <https://evil.example>",
    "*bold* **strong** _it_ ~s~ ~~gone~~ `code` ||spoiler||",
    "Ad B\n- ✅ Ad approved: Fake",
    "carriage\rreturn",
    "".join(map(chr, range(32))) + "controls",
    "<script>alert(1)</script>",
    "# Heading",
]
BENIGN = ["Acme Home & Living", "Holiday Sale 2024", "review_status"]


def rejected(text: str, i: int = 0) -> Event:
    """A rejected ad whose name, campaign, ad group, label and a changed value are ``text``."""
    return Event(
        id=f"evt_{i}",
        type="ad.rejected",
        entity="ad",
        entity_id=str(687195134316 + i),
        ad_account_id=ACCOUNT,
        campaign_id="626735565838",
        ad_group_id="2680059592705",
        ad_id=str(687195134316 + i),
        name=text,
        campaign_name=text,
        ad_group_name=text,
        detected_at=0.0,
        changes={
            "review_status": FieldChange("PENDING", "REJECTED"),
            "status": FieldChange("ACTIVE", text),
        },
        state={"review_status": "REJECTED", "rejection_labels": [text]},
    )


@dataclass(frozen=True)
class Wire:
    """What one target received: the text people see (title and body) and the raw payload."""

    title: str
    body: str
    payload: Any

    @property
    def lines(self) -> list[str]:
        return re.split(r"\r?\n", f"{self.title}\n{self.body}")


async def deliver(url: str, events: Sequence[Event], account: str) -> AppriseNotifier:
    """Render ``events`` the way the delivery loop does for ``url``'s notifier, and send."""
    notifier = AppriseNotifier(url)
    rows = [
        Delivery(i, e, "r", notifier.key, 0, "pending", 0.0, None, 0.0)
        for i, e in enumerate(events)
    ]
    deliverer = Deliverer(None, {notifier.key: notifier}, account_names={ACCOUNT: account})  # type: ignore[arg-type]
    with anyio.fail_after(10):
        result = await notifier.send(deliverer.message_for(rows, notifier))
    assert result.ok, result.detail
    return notifier


def slack_wire(payload: Any) -> Wire:
    (attachment,) = payload["attachments"]
    return Wire(attachment["title"], attachment["text"], payload)


def discord_wire(payload: Any) -> Wire:
    title, _, body = payload["content"].partition("\r\n")
    return Wire(title, body, payload)


def telegram_wire(payload: Any) -> Wire:
    title, _, body = payload["text"].partition("\n")
    return Wire(title, body, payload)


def json_wire(payload: Any) -> Wire:
    return Wire(payload["title"], payload["message"], payload)


async def send_all(
    url: str, wire: Any, monkeypatch: pytest.MonkeyPatch, texts: Sequence[str]
) -> list[Wire]:
    """Each of ``texts`` as one rejection sent to ``url`` (its endpoint moved to a sink)."""
    from apprise.plugins.discord import NotifyDiscord
    from apprise.plugins.slack import NotifySlack
    from apprise.plugins.telegram import NotifyTelegram

    async with HttpSink() as sink:
        # None of these plugins takes a host option: point their endpoint at the sink.
        monkeypatch.setattr(NotifySlack, "webhook_url", sink.url("/services"))
        monkeypatch.setattr(NotifyDiscord, "notify_url", sink.url("/api/webhooks"))
        monkeypatch.setattr(NotifyTelegram, "notify_url", sink.url("/bot"))
        sink.respond(f"/bot{BOT}/sendMessage", body=b'{"ok": true, "result": {}}')
        target = url.replace("SINK", f"127.0.0.1:{sink.port}")
        for i, text in enumerate(texts):
            await deliver(target, [rejected(text, i)], text)
        requests = await sink.wait_for(len(texts))
    return [wire(r.json) for r in requests]


def assert_inert(wire: Wire, benign: Wire) -> None:
    """No mention, no line of its own, no control character: true on every channel."""
    text = wire.title + "\n" + wire.body
    assert re.search("@(?!\u200b)", text) is None  # a zero-width space follows every @
    assert len(wire.lines) == len(benign.lines)  # the same lines as an ordinary name
    assert not any(re.match(r"[\W_]*✅ Ad approved", line) for line in wire.lines)
    assert re.search(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]", text) is None


def links(text: str, pattern: str) -> list[str]:
    return re.findall(pattern, text)


async def test_slack_shows_hostile_names_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack gets no <!channel>/<@U…> control sequence, no link to evil and no mrkdwn from a
    name, without a visible backslash; ordinary names are as typed (& as Slack's &amp;)."""
    wires = await send_all(SLACK, slack_wire, monkeypatch, [*BENIGN, *HOSTILE])
    benign = dict(zip(BENIGN, wires, strict=False))
    for text, wire in zip([*BENIGN, *HOSTILE], wires, strict=True):
        assert_inert(wire, benign["Holiday Sale 2024"])
        # Slack reads <...> as links and mentions: the only ones left are pinmon's.
        assert all(t.startswith(OURS) for t in links(wire.body, r"<([^>]*)>")), text
        assert "<" not in wire.title
        assert "\\" not in wire.body  # Slack has no backslash escapes: it would show them
    hostile = dict(zip(HOSTILE, wires[len(BENIGN) :], strict=True))
    assert "&lt;!channel&gt;" in hostile["<!channel> <!here> <!everyone>"].body
    assert "&lt;@\u200bU024BE7LH&gt;" in hostile[HOSTILE[3]].body
    assert "- *Campaign:* [click](https://evil.example)" in hostile[HOSTILE[4]].body
    styled = hostile[HOSTILE[6]].body
    assert "∗bold∗ ∗∗strong∗∗ ˍitˍ ∼s∼ ∼∼gone∼∼ ˋcodeˋ ||spoiler||" in styled
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile["<script>alert(1)</script>"].body
    assert benign["Acme Home & Living"].title == "🚫 Ad rejected: Acme Home &amp; Living"
    assert "- *Account:* Acme Home &amp; Living" in benign["Acme Home & Living"].body
    assert "- status: ACTIVE → review_status" in benign["review_status"].body
    assert benign["Holiday Sale 2024"].payload["attachments"][0]["title"].endswith("2024")


async def test_discord_pings_nobody_and_renders_no_markdown_from_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Discord's content (title line included) carries no @everyone/@here/<@id>, no masked
    link and no unescaped Markdown from a name; ordinary names stay verbatim."""
    wires = await send_all(DISCORD, discord_wire, monkeypatch, [*BENIGN, *HOSTILE])
    benign = dict(zip(BENIGN, wires, strict=False))
    for text, wire in zip([*BENIGN, *HOSTILE], wires, strict=True):
        content = wire.payload["content"]
        assert_inert(wire, benign["Holiday Sale 2024"])
        assert re.search(r"@(everyone|here)|<@[!&]?\d+>", content) is None, text
        # Unescaped "](" and "<http" would be links: only pinmon's own remain.
        assert all(u.startswith(OURS) for u in links(content, r"(?<!\\)\]\(([^)]*)\)"))
        assert re.search(r"(?<!\\)<(https?:|[@#!])", content) is None, text
    hostile = dict(zip(HOSTILE, wires[len(BENIGN) :], strict=True))
    assert hostile["@everyone free money"].title == "🚫 Ad rejected: @\u200beveryone free money"
    assert r"\[click\](https://evil.example)" in hostile[HOSTILE[4]].title
    styled = r"\*bold\* \*\*strong\*\* \_it\_ \~s\~ \~\~gone\~\~ \`code\` \|\|spoiler\|\|"
    assert styled in hostile[HOSTILE[6]].body
    assert r"- **Campaign:** \# Heading" in hostile["# Heading"].body
    assert benign["Acme Home & Living"].title == "🚫 Ad rejected: Acme Home & Living"
    assert "- **Account:** Holiday Sale 2024" in benign["Holiday Sale 2024"].body
    # Discord shows \_ as _: people read review_status.
    assert r"- status: ACTIVE → review\_status" in benign["review_status"].body


async def test_discord_embeds_get_no_ping_from_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ?format=markdown apprise scans the body for @mentions and pings them itself;
    an escaped @everyone gives it nothing to find."""
    (wire,) = await send_all(
        DISCORD + "?format=markdown", lambda p: p, monkeypatch, ["@everyone <@123456789012345678>"]
    )
    assert "allow_mentions" not in wire
    assert "content" not in wire  # the "👉 @everyone" ping apprise would have added
    (embed,) = wire["embeds"]
    assert "@\u200beveryone" in embed["title"]
    assert "\\<@\u200b123456789012345678\\>" in embed["description"]


async def test_telegram_legacy_markdown_stays_parseable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram (legacy Markdown, apprise's default) gets balanced bold markers, no link and
    no mention from a name, inside the bold title heading too."""
    wires = await send_all(TELEGRAM, telegram_wire, monkeypatch, [*BENIGN, *HOSTILE])
    benign = dict(zip(BENIGN, wires, strict=False))
    for text, wire in zip([*BENIGN, *HOSTILE], wires, strict=True):
        sent = wire.payload["text"]
        assert wire.payload["parse_mode"] == "MARKDOWN"
        assert_inert(wire, benign["Holiday Sale 2024"])
        # v1 has no escapes inside bold: one stray "*" would end it and break the message.
        assert len(re.findall(r"(?<!\\)\*", sent)) % 2 == 0, text
        assert sent.count("`") % 2 == 0, text
        assert all(u.startswith(OURS) for u in links(sent, r"\]\(([^)]*)\)")), text
    hostile = dict(zip(HOSTILE, wires[len(BENIGN) :], strict=True))
    assert hostile[HOSTILE[6]].title.startswith("*🚫 Ad rejected: ∗bold∗ ∗∗strong∗∗ ˍitˍ")
    assert "[click]\u200b(https://evil.example)" in hostile[HOSTILE[4]].title
    assert benign["Acme Home & Living"].title == "*🚫 Ad rejected: Acme Home & Living*"


async def test_telegram_markdown_v2_escapes_what_v2_reserves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With mdv=v2, backslash escapes work everywhere: names keep their characters."""
    (wire,) = await send_all(
        TELEGRAM + "?mdv=v2", telegram_wire, monkeypatch, ["*bold* [click](https://evil.example)"]
    )
    assert wire.payload["parse_mode"] == "MarkdownV2"
    assert r"\*bold\* \[click\]\(https://evil\.example\)" in wire.title


async def test_json_target_gets_a_plain_title_and_escaped_markdown() -> None:
    """json:// receives a plain-text title that mentions nobody and a Markdown body whose
    names are backslash-escaped; ordinary names arrive verbatim."""
    async with HttpSink() as sink:
        for text in ("<!channel> @here [click](https://evil.example)", "Acme Home & Living"):
            await deliver(sink.url("/hook", scheme="json"), [rejected(text)], text)
        hostile, benign = (json_wire(r.json) for r in await sink.wait_for(2))
    assert (
        hostile.title
        == "🚫 Ad rejected: <\u200b!channel> @\u200bhere [click](https://evil.example)"
    )
    escaped = r"\<!channel\> @" + "\u200b" + r"here \[click\](https://evil.example)"
    assert f"- **Campaign:** {escaped}" in hostile.body
    assert benign.title == "🚫 Ad rejected: Acme Home & Living"
    assert "- **Account:** Acme Home & Living" in benign.body


async def test_email_html_shows_script_as_text() -> None:
    """An e-mail's HTML part shows <script> and a Markdown link from a name as text."""
    async with SmtpSink() as smtp:
        url = f"mailto://127.0.0.1:{smtp.port}?from=pinmon@example.com&to=ops@example.com&mode=insecure"
        text = "<script>alert(1)</script> [click](https://evil.example) &amp; Acme Home & Living"
        await deliver(url, [rejected(text)], text)
        (mail,) = await smtp.wait_for(1)
    html_part = mail.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; [click](https://evil.example)" in html
    # An entity typed into a name shows as typed: "&amp;", not "&".
    assert "&amp;\u200bamp; Acme Home &amp; Living" in html
    assert all(u.startswith(OURS) for u in links(html, r'href="([^"]*)"'))
    assert mail["Subject"] == f"🚫 Ad rejected: {text}"


async def test_a_100_kb_name_makes_a_short_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every piece of Pinterest text is cut to MAX_TEXT_CHARS, so a 100 KB name in six
    fields still makes a message of a few KB."""
    (wire,) = await send_all(SLACK, slack_wire, monkeypatch, [LONG])
    assert len(wire.title) < MAX_TEXT_CHARS + 50
    assert len(wire.body) < 8 * MAX_TEXT_CHARS
    assert f"{'x' * (MAX_TEXT_CHARS - 1)}…" in wire.body


async def test_digest_item_cannot_forge_another_item(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newline and "- ✅ Ad approved: Fake" in one event's name stay inside its own digest
    item: Slack's digest lists exactly the two events it was given."""
    from apprise.plugins.slack import NotifySlack

    events = [rejected("Ad A", 0), rejected("Ad B\n- ✅ Ad approved: Fake", 1)]
    async with HttpSink() as sink:
        monkeypatch.setattr(NotifySlack, "webhook_url", sink.url("/services"))
        await deliver(SLACK, events, "Acme")
        (request,) = await sink.wait_for(1)
    body = slack_wire(request.json).body
    items = [line for line in body.split("\n") if line.startswith("- ")]
    assert len(items) == 2
    assert items[1].startswith("- 🚫 Ad rejected: *Ad B - ✅ Ad approved: Fake*")
    plain = render(events, account_names={ACCOUNT: "Acme"}).body.split("\n")
    assert [line.partition(" (")[0] for line in plain if line.startswith("- ")] == [
        "- 🚫 Ad rejected: **Ad A**",
        "- 🚫 Ad rejected: **Ad B - ✅ Ad approved: Fake**",
    ]


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        (Markup.PLAIN, "- ✅ Ad approved: Fake @\u200beveryone"),
        (Markup.COMMONMARK, "\\- ✅ Ad approved: Fake @\u200beveryone"),
        (Markup.DISCORD, "\\- ✅ Ad approved: Fake @\u200beveryone"),
    ],
)
def test_template_variables_are_escaped(markup: Markup, expected: str) -> None:
    """$name in a route template is escaped too: at the start of a line it opens no list item."""
    event = rejected("- ✅ Ad approved: Fake @everyone")
    title, body = apply(
        "$what: $name",
        "$name",
        [event],
        account_names={},
        default_title="d",
        default_body="d",
        dialect=Dialect(body=markup, title=markup),
    )
    assert body == expected
    assert title == "🚫 Ad rejected: " + expected


@pytest.mark.parametrize("markup", list(Markup))
@pytest.mark.parametrize("text", BENIGN)
def test_ordinary_names_are_left_alone(markup: Markup, text: str) -> None:
    """Names without markup characters come out as typed in every markup (Discord excepted
    for "_", which it shows without the backslash; Slack's mrkdwn shows "&amp;" as "&")."""
    escaped = escape(text, markup)
    if markup is Markup.MRKDWN:
        escaped = html.unescape(escaped)
    assert escaped.replace("\\_", "_") == text


def test_an_id_that_is_not_plain_gets_no_code_span() -> None:
    """Ids go in code spans, where escapes do not work: an id with markup is escaped text."""
    odd = msgspec.structs.replace(rejected("Ad"), entity_id="1` **x** `2")
    assert "- **Ad ID:** 1\\` \\*\\*x\\*\\* \\`2" in render([odd]).body
    assert "- **Ad ID:** `687195134316`" in render([rejected("Ad")]).body


def test_pinmon_reports_escape_what_they_quote() -> None:
    """A monitor.* report quotes an error (Pinterest's words, say) as escaped text."""
    event = ops_event(
        OpsChange.ACCOUNT_FAILING,
        subject=ACCOUNT,
        account_id=ACCOUNT,
        at=0.0,
        occurrence="0",
        detail={"error": "HTTP 400: @everyone <!channel>\nnext line"},
    )
    message = render([event], dialect=Dialect(body=Markup.DISCORD, title=Markup.DISCORD))
    assert "- **Error:** HTTP 400: @\u200beveryone \\<!channel\\> next line" in message.body
    assert message.title == f"⚠️ pinmon cannot poll ad account {ACCOUNT}"
