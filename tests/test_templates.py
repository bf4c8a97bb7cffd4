"""Per-route templates: validated when the config loads, applied with documented variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.events import Event, FieldChange
from monitor.render.templates import VARIABLES, apply, check_template

EVENT = Event(
    id="evt_1",
    type="ad.rejected",
    entity="ad",
    entity_id="687195134316",
    ad_account_id="549755885175",
    campaign_id="626735565838",
    campaign_name="Holiday Sale 2024",
    name="Holiday Sale — Carousel",
    detected_at=1_764_326_400.0,
    changes={"review_status": FieldChange("APPROVED", "REJECTED")},
    state={"review_status": "REJECTED", "rejection_labels": ["Landing page is broken"]},
)


def test_every_documented_variable_is_filled() -> None:
    """A template naming every variable renders without leaving any $name behind."""
    text = " ".join(f"${name}" for name in VARIABLES)
    assert check_template(text) is None
    title, _ = apply(
        text,
        None,
        [EVENT],
        account_names={"549755885175": "Acme"},
        default_title="d",
        default_body="d",
    )
    assert "$" not in title
    assert "Acme" in title
    assert "Holiday Sale 2024" in title
    assert "Landing page is broken" in title
    assert "2025-11-28T10:40:00+00:00" in title


@pytest.mark.parametrize(
    ("text", "problem"),
    [("$nope", "unknown variable $nope"), ("50$ off", "invalid template"), ("${name", "invalid")],
)
def test_bad_templates_are_rejected(text: str, problem: str) -> None:
    """Unknown variables and stray dollars are caught when the config loads."""
    reason = check_template(text)
    assert reason is not None
    assert problem in reason


def test_digest_applies_body_per_event_and_count_in_title() -> None:
    """A digest's title sees $count; its body repeats the body template per event."""
    other = Event(**{**{f: getattr(EVENT, f) for f in EVENT.__struct_fields__}, "name": "Two"})
    title, body = apply(
        "$count ads: $what",
        "- $name ($reasons)",
        [EVENT, other],
        account_names={},
        default_title="d",
        default_body="d",
    )
    assert title == "2 ads: 🚫 Ad rejected"
    assert (
        body
        == "- Holiday Sale — Carousel (Landing page is broken)\n\n- Two (Landing page is broken)"
    )


def test_config_reports_a_bad_template_with_its_key(tmp_path: Path) -> None:
    """A route template with an unknown variable is a config error naming the key."""
    path = tmp_path / "pinmon.toml"
    path.write_text(
        '[pinterest]\naccess_token = "tok-123456"\n[[routes]]\nname = "r"\n'
        'apprise = ["json://127.0.0.1:9/"]\ntemplate = { title = "$oops" }\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(
        "routes[0].template: title: unknown variable $oops" in p for p in info.value.problems
    )
