"""Plausible values for every field a scenario leaves out, and whole generated accounts.

Everything here is a function of an entity's position (and a seed), never of a global
random state: building the same scenario twice yields byte-identical pages, which
keeps tests and the page cache honest.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from monitor.simulator.entities import (
    Ad,
    AdAccount,
    AdGroup,
    Campaign,
    Owner,
    ad_summary_status,
    group_summary_status,
)

THEMES: Final = (
    "Holiday Sale",
    "Winter Boots",
    "Cozy Knitwear",
    "Kitchen Essentials",
    "Spring Garden",
    "Back to School",
    "Summer Patio",
    "Home Office Refresh",
    "Wedding Registry",
    "Pet Beds & Blankets",
    "Trail Running",
    "Skincare Basics",
)
_CREATIVES: Final = (
    ("REGULAR", "Standard"),
    ("CAROUSEL", "Carousel"),
    ("VIDEO", "Video"),
    ("REGULAR", "Standard"),
    ("COLLECTION", "Collection"),
    ("IDEA", "Idea"),
    ("REGULAR", "Standard"),
    ("QUIZ", "Quiz"),
)
_OBJECTIVES: Final = ("CONSIDERATION", "WEB_CONVERSION", "AWARENESS", "CATALOG_SALES")
_CTAS: Final = ("SHOP_NOW", "LEARN_MORE", None, "BUY_NOW")
_DAY: Final = 86_400

#: First ids per kind: the shapes of real Pinterest ids (12 to 18 digits).
ID_BASES: Final[dict[str, int]] = {
    "accounts": 549_755_885_100,
    "campaigns": 626_735_565_800,
    "ad_groups": 2_680_059_592_700,
    "ads": 687_195_134_300,
    "pins": 394_205_773_611_545_400,
}


class Ids:
    """Hands out fresh ids per kind, always above any id a scenario spelled out.

    Higher ids mean newer entities (the spec says so for ``order``), so an id is only
    ever handed out above every id already in use.
    """

    def __init__(self) -> None:
        self._next = dict(ID_BASES)

    def claim(self, kind: str, entity_id: str) -> None:
        """Note that ``entity_id`` is taken."""
        self._next[kind] = max(self._next[kind], int(entity_id) + 1)

    def new(self, kind: str) -> str:
        """A fresh id of ``kind``."""
        value = self._next[kind]
        self._next[kind] = value + 1
        return str(value)


# Cached: a generated account has thousands of ads sharing a handful of names.
@functools.lru_cache(maxsize=1024)
def _shop(account_name: str) -> str:
    word = "".join(c for c in account_name.split()[0].lower() if c.isalnum())
    return word or "shop"


@functools.lru_cache(maxsize=1024)
def _slug(text: str) -> str:
    return "-".join("".join(c for c in w.lower() if c.isalnum()) for w in text.split()).strip("-")


def account(account_id: str, index: int, fields: Mapping[str, Any], t0: int) -> AdAccount:
    """An ad account with ``fields`` over plausible defaults."""
    values: dict[str, Any] = {
        "name": f"Acme Home {index + 1}",
        "owner": Owner(id=str(100_000_000_000_000 + index), username=f"acmehome{index + 1}"),
        "created_time": t0 - 400 * _DAY,
        "updated_time": t0 - 30 * _DAY,
    }
    values.update(fields)
    return AdAccount(id=account_id, **values)


def campaign(
    campaign_id: str, acct: AdAccount, index: int, fields: Mapping[str, Any], t0: int
) -> Campaign:
    """A campaign of ``acct`` with ``fields`` over plausible defaults."""
    theme = THEMES[index % len(THEMES)]
    values: dict[str, Any] = {
        "name": f"{theme} {2024 + index // len(THEMES)}",
        "objective_type": _OBJECTIVES[index % len(_OBJECTIVES)],
        "daily_spend_cap": (50 + 25 * (index % 4)) * 1_000_000,
        "start_time": t0 - (60 - index % 30) * _DAY,
        "end_time": None if index % 3 else t0 + 45 * _DAY,
        "is_flexible_daily_budgets": index % 2 == 0,
        "created_time": t0 - (61 - index % 30) * _DAY,
        "updated_time": t0 - (20 - index % 10) * _DAY,
    }
    values.update(fields)
    values.setdefault("summary_status", group_summary_status(values.get("status", "ACTIVE")))
    return Campaign(id=campaign_id, ad_account_id=acct.id, **values)


def ad_group(
    ad_group_id: str, camp: Campaign, index: int, fields: Mapping[str, Any], t0: int
) -> AdGroup:
    """An ad group of ``camp`` with ``fields`` over plausible defaults."""
    audiences = ("Women 25-44", "Home decor enthusiasts", "Lookalike — past buyers", "Retargeting")
    values: dict[str, Any] = {
        "name": f"{camp.name} — {audiences[index % len(audiences)]}",
        "targeting_spec": {
            "GENDER": ["female", "male"] if index % 2 else ["female"],
            "AGE_BUCKET": ["25-34", "35-44"],
            "LOCALE": ["en-US"],
            "LOCATION": ["US"],
            "APPTYPE": ["iphone", "android_mobile", "web"],
        },
        "optimization_goal_metadata": None,
        "conversion_learning_mode_type": "NOT_ACTIVE" if index % 2 else None,
        "start_time": camp.start_time,
        "end_time": camp.end_time,
        "created_time": camp.created_time + _DAY,
        "updated_time": camp.updated_time + 3600,
    }
    values.update(fields)
    values.setdefault("summary_status", group_summary_status(values.get("status", "ACTIVE")))
    return AdGroup(id=ad_group_id, ad_account_id=camp.ad_account_id, campaign_id=camp.id, **values)


def _quiz(url: str, pin_id: str) -> dict[str, Any]:
    options = [{"id": i + 1, "text": t} for i, t in enumerate(("Minimal", "Cosy", "Bold"))]
    return {
        "questions": [{"question_id": 1, "question_text": "Pick your style", "options": options}],
        "results": [
            {"organic_pin_id": pin_id, "destination_url": f"{url}&result={i}", "result_id": i}
            for i in (1, 2, 3)
        ],
        "tie_breaker_type": "RANDOM",
    }


# Cached per ad group, creative type and variant: a 200,000-ad account then shares these
# strings and lists instead of holding its own copies (entities never mutate a value in
# place, so sharing is safe). ``variant`` (0-11) mixes tracked, deep-linked and CTA forms.
@functools.lru_cache(maxsize=8192)
def _creative_fields(
    group: tuple[str, str, str], shop: str, creative: str, variant: int
) -> dict[str, Any]:
    group_id, campaign_id, theme = group
    url = (
        f"https://www.{shop}.example/{_slug(theme)}"
        f"?utm_source=pinterest&utm_campaign={campaign_id}&utm_content={group_id}"
    )
    tracked = variant % 3 == 0
    deep = f"{shop}://collections/{_slug(theme)}" if variant % 4 == 0 else None
    values: dict[str, Any] = {
        "creative_type": creative,
        "destination_url": url,
        "android_deep_link": deep,
        "ios_deep_link": deep,
        "click_tracking_url": f"https://clk.adtrack.example/c?g={group_id}" if tracked else None,
        "view_tracking_url": f"https://clk.adtrack.example/v?g={group_id}" if tracked else None,
        "tracking_urls": (
            {
                "impression": [f"https://px.measure.example/i/{group_id}"],
                "click": [f"https://px.measure.example/c/{group_id}"],
                "engagement": [],
                "buyable_button": [],
                "audience_verification": [],
            }
            if tracked
            else None
        ),
        "customizable_cta_type": _CTAS[variant % len(_CTAS)],
        "grid_click_type": "CLOSEUP" if creative in ("IDEA", "QUIZ") else "DIRECT_TO_DESTINATION",
    }
    if creative == "CAROUSEL":
        values["carousel_destination_urls"] = [f"{url}&card={i}" for i in (1, 2, 3)]
        links = [f"{shop}://collections/{_slug(theme)}/{i}" for i in (1, 2, 3)]
        values["carousel_android_deep_links"] = values["carousel_ios_deep_links"] = links
    if creative == "COLLECTION":
        values["collection_items_destination_url_template"] = (
            f"https://www.{shop}.example/p/{{{{product_id}}}}?utm_source=pinterest"
        )
    if creative == "QUIZ":
        values["quiz_pin_data"] = _quiz(url, str(int(group_id) * 1000 + 7))
    return values


def ad(
    ad_id: str,
    group: AdGroup,
    pin_id: str,
    index: int,
    fields: Mapping[str, Any],
    *,
    account_name: str,
) -> Ad:
    """An ad in ``group`` with ``fields`` over plausible defaults for every AdResponse field."""
    creative, label = _CREATIVES[index % len(_CREATIVES)]
    creative = fields.get("creative_type", creative)
    theme = group.name.split(" — ")[0]
    key = (group.id, group.campaign_id, theme)
    values = dict(_creative_fields(key, _shop(account_name), creative, index % 12))
    values["name"] = f"{theme} — {label} #{index + 1}"
    values["created_time"] = group.created_time + _DAY + 60 * (index % 1440)
    values["updated_time"] = values["created_time"] + _DAY
    values.update(fields)
    values.pop("pin_id", None)
    result = Ad(
        id=ad_id,
        ad_account_id=group.ad_account_id,
        campaign_id=group.campaign_id,
        ad_group_id=group.id,
        pin_id=str(fields.get("pin_id", pin_id)),
        **values,
    )
    if "summary_status" not in fields:
        result.summary_status = ad_summary_status(result)
    return result


@dataclass(frozen=True, slots=True)
class Generate:
    """The compact form of a big account: ``generate = {ads = 50000, campaigns = 20, ...}``.

    Shares are fractions of the ads put in each state; the rest are active and approved.
    """

    ads: int
    campaigns: int = 1
    ad_groups_per_campaign: int = 1
    rejected_share: float = 0.0
    pending_share: float = 0.0
    paused_share: float = 0.0
    archived_share: float = 0.0
    seed: int = 0


#: Human labels for generated rejections: one reason each keeps listings readable.
_GENERATED_REJECTIONS: Final = (
    ("EXAGGERATED_CLAIMS", "Misleading claims in landing page"),
    ("LANDING_PAGE_BROKEN", "Landing page is broken or returns an error"),
    ("IMAGE_LOW_QUALITY", "Image is blurry or low resolution"),
)


def ad_states(spec: Generate) -> list[dict[str, Any]]:
    """Per generated ad, the state fields its share puts it in (deterministic per seed)."""
    rng = random.Random(spec.seed)
    cuts = []
    total = 0.0
    for share, state in (
        (spec.rejected_share, "rejected"),
        (spec.pending_share, "pending"),
        (spec.paused_share, "paused"),
        (spec.archived_share, "archived"),
    ):
        total += share
        cuts.append((total, state))
    out: list[dict[str, Any]] = []
    for _ in range(spec.ads):
        roll = rng.random()
        state = next((s for cut, s in cuts if roll < cut), "approved")
        if state == "rejected":
            reason, label = _GENERATED_REJECTIONS[rng.randrange(len(_GENERATED_REJECTIONS))]
            out.append(
                {
                    "review_status": "REJECTED",
                    "rejected_reasons": [reason],
                    "rejection_labels": [label],
                }
            )
        elif state == "pending":
            out.append({"review_status": "PENDING"})
        elif state == "paused":
            out.append({"status": "PAUSED"})
        elif state == "archived":
            out.append({"status": "ARCHIVED"})
        else:
            out.append({})
    return out
