"""Routing rules as a table: which routes receive which events."""

from __future__ import annotations

import pytest

from monitor.config import Route, Secret
from monitor.events import Event
from monitor.router import match_routes

ACME, BETA = "549755885175", "549700000001"


def event(type_: str, account: str = ACME) -> Event:
    entity = type_.partition(".")[0]
    return Event(
        id="evt_1",
        type=type_,
        entity=entity,
        entity_id="1",
        ad_account_id=account,
        detected_at=0.0,
    )


def route(name: str, events: tuple[str, ...] = ("*",), accounts: tuple[str, ...] = ()) -> Route:
    return Route(name=name, events=events, apprise=(Secret("json://localhost"),), accounts=accounts)


ALL = route("all")
REJECTIONS = route("rejections", events=("ad.rejected",))
ADS = route("ads", events=("ad.*",))
REMOVALS = route("removals", events=("*.removed",))
ACME_ONLY = route("acme", accounts=(ACME,))
BETA_REVIEW = route("beta-review", events=("ad.rejected", "ad.approved"), accounts=(BETA,))
CASED = route("cased", events=("AD.*",))

CASES = [
    # (case id, event type, account, routes, expected route names)
    ("star matches everything", "campaign.updated", ACME, [ALL], ["all"]),
    ("exact type", "ad.rejected", ACME, [REJECTIONS], ["rejections"]),
    ("exact type, other type", "ad.approved", ACME, [REJECTIONS], []),
    ("prefix glob", "ad.pin_deleted", ACME, [ADS], ["ads"]),
    ("prefix glob is not a substring match", "ad_group.created", ACME, [ADS], []),
    ("suffix glob across kinds", "ad_group.removed", ACME, [REMOVALS], ["removals"]),
    ("account listed", "ad.rejected", ACME, [ACME_ONLY], ["acme"]),
    ("account not listed", "ad.rejected", BETA, [ACME_ONLY], []),
    ("both criteria must hold", "ad.rejected", ACME, [BETA_REVIEW], []),
    ("second of several globs", "ad.approved", BETA, [BETA_REVIEW], ["beta-review"]),
    ("globs are case-sensitive", "ad.rejected", ACME, [CASED], []),
    (
        "every matching route, in config order",
        "ad.rejected",
        ACME,
        [REMOVALS, ADS, ALL, REJECTIONS, ACME_ONLY],
        ["ads", "all", "rejections", "acme"],
    ),
    ("no routes", "ad.rejected", ACME, [], []),
]


@pytest.mark.parametrize(
    ("type_", "account", "routes", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_match_routes(type_: str, account: str, routes: list[Route], expected: list[str]) -> None:
    """A route receives an event when a glob matches its type and its account is allowed."""
    assert [r.name for r in match_routes(event(type_, account), routes)] == expected


def test_route_without_events_key_takes_everything() -> None:
    """A route's default ``events`` (``*``) matches every event type."""
    default = Route(name="default", apprise=(Secret("json://localhost"),))
    assert match_routes(event("campaign.status_changed"), [default]) == [default]
