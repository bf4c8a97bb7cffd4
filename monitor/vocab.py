"""The Pinterest API v5.23.0 enums pinmon names itself, copied from the spec.

The spec is not shipped with the package, so its enums are restated here, once: the
config warns about values outside them (enums grow between releases, so an unknown value
is never an error), and the simulator serves them. The simulator's contract test checks
every tuple against the spec, so they cannot drift apart silently.
"""

from __future__ import annotations

import re
from typing import Final

#: The production API root (the sandbox is ``https://api-sandbox.pinterest.com/v5``).
DEFAULT_BASE_URL: Final = "https://api.pinterest.com/v5"

#: ``path_ad_account_id``: a digit string of at most 18 characters.
AD_ACCOUNT_ID: Final = re.compile(r"\d{1,18}", re.ASCII)

ENTITY_STATUSES: Final = ("ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT")

#: Pinterest's default is ACTIVE+PAUSED, under which an archived entity silently drops out
#: of the listing and would look deleted; so pinmon always asks for archives too.
DEFAULT_ENTITY_STATUSES: Final = ("ACTIVE", "PAUSED", "ARCHIVED")

REVIEW_STATUSES: Final = ("OTHER", "PENDING", "REJECTED", "APPROVED")

AD_SUMMARY_STATUSES: Final = (
    "APPROVED",
    "PAUSED",
    "PENDING",
    "REJECTED",
    "ADVERTISER_DISABLED",
    "ARCHIVED",
    "DRAFT",
    "DELETED_DRAFT",
)

#: Campaigns and ad groups share one summary enum.
GROUP_SUMMARY_STATUSES: Final = (
    "RUNNING",
    "PAUSED",
    "NOT_STARTED",
    "COMPLETED",
    "ADVERTISER_DISABLED",
    "ARCHIVED",
    "DRAFT",
    "DELETED_DRAFT",
)

CREATIVE_TYPES: Final = (
    "REGULAR",
    "VIDEO",
    "SHOPPING",
    "CAROUSEL",
    "MAX_VIDEO",
    "SHOP_THE_PIN",
    "COLLECTION",
    "IDEA",
    "SHOWCASE",
    "QUIZ",
    "COLLAGE",
    "MAX_WIDTH_REGULAR_COLLECTION",
    "MAX_WIDTH_VIDEO_COLLECTION",
)

REJECTED_REASONS: Final = (
    "HASHTAGS",
    "PROMOTIONS_AND_PRICES",
    "TARGETING",
    "LANDING_PAGE",
    "CAPS_AND_SYMBOLS",
    "SHOCKING",
    "WEIGHT_LOSS",
    "PROHIBITED_PRODUCT",
    "AUTHENTICITY",
    "NUDITY",
    "CONFUSING_DESIGN",
    "URGENCY",
    "RATINGS",
    "APP",
    "ALCOHOL",
    "CONTESTS",
    "POLITICAL",
    "OTHER",
    "IMAGE",
    "NAR",
    "INCONSISTENT",
    "CLICKBAIT",
    "NO_DESCRIPTION",
    "LOW_QUALITY",
    "EXAGGERATED_CLAIMS",
    "PINTEREST_BRAND",
    "ALCOHOL_NO_SALE",
    "LANDING_PAGE_SPEED",
    "LANDING_PAGE_HARDWALL",
    "LANDING_PAGE_BROKEN",
    "LANDING_PAGE_QUALITY",
    "OUT_OF_STOCK",
    "IMAGE_LOW_QUALITY",
    "IMAGE_BUSY",
    "IMAGE_POORLY_EDITED",
    "IMAGE_BEFORE_AFTER",
    "UGC",
    "FAKE_BUTTONS",
    "WEAPONS",
    "SENSITIVE",
    "UNACCEPTABLE_BUSINESS",
    "SUSPICIOUS_CLAIMS",
    "PHARMA",
    "SUSPICIOUS_SUPPLEMENTS",
    "ILLEGAL_RECREATIONAL_DRUG",
    "LOW_QUALITY_LANDING_PAGE",
    "RESTRICTED_HEALTHCARE",
    "INCONSISTENT_LANG_FR",
)
