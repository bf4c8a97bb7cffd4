"""The vocabulary of notifications: what each transition is called, reasons in words, links.

Pure data and small pure functions, so that wording can be reviewed (and translated)
in one place, apart from the layout in :mod:`monitor.render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from monitor.events import Change, Event
from monitor.models import Kind

#: Verified form: ``https://ads.pinterest.com/advertiser/{ad_account_id}/reporting/campaigns/``
#: (Ads Manager's campaign table, seen in public browser-automation code). Unverified:
#: the ``ads``/``adgroups`` tabs and the ``campaignIds``/``adGroupIds`` filters are by
#: analogy; an unknown filter still lands on the account's reporting page. Change it here.
ADS_MANAGER: Final = "https://ads.pinterest.com/advertiser/{account}/reporting/{tab}/"
#: A Pin's public page: shows the creative the ad promotes.
PIN_URL: Final = "https://www.pinterest.com/pin/{pin_id}/"

_NOUN: Final = {
    "ad": ("Ad", "ads"),
    "campaign": ("Campaign", "campaigns"),
    "ad_group": ("Ad group", "ad groups"),
}
_TAB: Final = {"ad": "ads", "campaign": "campaigns", "ad_group": "adgroups"}

#: Nicer wordings for the rejected_reasons Pinterest uses most; any other value falls
#: back to its enum name in sentence case (Pinterest publishes no per-value text).
REASONS: Final[Mapping[str, str]] = {
    "HASHTAGS": "Hashtags in the Pin description",
    "PROMOTIONS_AND_PRICES": "Promotion or price claims",
    "TARGETING": "Targeting",
    "LANDING_PAGE": "Landing page",
    "LANDING_PAGE_BROKEN": "Landing page broken",
    "LANDING_PAGE_SPEED": "Landing page too slow",
    "LANDING_PAGE_HARDWALL": "Landing page behind a login or paywall",
    "LANDING_PAGE_QUALITY": "Low-quality landing page",
    "LOW_QUALITY_LANDING_PAGE": "Low-quality landing page",
    "CAPS_AND_SYMBOLS": "Excessive capitals or symbols",
    "PROHIBITED_PRODUCT": "Prohibited product",
    "NAR": "Not allowed by ad policy",
    "INCONSISTENT": "Ad and landing page don't match",
    "INCONSISTENT_LANG_FR": "Language doesn't match (French)",
    "CLICKBAIT": "Clickbait",
    "NO_DESCRIPTION": "Missing description",
    "EXAGGERATED_CLAIMS": "Exaggerated claims",
    "SUSPICIOUS_CLAIMS": "Suspicious claims",
    "PINTEREST_BRAND": "Misuse of the Pinterest brand",
    "ALCOHOL_NO_SALE": "Alcohol (direct sale not allowed)",
    "OUT_OF_STOCK": "Product out of stock",
    "IMAGE_LOW_QUALITY": "Low-quality image",
    "IMAGE_BUSY": "Image too busy",
    "IMAGE_POORLY_EDITED": "Poorly edited image",
    "IMAGE_BEFORE_AFTER": "Before-and-after image",
    "UGC": "User-generated content without rights",
    "FAKE_BUTTONS": "Fake buttons in the image",
    "UNACCEPTABLE_BUSINESS": "Unacceptable business practices",
    "SUSPICIOUS_SUPPLEMENTS": "Suspicious supplements",
    "ILLEGAL_RECREATIONAL_DRUG": "Illegal or recreational drugs",
    "RESTRICTED_HEALTHCARE": "Restricted healthcare product",
    "PHARMA": "Pharmaceuticals",
    "APP": "App promotion",
}

_REVIEW_FIELDS: Final = frozenset({"rejected_reasons", "rejection_labels"})


def reason_text(code: str) -> str:
    """A ``rejected_reasons`` value in words: ``LANDING_PAGE_BROKEN`` → ``Landing page broken``."""
    if code in REASONS:
        return REASONS[code]
    words = code.replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:] if words else code


def reasons(event: Event) -> list[str]:
    """Why an ad was rejected, in words: Pinterest's own labels when it gave any."""
    labels = [str(x) for x in event.state.get("rejection_labels") or () if str(x).strip()]
    if labels:
        return labels
    return [reason_text(str(x)) for x in event.state.get("rejected_reasons") or ()]


def is_review_field(name: str) -> bool:
    """Fields shown as reasons rather than as ``old → new`` changes."""
    return name in _REVIEW_FIELDS


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event amounts to, for a headline.

    ``one`` and ``many`` are templates over ``{Noun}``, ``{noun}``, ``{nouns}`` and ``{n}``.
    """

    emoji: str
    one: str
    many: str

    def headline(self, entity: str) -> str:
        """``🚫 Ad rejected``."""
        noun, _ = _NOUN.get(entity, (entity.replace("_", " ").capitalize(), entity + "s"))
        return f"{self.emoji} " + self.one.format(Noun=noun, noun=noun.lower())

    def count(self, entity: str, n: int) -> str:
        """``🚫 12 ads rejected``."""
        noun, nouns = _NOUN.get(entity, (entity.replace("_", " ").capitalize(), entity + "s"))
        return f"{self.emoji} " + self.many.format(n=n, noun=noun.lower(), nouns=nouns)


def _o(emoji: str, verb: str) -> Outcome:
    return Outcome(emoji, f"{{Noun}} {verb}", f"{{n}} {{nouns}} {verb}")


_BY_CHANGE: Final = {
    "rejected": _o("🚫", "rejected"),
    "approved": _o("✅", "approved"),
    "removed": _o("🗑️", "removed"),
    "created": Outcome("🆕", "New {noun}", "{n} new {nouns}"),
    "pin_deleted": Outcome("📌", "Pin deleted for {noun}", "Pins deleted for {n} {nouns}"),
    "updated": _o("✏️", "updated"),
    "already_rejected": Outcome("🚫", "{Noun} is rejected", "{n} {nouns} are rejected"),
    "pending_review": Outcome(
        "⏳", "{Noun} pending review for over a day", "{n} {nouns} pending review for over a day"
    ),
    "still_rejected": Outcome("🔁", "{Noun} still rejected", "{n} {nouns} still rejected"),
    "review_stuck": Outcome("⏳", "{Noun} stuck in review", "{n} {nouns} stuck in review"),
    "landing_page_down": Outcome(
        "🔗", "Landing page down for {noun}", "Landing pages down for {n} {nouns}"
    ),
}
#: A rejection after an approval that followed an earlier rejection: the fix did not hold.
_REJECTED_AGAIN: Final = _o("🚫", "rejected again")
#: An approval that ends a rejection reads as the resolution people waited for.
_RESOLVED: Final = Outcome(
    "✅", "Resolved: {noun} approved again", "Resolved: {n} {nouns} approved again"
)
_BY_STATUS: Final = {
    "PAUSED": _o("⏸️", "paused"),
    "ARCHIVED": _o("🗄️", "archived"),
    "DRAFT": _o("📝", "moved to draft"),
    "DELETED_DRAFT": _o("🗑️", "draft deleted"),
    "RUNNING": _o("▶️", "running"),
    "COMPLETED": _o("🏁", "completed"),
    "NOT_STARTED": _o("🕒", "not started yet"),
    "ADVERTISER_DISABLED": _o("⛔", "disabled"),
    "PENDING": _o("⏳", "pending review"),
    "REJECTED": _o("🚫", "rejected"),
}
_CHANGED: Final = _o("🔄", "status changed")


def outcome(event: Event) -> Outcome:
    """Name what happened, from the event type and the status it moved to."""
    change = event.change
    if change == Change.APPROVED and any(
        c.old == "REJECTED" for name, c in event.changes.items() if name.endswith("status")
    ):
        return _RESOLVED
    if change == Change.REJECTED and event.rejected_before_at is not None:
        return _REJECTED_AGAIN
    if change in _BY_CHANGE:
        return _BY_CHANGE[change]
    field = {
        "status_changed": "status",
        "review_status_changed": "review_status",
        "summary_status_changed": "summary_status",
    }.get(change)
    if field is None:
        return _CHANGED
    moved = event.changes.get(field)
    new = moved.new if moved is not None else event.state.get(field)
    old = moved.old if moved is not None else None
    if new == "ACTIVE" or (new == "APPROVED" and field == "summary_status"):
        # ACTIVE after PAUSED/ARCHIVED is a resume; after a draft (or nothing) a launch.
        return _o("▶️", "resumed" if old in ("PAUSED", "ARCHIVED") else "activated")
    if field == "review_status" and new == "PENDING":
        return _o("⏳", "back in review" if old in ("APPROVED", "REJECTED") else "in review")
    return _BY_STATUS.get(str(new), _CHANGED)


def span_text(seconds: float) -> str:
    """A length of time for people: ``45 min``, ``26 h``, ``3 d 4 h``."""
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h"
    days, rest = divmod(seconds, 86400)
    hours = round(rest / 3600)
    return f"{days:.0f} d" + (f" {hours} h" if hours else "")


def day_text(ts: float) -> str:
    """A moment for people, to the minute, in UTC: ``2026-12-02 07:05 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def value_text(value: Any) -> str:
    """A watched value for people: null as an em dash, lists joined, booleans as yes/no."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(value_text(v) for v in value)
    return str(value)


def ads_manager_url(event: Event) -> str:
    """A link to the entity in Pinterest Ads Manager (see :data:`ADS_MANAGER`)."""
    url = ADS_MANAGER.format(
        account=quote(event.ad_account_id, safe=""), tab=_TAB.get(event.entity, "campaigns")
    )
    filters = [
        (name, value)
        for name, value in (("campaignIds", event.campaign_id), ("adGroupIds", event.ad_group_id))
        if value and not (name == "adGroupIds" and event.entity == Kind.CAMPAIGN)
    ]
    if filters:
        url += "?" + "&".join(f"{n}={quote(f'[{v}]', safe='')}" for n, v in filters)
    return url


def pin_url(pin_id: str) -> str:
    """The public page of a Pin."""
    return PIN_URL.format(pin_id=quote(pin_id, safe=""))
