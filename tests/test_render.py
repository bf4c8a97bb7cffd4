"""Rendering events into messages: titles, levels, reasons in words, links, digests."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.events import Event, FieldChange
from monitor.render import level, reason_text, render
from monitor.render.fixes import NEXT_STEP

ACME, BETA, GAMMA = "549755885175", "549700000001", "549700000002"
NAMES = {ACME: "Acme Shop"}
LINK = f"https://ads.pinterest.com/advertiser/{ACME}/reporting/"


def ev(
    type_: str,
    changes: dict[str, tuple[Any, Any]] | None = None,
    state: dict[str, Any] | None = None,
    **kw: Any,
) -> Event:
    """An event with the ids a real ad/ad group/campaign event carries."""
    entity = type_.partition(".")[0]
    ids: dict[str, Any] = {
        "ad": {
            "entity_id": "687195134316",
            "ad_id": "687195134316",
            "campaign_id": "626735565838",
            "ad_group_id": "2680059592705",
            "pin_id": "394205773611545468",
            "name": "Holiday Sale — Carousel",
            "campaign_name": "Holiday 2024",
            "ad_group_name": "Gifts",
        },
        "ad_group": {
            "entity_id": "2680059592705",
            "campaign_id": "626735565838",
            "ad_group_id": "2680059592705",
            "name": "Gifts",
            "campaign_name": "Holiday 2024",
        },
        "campaign": {
            "entity_id": "626735565838",
            "campaign_id": "626735565838",
            "name": "Holiday 2024",
        },
    }[entity]
    fields: dict[str, Any] = {
        "id": f"evt_{type_}",
        "type": type_,
        "entity": entity,
        "ad_account_id": ACME,
        "detected_at": 1_700_000_000.0,
        "changes": {k: FieldChange(o, n) for k, (o, n) in (changes or {}).items()},
        "state": state or {},
        **ids,
    }
    fields.update(kw)
    return Event(**fields)


REJECTED_STATE = {"status": "ACTIVE", "review_status": "REJECTED", "summary_status": "REJECTED"}

# (id, event, title, level, text the body must contain, text it must not)
CASES: list[tuple[str, Event, str, str, list[str], list[str]]] = [
    (
        "rejected: labels preferred over enum values",
        ev(
            "ad.rejected",
            {"review_status": ("PENDING", "REJECTED"), "rejected_reasons": (None, ["HASHTAGS"])},
            {
                **REJECTED_STATE,
                "rejected_reasons": ["HASHTAGS"],
                "rejection_labels": ["No hashtags allowed"],
            },
        ),
        "🚫 Ad rejected: Holiday Sale — Carousel",
        "failure",
        [
            "No hashtags allowed",
            "review_status: PENDING → REJECTED",
            "Acme Shop",
            "Holiday 2024",
            "Gifts",
            # Labels answer "why"; the enum value still names the guidance below them.
            "**Why it was rejected:**\n- No hashtags allowed\n\n**What to fix:**\n"
            "- **Hashtags in the Pin description:**",
            "**Next step:**",
        ],
        ["HASHTAGS", "rejected_reasons"],
    ),
    (
        "rejected: enum values in words, known and unknown",
        ev(
            "ad.rejected",
            {"summary_status": ("APPROVED", "REJECTED")},
            {
                **REJECTED_STATE,
                "rejected_reasons": ["LANDING_PAGE_BROKEN", "WEIGHT_LOSS", "SOME_NEW_REASON"],
            },
        ),
        "🚫 Ad rejected: Holiday Sale — Carousel",
        "failure",
        ["- Landing page broken", "- Weight loss", "- Some new reason"],
        ["LANDING_PAGE_BROKEN", "WEIGHT_LOSS"],
    ),
    (
        "rejected without any reason",
        ev("ad.rejected", {"review_status": ("PENDING", "REJECTED")}, REJECTED_STATE),
        "🚫 Ad rejected: Holiday Sale — Carousel",
        "failure",
        ["Pinterest gave no reason"],
        [],
    ),
    (
        "approved",
        ev(
            "ad.approved", {"review_status": ("PENDING", "APPROVED")}, {"review_status": "APPROVED"}
        ),
        "✅ Ad approved: Holiday Sale — Carousel",
        "success",
        ["review_status: PENDING → APPROVED"],
        ["Why it was rejected"],
    ),
    (
        "paused",
        ev("ad.status_changed", {"status": ("ACTIVE", "PAUSED")}),
        "⏸️ Ad paused: Holiday Sale — Carousel",
        "info",
        ["status: ACTIVE → PAUSED"],
        [],
    ),
    (
        "resumed",
        ev("ad.status_changed", {"status": ("PAUSED", "ACTIVE")}),
        "▶️ Ad resumed: Holiday Sale — Carousel",
        "info",
        ["status: PAUSED → ACTIVE"],
        [],
    ),
    (
        "activated from draft",
        ev("ad.status_changed", {"status": ("DRAFT", "ACTIVE")}),
        "▶️ Ad activated: Holiday Sale — Carousel",
        "info",
        [],
        [],
    ),
    (
        "archived",
        ev("ad.status_changed", {"status": ("PAUSED", "ARCHIVED")}),
        "🗄️ Ad archived: Holiday Sale — Carousel",
        "info",
        [],
        [],
    ),
    (
        "new ad shows its state",
        ev(
            "ad.created",
            state={"status": "ACTIVE", "review_status": "PENDING", "is_pin_deleted": False},
        ),
        "🆕 New ad: Holiday Sale — Carousel",
        "info",
        ["**State:**", "status: ACTIVE", "review_status: PENDING"],
        ["is_pin_deleted"],
    ),
    (
        "removed ad shows its last known state",
        ev("ad.removed", state={"status": "ACTIVE", "review_status": "REJECTED"}),
        "🗑️ Ad removed: Holiday Sale — Carousel",
        "warning",
        ["**Last known state:**", "status: ACTIVE"],
        ["Why it was rejected"],
    ),
    (
        "pin deleted",
        ev("ad.pin_deleted", {"is_pin_deleted": (False, True)}),
        "📌 Pin deleted for ad: Holiday Sale — Carousel",
        "warning",
        ["is_pin_deleted: no → yes", "https://www.pinterest.com/pin/394205773611545468/"],
        [],
    ),
    (
        "back in review",
        ev("ad.review_status_changed", {"review_status": ("REJECTED", "PENDING")}),
        "⏳ Ad back in review: Holiday Sale — Carousel",
        "info",
        ["review_status: REJECTED → PENDING"],
        [],
    ),
    (
        "summary status",
        ev("ad.summary_status_changed", {"summary_status": ("APPROVED", "ADVERTISER_DISABLED")}),
        "⛔ Ad disabled: Holiday Sale — Carousel",
        "info",
        ["summary_status: APPROVED → ADVERTISER_DISABLED"],
        [],
    ),
    (
        "updated: null as a dash, lists joined",
        ev(
            "ad.updated",
            {"carousel_destination_urls": (None, ["https://a.example", "https://b.example"])},
        ),
        "✏️ Ad updated: Holiday Sale — Carousel",
        "info",
        ["carousel_destination_urls: — → https://a.example, https://b.example"],
        [],
    ),
    (
        "campaign paused",
        ev("campaign.status_changed", {"status": ("ACTIVE", "PAUSED")}),
        "⏸️ Campaign paused: Holiday 2024",
        "info",
        ["reporting/campaigns/", "Campaign ID:"],
        ["**Campaign:**", "**Ad group:**", "View the Pin"],
    ),
    (
        "campaign completed",
        ev("campaign.summary_status_changed", {"summary_status": ("RUNNING", "COMPLETED")}),
        "🏁 Campaign completed: Holiday 2024",
        "info",
        [],
        [],
    ),
    (
        "new ad group",
        ev("ad_group.created", state={"status": "ACTIVE"}),
        "🆕 New ad group: Gifts",
        "info",
        ["**Campaign:** Holiday 2024", "reporting/adgroups/"],
        ["**Ad group:**"],
    ),
    (
        "ad group removed",
        ev("ad_group.removed"),
        "🗑️ Ad group removed: Gifts",
        "warning",
        [],
        [],
    ),
    (
        "unnamed ad in an unknown account falls back to ids",
        ev(
            "ad.status_changed",
            {"status": ("ACTIVE", "PAUSED")},
            name=None,
            campaign_name=None,
            ad_group_name=None,
            ad_account_id=BETA,
        ),
        "⏸️ Ad paused: unnamed ad 687195134316",
        "info",
        [f"**Account:** {BETA}", "**Campaign:** 626735565838", "**Ad group:** 2680059592705"],
        [],
    ),
]


@pytest.mark.parametrize(
    ("event", "title", "level_", "present", "absent"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_single_event(
    event: Event, title: str, level_: str, present: list[str], absent: list[str]
) -> None:
    """One event renders as one message saying what happened, where, why, and where to look."""
    message = render([event], account_names=NAMES)
    assert message.title == title
    assert message.level == level_ == level(event)
    assert message.event_ids == (event.id,)
    for text in present:
        assert text in message.body
    for text in absent:
        assert text not in message.body
    assert f"{LINK.replace(ACME, event.ad_account_id)}" in message.body
    assert "None" not in message.title + message.body


def test_ad_link_filters_to_its_campaign_and_ad_group() -> None:
    """The Ads Manager link of an ad names its account, tab, campaign and ad group."""
    body = render([ev("ad.status_changed", {"status": ("ACTIVE", "PAUSED")})]).body
    assert (
        f"(https://ads.pinterest.com/advertiser/{ACME}/reporting/ads/"
        "?campaignIds=%5B626735565838%5D&adGroupIds=%5B2680059592705%5D)"
    ) in body


def test_names_cannot_inject_markdown() -> None:
    """Markup characters in names are escaped in the body; the plain-text title keeps them."""
    event = ev("ad.status_changed", {"status": ("ACTIVE", "PAUSED")}, campaign_name="*Sale* [50%]")
    message = render([event], account_names={ACME: "<!channel>"})
    assert r"\*Sale\* \[50%\]" in message.body
    assert r"\<!channel\>" in message.body
    snake = render([ev("ad.updated", {"status": ("A_B", "C_D")}, name="x_*y*")])
    assert "status: A_B → C_D" in snake.body
    assert snake.title.endswith(": x_*y*")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("LANDING_PAGE_BROKEN", "Landing page broken"),
        ("HASHTAGS", "Hashtags in the Pin description"),
        ("WEIGHT_LOSS", "Weight loss"),
        ("A_FUTURE_VALUE", "A future value"),
        ("", ""),
    ],
)
def test_reason_text(code: str, words: str) -> None:
    """Reason enum values read as words, with a sentence-case fallback for unknown ones."""
    assert reason_text(code) == words


def rejected(i: int, account: str = ACME) -> Event:
    return ev(
        "ad.rejected",
        {"review_status": ("PENDING", "REJECTED")},
        {**REJECTED_STATE, "rejected_reasons": ["LANDING_PAGE_BROKEN"]},
        id=f"evt_r{i}",
        entity_id=str(i),
        name=f"Ad {i}",
        ad_account_id=account,
    )


def test_digest_of_one_kind_in_one_account() -> None:
    """Several rejections in one account become one digest counting them, with reasons."""
    message = render([rejected(i) for i in range(12)], account_names=NAMES)
    assert message.title == "🚫 12 ads rejected in Acme Shop"
    assert message.level == "failure"
    # Once per ad, plus once where its fix is said: the fix is not repeated per ad.
    assert message.body.count("Landing page broken") == 13
    assert message.body.count("**Fix:**") == 1
    assert message.body.count(LINK) == 12
    assert message.body.endswith(f"**Next step:** {NEXT_STEP}")
    assert "more" not in message.body
    assert len(message.event_ids) == 12


def test_digest_is_cut_at_max_items() -> None:
    """A long digest lists max_items events, then says how many more there are."""
    events = [rejected(i) for i in range(25)]
    message = render(events, account_names=NAMES)
    assert message.body.count("\n- 🚫") == 20
    more, _, after = message.body.partition("…and 5 more")
    assert more
    assert after.startswith("\n\n**What to fix:**")
    assert message.event_ids == tuple(e.id for e in events)
    assert "…and 22 more\n\n**What to fix:**" in render(events, max_items=3).body


def test_mixed_digest_lists_the_most_severe_first() -> None:
    """A mixed digest is counted as changes, carries the worst level and lists rejections first."""
    paused = ev("ad.status_changed", {"status": ("ACTIVE", "PAUSED")}, id="evt_p", name="Spring")
    approved = ev(
        "ad.approved", {"review_status": ("PENDING", "APPROVED")}, id="evt_a", name="Fall"
    )
    message = render([paused, approved, rejected(1)], account_names=NAMES)
    assert message.title == "🔔 3 changes in Acme Shop"
    assert message.level == "failure"
    items = [line for line in message.body.splitlines() if line.startswith("- ") and "**" in line]
    items = [i for i in items if not i.startswith("- **")]  # the fix lines under the list
    assert [i.split(":")[0] for i in items] == [
        "- 🚫 Ad rejected",
        "- ⏸️ Ad paused",
        "- ✅ Ad approved",
    ]
    assert "status: ACTIVE → PAUSED" in items[1]
    assert "Landing page broken" in items[0]
    assert "(Holiday 2024 › Gifts)" in items[0]


@pytest.mark.parametrize(
    ("accounts", "where"),
    [
        ((ACME, BETA), f"Acme Shop and {BETA}"),
        ((ACME, BETA, GAMMA), "3 accounts"),
    ],
)
def test_digest_across_accounts(accounts: tuple[str, ...], where: str) -> None:
    """A digest spanning accounts names them (or counts them) and groups items per account."""
    message = render([rejected(i, a) for i, a in enumerate(accounts)], account_names=NAMES)
    assert message.title == f"🔔 {len(accounts)} changes in {where}"
    assert "**Acme Shop**" in message.body
    assert f"**{BETA}**" in message.body
    assert "None" not in message.title + message.body


def test_render_needs_events() -> None:
    """Rendering nothing is a caller bug, not an empty message."""
    with pytest.raises(ValueError, match="at least one"):
        render([])
