"""The four simulated entity kinds, shaped field for field like the spec's response schemas.

Each is a mutable msgspec Struct whose fields are exactly the properties of the spec
schema it stands for (``AdAccount``, ``CampaignResponse``, ``AdGroupResponse``,
``AdResponse``), so encoding one *is* rendering its JSON: no intermediate dicts on the
hot path. Mutations replace field values (never mutate a list in place) because
``previous`` copies made for the ``stale`` fault share their lists with the live struct.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

#: The value of ``type`` per kind, as the live API sends it.
AD_TYPE: Final = "pinpromotion"
CAMPAIGN_TYPE: Final = "campaign"
AD_GROUP_TYPE: Final = "adgroup"


class Owner(msgspec.Struct, kw_only=True, gc=False):
    """``AdAccountOwner``: the user who owns an ad account."""

    id: str
    username: str


class AdAccount(msgspec.Struct, kw_only=True, gc=False):
    """An ``AdAccount`` as GET /ad_accounts returns it."""

    id: str
    name: str
    owner: Owner
    country: str = "US"
    currency: str = "USD"
    permissions: list[str] = msgspec.field(default_factory=lambda: ["OWNER"])
    created_time: int | None = None
    updated_time: int | None = None


class Campaign(msgspec.Struct, kw_only=True, gc=False):
    """A ``CampaignResponse``."""

    id: str
    ad_account_id: str
    name: str
    status: str = "ACTIVE"
    lifetime_spend_cap: int | None = None
    daily_spend_cap: int | None = 50_000_000
    order_line_id: str | None = None
    tracking_urls: dict[str, list[str]] | None = None
    start_time: int | None = None
    end_time: int | None = None
    is_flexible_daily_budgets: bool | None = False
    is_campaign_budget_optimization: bool | None = False
    is_automated_campaign: bool | None = False
    bid_options: dict[str, Any] | None = None
    is_performance_plus: bool = False
    objective_type: str = "CONSIDERATION"
    summary_status: str = "RUNNING"
    created_time: int = 0
    updated_time: int = 0
    type: str = CAMPAIGN_TYPE


class AdGroup(msgspec.Struct, kw_only=True, gc=False):
    """An ``AdGroupResponse``."""

    id: str
    ad_account_id: str
    campaign_id: str
    name: str
    status: str = "ACTIVE"
    budget_in_micro_currency: int | None = 20_000_000
    bid_in_micro_currency: int | None = 1_500_000
    optimization_goal_metadata: dict[str, Any] | None = None
    budget_type: str = "DAILY"
    start_time: int | None = None
    end_time: int | None = None
    targeting_spec: dict[str, Any] = msgspec.field(default_factory=dict)
    lifetime_frequency_cap: int = 0
    tracking_urls: dict[str, list[str]] | None = None
    auto_targeting_enabled: bool | None = True
    placement_group: str = "ALL"
    pacing_delivery_type: str = "STANDARD"
    conversion_learning_mode_type: str | None = None
    summary_status: str = "RUNNING"
    feed_profile_id: str = "0"
    billable_event: str = "CLICKTHROUGH"
    bid_strategy_type: str | None = "MAX_BID"
    targeting_template_ids: list[str] | None = None
    is_creative_optimization: bool | None = False
    promotion_id: str | None = None
    promotion_application_level: str | None = None
    bid_multiplier: float | None = None
    dca_assets: Any = None
    created_time: int = 0
    updated_time: int = 0
    type: str = AD_GROUP_TYPE


class Ad(msgspec.Struct, kw_only=True, gc=False):
    """An ``AdResponse``: the object pinmon watches, every property present."""

    id: str
    ad_account_id: str
    campaign_id: str
    ad_group_id: str
    pin_id: str
    name: str | None
    status: str = "ACTIVE"
    review_status: str = "APPROVED"
    summary_status: str = "APPROVED"
    rejected_reasons: list[str] = msgspec.field(default_factory=list)
    rejection_labels: list[str] = msgspec.field(default_factory=list)
    is_pin_deleted: bool = False
    is_removable: bool = False
    creative_type: str = "REGULAR"
    destination_url: str | None = None
    android_deep_link: str | None = None
    ios_deep_link: str | None = None
    carousel_android_deep_links: list[str] | None = None
    carousel_destination_urls: list[str] | None = None
    carousel_ios_deep_links: list[str] | None = None
    click_tracking_url: str | None = None
    view_tracking_url: str | None = None
    tracking_urls: dict[str, list[str]] | None = None
    collection_items_destination_url_template: str | None = None
    customizable_cta_type: str | None = None
    disclosure_type: str | None = None
    disclosure_url: str | None = None
    grid_click_type: str | None = "DIRECT_TO_DESTINATION"
    lead_form_id: str | None = None
    quiz_pin_data: dict[str, Any] | None = None
    created_time: int = 0
    updated_time: int = 0
    type: str = AD_TYPE


#: Any entity below the account level.
Entity = Campaign | AdGroup | Ad

#: The fields a scenario may set per kind: every schema property except the ones the
#: simulator owns (ids, parent links and ``type`` are fixed by where an entity sits).
_OWNED: Final = frozenset({"id", "ad_account_id", "campaign_id", "ad_group_id", "type"})
SETTABLE: Final[dict[str, frozenset[str]]] = {
    "accounts": frozenset(AdAccount.__struct_fields__) - {"id"},
    "campaigns": frozenset(Campaign.__struct_fields__) - _OWNED,
    "ad_groups": frozenset(AdGroup.__struct_fields__) - _OWNED,
    "ads": frozenset(Ad.__struct_fields__) - _OWNED,
}


def kind_of(entity: Entity) -> str:
    """``campaigns``, ``ad_groups`` or ``ads``: the URL spelling of an entity's kind."""
    if isinstance(entity, Ad):
        return "ads"
    return "ad_groups" if isinstance(entity, AdGroup) else "campaigns"


def ad_summary_status(ad: Ad) -> str:
    """The ``summary_status`` Pinterest derives from an ad's status and review.

    The user-set status wins (a paused ad reads PAUSED whatever its review), then review.
    """
    if ad.status != "ACTIVE":
        return ad.status
    if ad.review_status in ("REJECTED", "PENDING"):
        return ad.review_status
    return "APPROVED"


def group_summary_status(status: str) -> str:
    """The ``summary_status`` of a campaign or ad group with the given user-set status."""
    return "RUNNING" if status == "ACTIVE" else status
