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


def rich_event(**kw: object) -> Event:
    """An ad rejection in campaign 111 whose summary_status became REJECTED."""
    from monitor.events import FieldChange

    base: dict[str, object] = {
        "id": "evt_2",
        "type": "ad.rejected",
        "entity": "ad",
        "entity_id": "9",
        "ad_account_id": ACME,
        "campaign_id": "111",
        "detected_at": 0.0,
        "changes": {
            "summary_status": FieldChange("APPROVED", "REJECTED"),
            "rejected_reasons": FieldChange([], ["HASHTAGS"]),
        },
        "state": {"summary_status": "REJECTED", "status": "ACTIVE", "is_pin_deleted": False},
    }
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


def r(name: str, **kw: object) -> Route:
    return Route(name=name, apprise=(Secret("json://localhost"),), **kw)  # type: ignore[arg-type]


RICH = [
    ("campaign listed", [r("c", campaigns=("111",))], ["c"]),
    ("campaign not listed", [r("c", campaigns=("222",))], []),
    ("changed field named", [r("f", fields=("summary_status",))], ["f"]),
    ("changed field not named", [r("f", fields=("name",))], []),
    ("value became", [r("w", when={"summary_status": ("REJECTED",)})], ["w"]),
    ("value is another", [r("w", when={"summary_status": ("PAUSED",)})], []),
    ("unchanged field matches current value", [r("w", when={"status": ("ACTIVE",)})], ["w"]),
    ("list value matches a member", [r("w", when={"rejected_reasons": ("HASHTAGS",)})], ["w"]),
    ("booleans as true/false", [r("w", when={"is_pin_deleted": ("false",)})], ["w"]),
    (
        "every when entry must hold",
        [r("w", when={"status": ("ACTIVE",), "summary_status": ("PAUSED",)})],
        [],
    ),
    (
        "continue = false stops the search",
        [r("a"), r("b", continue_=False), r("c")],
        ["a", "b"],
    ),
    (
        "a non-matching stop does not stop",
        [r("x", events=("campaign.*",), continue_=False), r("y")],
        ["y"],
    ),
    ("fallback only when nothing matched", [r("a"), r("fb", fallback=True)], ["a"]),
    ("fallback takes the rest", [r("a", events=("campaign.*",)), r("fb", fallback=True)], ["fb"]),
    ("fallback keeps its own criteria", [r("fb", fallback=True, accounts=(BETA,))], []),
]


@pytest.mark.parametrize(("routes", "expected"), [pytest.param(*c[1:], id=c[0]) for c in RICH])
def test_rich_criteria(routes: list[Route], expected: list[str]) -> None:
    """Campaigns, changed fields, values, continue and fallback decide as documented."""
    assert [x.name for x in match_routes(rich_event(), routes)] == expected
