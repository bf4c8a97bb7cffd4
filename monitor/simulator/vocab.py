"""The Pinterest v5.23.0 enums and error bodies the simulator speaks, copied from the spec.

The spec is not shipped with the package, so its enums are restated (here, and in
:mod:`monitor.vocab` for those pinmon itself names); the contract test checks every tuple
against the spec so they cannot drift apart silently.
"""

from __future__ import annotations

from typing import Final

from monitor import vocab as _spec

# Those pinmon itself names live in monitor.vocab (the config checks values against them);
# restated as names here so the simulator and its contract test keep saying ``vocab.X``.
ENTITY_STATUSES: Final = _spec.ENTITY_STATUSES
REVIEW_STATUSES: Final = _spec.REVIEW_STATUSES
AD_SUMMARY_STATUSES: Final = _spec.AD_SUMMARY_STATUSES
GROUP_SUMMARY_STATUSES: Final = _spec.GROUP_SUMMARY_STATUSES
CREATIVE_TYPES: Final = _spec.CREATIVE_TYPES
REJECTED_REASONS: Final = _spec.REJECTED_REASONS

#: What a listing returns when ``entity_statuses`` is absent (the spec's default).
DEFAULT_ENTITY_STATUSES: Final = ("ACTIVE", "PAUSED")
ORDERS: Final = ("ASCENDING", "DESCENDING")
OBJECTIVE_TYPES: Final = (
    "AWARENESS",
    "CONSIDERATION",
    "WEB_CONVERSION",
    "CATALOG_SALES",
    "VIDEO_COMPLETION",
)


#: Human text for the reasons the simulator uses most. Pinterest publishes no per-value
#: description; these read like the ``rejection_labels`` Ads Manager shows. Reasons not
#: listed get their enum name rendered readably (see :func:`label_for`).
REASON_LABELS: Final[dict[str, str]] = {
    "HASHTAGS": "Too many hashtags in the description",
    "PROMOTIONS_AND_PRICES": "Promotion or price does not match the landing page",
    "TARGETING": "Targeting is not allowed for this product",
    "LANDING_PAGE": "Landing page does not match the ad",
    "CAPS_AND_SYMBOLS": "Excessive capital letters or symbols",
    "SHOCKING": "Shocking or graphic content",
    "WEIGHT_LOSS": "Weight-loss claims are not allowed",
    "PROHIBITED_PRODUCT": "Prohibited product or service",
    "CLICKBAIT": "Clickbait: the ad withholds information to get clicks",
    "EXAGGERATED_CLAIMS": "Misleading claims in landing page",
    "LANDING_PAGE_BROKEN": "Landing page is broken or returns an error",
    "LANDING_PAGE_SPEED": "Landing page loads too slowly",
    "LANDING_PAGE_HARDWALL": "Landing page requires sign-up before showing content",
    "LOW_QUALITY_LANDING_PAGE": "Low-quality landing page",
    "OUT_OF_STOCK": "Promoted product is out of stock",
    "IMAGE_LOW_QUALITY": "Image is blurry or low resolution",
    "IMAGE_BEFORE_AFTER": "Before-and-after images are not allowed",
    "FAKE_BUTTONS": "Image contains fake buttons",
    "URGENCY": "Creates a false sense of urgency",
    "SUSPICIOUS_CLAIMS": "Unsubstantiated health or financial claims",
}


def label_for(reason: str) -> str:
    """The human label shown for a rejection reason: ``LANDING_PAGE_BROKEN`` → a sentence."""
    return REASON_LABELS.get(reason) or reason.replace("_", " ").capitalize()


# Error bodies. The codes for 401, 429 and 500 are the ones Pinterest documents; for
# parameter errors the spec's own examples use the HTTP status as the code
# (``{"code": 400, "message": "Invalid ad account ads parameters."}``), so do we.
AUTH_FAILED: Final = (401, 2, "Authentication failed.")
RATE_LIMITED: Final = (429, 8, "Max rate limit exceeded")
SERVER_ERROR: Final = (500, 12, "Something went wrong on our end. Sorry about that.")
UNAVAILABLE: Final = (503, 503, "Service Unavailable")
#: The token's user cannot see that ad account (Pinterest's "not permitted" code).
FORBIDDEN: Final = (403, 29, "You are not permitted to access that resource.")
#: A refresh with an unknown, rotated-out or expired refresh token. Unverified against
#: the live API (the spec only declares the generic Error body): the code is the one
#: Pinterest's OAuth endpoint has used for an invalid grant.
INVALID_GRANT: Final = (400, 283, "The authorization grant is invalid")

#: The prefix of a parameter error's message, per operation (the spec's examples).
PARAM_ERROR_PREFIX: Final[dict[str, str]] = {
    "ad_accounts": "Invalid parameters",
    "campaigns": "Invalid ad account campaign parameters",
    "ad_groups": "Invalid ad account group parameters",
    "ads": "Invalid ad account ads parameters",
}
