"""What to do about a rejection: per ``rejected_reasons`` value, its meaning and the usual fix.

Pure data, reviewed in one place like :mod:`monitor.render.words`. Pinterest publishes no
per-value text for the enum: the wording here is ours, derived from the enum names and
Pinterest's advertising guidelines. ``policy`` is a page of Pinterest's own only where the
public material names one for that topic; otherwise it is ``None`` and the alert links the
general advertising guidelines (:data:`GUIDELINES`) saying no specific page is known. No
section anchors: the guidelines page has none that are documented as stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: Pinterest's advertising guidelines; the API's own description of ``rejected_reasons``
#: links it ("For more, see Pinterest advertising standards").
GUIDELINES: Final = "https://policy.pinterest.com/en/advertising-guidelines"
#: Pinterest's copyright policy, linked from the OpenAPI description itself.
COPYRIGHT: Final = "https://policy.pinterest.com/en/copyright"

#: The next step after any rejection, the last line of an alert before the links.
NEXT_STEP: Final = (
    "Fix the ad in Ads Manager (or appeal if you think the rejection is wrong); "
    "an edited ad goes back to review, and pinmon reports when it is approved."
)


@dataclass(frozen=True, slots=True)
class Fix:
    """Guidance for one rejection reason.

    Attributes:
        meaning: What Pinterest objects to, in plain words.
        fix: The usual way to get the ad approved.
        policy: A Pinterest policy page specific to this reason, or ``None`` when none is
            known (the general :data:`GUIDELINES` apply).
    """

    meaning: str
    fix: str
    policy: str | None = None

    @property
    def policy_link(self) -> str:
        """The page to read: the specific one, else the general advertising guidelines."""
        return self.policy or GUIDELINES


def _f(meaning: str, fix: str, policy: str | None = None) -> Fix:
    return Fix(meaning, fix, policy)


_LANDING_FIX: Final = "Check the destination URL opens quickly, on mobile too, with no errors."

#: One entry per value of ``AdResponse.rejected_reasons`` in the OpenAPI description
#: (tests/test_fixes.py keeps it complete).
FIXES: Final[Mapping[str, Fix]] = {
    "HASHTAGS": _f(
        "The Pin description uses hashtags in a way ads may not (too many, or unrelated).",
        "Remove the hashtags, or keep only a few that describe the product.",
    ),
    "PROMOTIONS_AND_PRICES": _f(
        "A price or promotion in the ad doesn't match the landing page, or its terms are missing.",
        "Show the same price and offer on the landing page, with its conditions and end date.",
    ),
    "TARGETING": _f(
        "The targeting is not allowed for this ad, e.g. it implies sensitive information "
        "about people or uses options this ad category may not use.",
        "Remove sensitive interests, keywords or audiences from the ad group's targeting.",
    ),
    "LANDING_PAGE": _f(
        "The landing page doesn't meet the guidelines (broken, unrelated or low quality).",
        _LANDING_FIX + " Make it match what the ad shows.",
    ),
    "CAPS_AND_SYMBOLS": _f(
        "The text uses excessive capital letters, symbols or punctuation.",
        "Write the title and description in normal sentence case without repeated symbols.",
    ),
    "SHOCKING": _f(
        "The ad contains shocking, violent or disturbing content.",
        "Replace the image and text with content that is not graphic or sensational.",
    ),
    "WEIGHT_LOSS": _f(
        "The ad promotes weight loss in a way Pinterest doesn't allow (e.g. body shaming, "
        "before-and-after, unrealistic claims).",
        "Remove weight-loss claims and imagery; focus on the product itself.",
    ),
    "PROHIBITED_PRODUCT": _f(
        "The product or service may not be advertised on Pinterest at all.",
        "This ad can't run as is: promote a different product, or appeal if this is a mistake.",
    ),
    "AUTHENTICITY": _f(
        "The ad doesn't honestly represent who is advertising or what is offered.",
        "Make the advertiser, the offer and the landing page clear and consistent.",
    ),
    "NUDITY": _f(
        "The ad contains nudity or sexually suggestive content.",
        "Replace the image with one that is not sexually suggestive.",
    ),
    "CONFUSING_DESIGN": _f(
        "The design is confusing or unclear about what is promoted.",
        "Use a clear image and a short text that says what the product is.",
    ),
    "URGENCY": _f(
        "The ad uses false urgency or pressure (e.g. 'only today', countdowns without basis).",
        "Remove pressure wording unless the deadline is real and shown on the landing page.",
    ),
    "RATINGS": _f(
        "Ratings, reviews or awards in the ad can't be verified.",
        "Remove the ratings, or link to where they can be verified on the landing page.",
    ),
    "APP": _f(
        "The app promotion doesn't meet the guidelines (e.g. the app or its store link).",
        "Check the app store link works and that the ad describes the app accurately.",
    ),
    "ALCOHOL": _f(
        "Alcohol ads are restricted (audience, countries, messaging).",
        "Follow the alcohol restrictions: legal-age audiences only and responsible messaging.",
    ),
    "CONTESTS": _f(
        "The contest or sweepstakes doesn't meet the guidelines (e.g. missing rules).",
        "Link to the official rules and don't require Pinterest actions to enter.",
    ),
    "POLITICAL": _f(
        "Pinterest doesn't allow political campaign ads.",
        "This ad can't run as is: remove political content or stop promoting it.",
    ),
    "OTHER": _f(
        "Pinterest rejected the ad for a reason outside the other categories.",
        "Read Pinterest's e-mail or the note in Ads Manager, fix what it names, or appeal.",
    ),
    "IMAGE": _f(
        "The image doesn't meet the guidelines.",
        "Replace the image with a clear, high-quality one that shows the product.",
    ),
    "NAR": _f(
        "Not allowed by the ad policy (Pinterest gives no detail for this code).",
        "Read the rejection details in Ads Manager; appeal if nothing in the ad breaks a rule.",
    ),
    "INCONSISTENT": _f(
        "The ad and its landing page don't match.",
        "Make the landing page show the product or offer the ad promotes.",
    ),
    "CLICKBAIT": _f(
        "The ad withholds information or exaggerates to make people click.",
        "Say plainly what the product is and what the click leads to.",
    ),
    "NO_DESCRIPTION": _f(
        "The ad has no description, or one that says nothing about the product.",
        "Add a short description of what is promoted.",
    ),
    "LOW_QUALITY": _f(
        "The ad's editorial quality is too low (image, text or both).",
        "Use a sharp image and well-written text, as in Pinterest's creative best practices.",
    ),
    "EXAGGERATED_CLAIMS": _f(
        "The ad makes misleading or exaggerated claims.",
        "Remove claims you can't back up, or support them on the landing page.",
    ),
    "PINTEREST_BRAND": _f(
        "The ad misuses the Pinterest brand or suggests Pinterest endorses it.",
        "Remove the Pinterest logo and wordmark; the ad must look like it comes from you.",
    ),
    "ALCOHOL_NO_SALE": _f(
        "Alcohol may be advertised but not sold directly through the ad.",
        "Point the ad to information about the product, not a page that sells alcohol.",
    ),
    "LANDING_PAGE_SPEED": _f(
        "The landing page loads too slowly.",
        "Speed up the page (image sizes, scripts, redirects) and test it on mobile.",
    ),
    "LANDING_PAGE_HARDWALL": _f(
        "The landing page is behind a login, paywall or pop-up people must pass first.",
        "Link to a page anyone can see without signing in or paying.",
    ),
    "LANDING_PAGE_BROKEN": _f(
        "The landing page doesn't load (error, dead link or broken redirect).",
        _LANDING_FIX,
    ),
    "LANDING_PAGE_QUALITY": _f(
        "The landing page is low quality (thin content, mostly ads, or hard to use).",
        "Link to a useful page about the product with little clutter.",
    ),
    "OUT_OF_STOCK": _f(
        "The promoted product is out of stock on the landing page.",
        "Restock it, or promote a product that is available.",
    ),
    "IMAGE_LOW_QUALITY": _f(
        "The image is blurry, pixelated or too small.",
        "Upload a sharper, higher-resolution image (2:3 works best).",
    ),
    "IMAGE_BUSY": _f(
        "The image is too busy: too much text or too many elements.",
        "Simplify the image: one clear subject and little text.",
    ),
    "IMAGE_POORLY_EDITED": _f(
        "The image is poorly edited (visible editing, bad cropping or distortion).",
        "Use an unedited or cleanly edited image.",
    ),
    "IMAGE_BEFORE_AFTER": _f(
        "Before-and-after images are not allowed.",
        "Replace the image with one that shows the product, not a before/after comparison.",
    ),
    "UGC": _f(
        "The ad uses someone else's content (user-generated) without rights to it.",
        "Use content you own or have permission for.",
        COPYRIGHT,
    ),
    "FAKE_BUTTONS": _f(
        "The image contains fake buttons or interface elements.",
        "Remove anything that looks clickable (play buttons, checkboxes, close icons).",
    ),
    "WEAPONS": _f(
        "Weapons, ammunition or explosives may not be advertised.",
        "This ad can't run as is: stop promoting it, or appeal if this is a mistake.",
    ),
    "SENSITIVE": _f(
        "The ad touches a sensitive topic in a way ads may not.",
        "Remove the sensitive content or reframe the ad around the product.",
    ),
    "UNACCEPTABLE_BUSINESS": _f(
        "The business practice behind the ad is not allowed (e.g. deceptive or predatory).",
        "This ad can't run as is; appeal if the business complies with the guidelines.",
    ),
    "SUSPICIOUS_CLAIMS": _f(
        "The ad makes claims that seem unrealistic or deceptive.",
        "Remove the claims, or back them with evidence on the landing page.",
    ),
    "PHARMA": _f(
        "Pharmaceutical ads are restricted (prescription drugs, certifications, countries).",
        "Check the pharmaceutical restrictions and certifications for the countries targeted.",
    ),
    "SUSPICIOUS_SUPPLEMENTS": _f(
        "The supplement looks unsafe or makes health claims that can't be verified.",
        "Remove health claims; unsafe supplements can't be advertised at all.",
    ),
    "ILLEGAL_RECREATIONAL_DRUG": _f(
        "Illegal or recreational drugs and related products may not be advertised.",
        "This ad can't run as is: stop promoting it, or appeal if this is a mistake.",
    ),
    "LOW_QUALITY_LANDING_PAGE": _f(
        "The landing page is low quality (thin content, mostly ads, or hard to use).",
        "Link to a useful page about the product with little clutter.",
    ),
    "RESTRICTED_HEALTHCARE": _f(
        "Healthcare products and services are restricted (claims, targeting, countries).",
        "Remove health claims and check the healthcare restrictions for your targeting.",
    ),
    "INCONSISTENT_LANG_FR": _f(
        "The ad's language doesn't match the landing page or the audience (French).",
        "Use the same language in the ad, the landing page and the targeted locale.",
    ),
}

#: For a value Pinterest adds after this table was written.
UNKNOWN: Final = Fix(
    "A reason pinmon has no guidance for yet.",
    "Read the rejection details in Ads Manager and Pinterest's advertising guidelines.",
)


def guidance(code: str) -> Fix:
    """The guidance for one ``rejected_reasons`` value (:data:`UNKNOWN` if unlisted)."""
    return FIXES.get(code, UNKNOWN)
