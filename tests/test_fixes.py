"""What to fix: the guidance table against the spec, and guidance in what targets receive."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from apprise.plugins.slack import NotifySlack

from monitor import vocab
from monitor.events import Event, FieldChange
from monitor.notify.apprise import AppriseNotifier
from monitor.render import ads_manager_url, render
from monitor.render.fixes import FIXES, GUIDELINES, NEXT_STEP, UNKNOWN, guidance
from monitor.render.templates import apply, check_template
from tests.sink import HttpSink

ACCOUNT = "549755885175"
SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7")


def _spec_reasons(openapi: dict[str, Any]) -> list[str]:
    schema = openapi["components"]["schemas"]["AdResponse"]
    props = next(
        p["properties"] for p in schema["allOf"] if "rejected_reasons" in p.get("properties", {})
    )
    enum: list[str] = props["rejected_reasons"]["items"]["enum"]
    return enum


def rejected(reasons: list[str], *, labels: list[str] | None = None, n: int = 0) -> Event:
    state: dict[str, Any] = {"review_status": "REJECTED", "rejected_reasons": reasons}
    if labels:
        state["rejection_labels"] = labels
    return Event(
        id=f"evt_{n}",
        type="ad.rejected",
        entity="ad",
        entity_id=f"68719513431{n}",
        ad_account_id=ACCOUNT,
        campaign_id="626735565838",
        ad_group_id="2680059592705",
        ad_id=f"68719513431{n}",
        name=f"Holiday Sale {n}",
        detected_at=0.0,
        changes={"review_status": FieldChange("PENDING", "REJECTED")},
        state=state,
    )


def test_every_spec_reason_has_guidance(openapi: dict[str, Any]) -> None:
    """The table covers the spec's rejected_reasons enum exactly: no value without guidance,
    no guidance for a value the spec does not have."""
    spec = _spec_reasons(openapi)
    assert set(FIXES) == set(spec), (set(spec) - set(FIXES), set(FIXES) - set(spec))
    assert set(FIXES) == set(vocab.REJECTED_REASONS)


@pytest.mark.parametrize("code", sorted(FIXES))
def test_each_entry_says_what_and_how(code: str) -> None:
    """Each entry has a meaning and a fix in sentences, and a policy page on Pinterest's
    policy site (never a guessed section anchor) or None."""
    fix = FIXES[code]
    for text in (fix.meaning, fix.fix):
        assert text[:1].isupper()
        assert text.endswith((".", ")"))
        assert code not in text
    if fix.policy is not None:
        parts = urlsplit(fix.policy)
        assert (parts.scheme, parts.netloc, parts.fragment) == ("https", "policy.pinterest.com", "")
        assert fix.policy_link == fix.policy
    else:
        assert fix.policy_link == GUIDELINES


def test_an_unknown_reason_gets_generic_guidance() -> None:
    """A value Pinterest adds later still gets a fix line, pointing at the guidelines."""
    assert guidance("BRAND_NEW_REASON") is UNKNOWN
    body = render([rejected(["BRAND_NEW_REASON"])]).body
    assert "**Brand new reason:** A reason pinmon has no guidance for yet." in body
    assert f"[Advertising guidelines]({GUIDELINES})" in body


def test_a_rejection_says_what_to_fix_and_ends_with_the_next_step_and_the_link() -> None:
    """Per reason the meaning, the fix and the policy page; then the next step; last the
    link to the ad in Ads Manager (built by ads_manager_url, the one place)."""
    event = rejected(["UGC", "LANDING_PAGE_SPEED"], labels=["Rights missing", "Slow page"])
    body = render([event]).body
    ugc, speed = FIXES["UGC"], FIXES["LANDING_PAGE_SPEED"]
    assert ugc.policy is not None
    assert f"{ugc.meaning} **Fix:** {ugc.fix} [Policy]({ugc.policy})" in body
    assert (
        f"{speed.meaning} **Fix:** {speed.fix} [Advertising guidelines]({GUIDELINES}) "
        "(no page specific to this reason)"
    ) in body
    *_, step, links = body.split("\n\n")
    assert step == f"**Next step:** {NEXT_STEP}"
    assert links == f"[Open in Ads Manager]({ads_manager_url(event)})"
    assert ads_manager_url(event) == (
        f"https://ads.pinterest.com/advertiser/{ACCOUNT}/reporting/ads/"
        "?campaignIds=%5B626735565838%5D&adGroupIds=%5B2680059592705%5D"
    )


def test_no_guidance_where_nothing_is_rejected() -> None:
    """An approval or a pause carries no fix and no next step."""
    approved = Event(
        id="evt_a",
        type="ad.approved",
        entity="ad",
        entity_id="1",
        ad_account_id=ACCOUNT,
        detected_at=0.0,
        changes={"review_status": FieldChange("PENDING", "APPROVED")},
        state={"review_status": "APPROVED", "rejected_reasons": []},
    )
    body = render([approved]).body
    assert "Fix:" not in body
    assert "Next step" not in body


def test_a_reminder_and_a_digest_carry_the_fix_once_per_reason() -> None:
    """A still-rejected reminder has the fix; a digest says each distinct reason's fix
    once, after the list, and ends with the next step."""
    reminder = Event(
        id="evt_r",
        type="ad.still_rejected",
        entity="ad",
        entity_id="9",
        ad_account_id=ACCOUNT,
        detected_at=0.0,
        state={"review_status": "REJECTED", "rejected_reasons": ["CLICKBAIT"]},
    )
    assert FIXES["CLICKBAIT"].fix in render([reminder]).body
    events = [rejected(["HASHTAGS"], n=i) for i in range(3)] + [rejected(["CLICKBAIT"], n=5)]
    body = render(events).body
    assert body.count(FIXES["HASHTAGS"].fix) == 1
    assert body.count(FIXES["CLICKBAIT"].fix) == 1
    assert body.index("**What to fix:**") > body.rindex("[Ads Manager]")
    assert body.endswith(f"**Next step:** {NEXT_STEP}")


def test_template_variables_fix_and_policy_link() -> None:
    """$fix and $policy_link are known variables; an unknown one stays a config error."""
    assert check_template("$name: $fix ($policy_link)") is None
    assert check_template("$fixes") is not None
    event = rejected(["UGC", "HASHTAGS"])
    _, body = apply(
        None,
        "$fix | $policy_link",
        [event],
        account_names={},
        default_title="t",
        default_body="b",
    )
    assert body == (
        f"User-generated content without rights: {FIXES['UGC'].fix}; "
        f"Hashtags in the Pin description: {FIXES['HASHTAGS'].fix} | "
        f"{FIXES['UGC'].policy} {GUIDELINES}"
    )


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_slack_receives_the_fix_through_apprise(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real apprise Slack send into a local sink: the fix, the policy link and the next
    step arrive as Slack mrkdwn, with the Ads Manager link last."""
    event = rejected(["LANDING_PAGE_BROKEN", "UGC"])
    async with HttpSink() as sink:
        # apprise's Slack webhook mode has no host option: point its endpoint at the sink.
        monkeypatch.setattr(NotifySlack, "webhook_url", sink.url("/services"))
        notifier = AppriseNotifier("slack://{}/{}/{}/#ads-alerts".format(*SLACK_TOKENS))
        with anyio.fail_after(10):
            result = await notifier.send(render([event], dialect=notifier.dialect))
        assert result.ok, result.detail
        (request,) = await sink.wait_for(1)
    (attachment,) = request.json["attachments"]
    text = attachment["text"]
    assert "*What to fix:*" in text
    assert "**" not in text
    assert FIXES["LANDING_PAGE_BROKEN"].meaning.replace("'", "'") in text
    assert f"<{FIXES['UGC'].policy}|Policy>" in text
    assert f"<{GUIDELINES}|Advertising guidelines>" in text
    assert "*Next step:*" in text
    assert text.rstrip().endswith("|Open in Ads Manager>")
