"""The one redactor: URL labels as data tables, and secrets scrubbed exactly, labels never."""

from __future__ import annotations

import io
import logging

import pytest

from monitor.metrics import Metrics
from monitor.redact import (
    GUARDED_LOGGERS,
    MASK,
    Redactor,
    guard_logging,
    mask_url,
    quiet,
    secret_fragments,
)

#: (URL, its label, the secrets in it): every secret is hidden, every other part shown.
LABELS = [
    (
        "https://pinmon:pw-9876abcd@hooks.example.com/hooks/Tk9f3aQ7xYz2?token=qs-secret-1",
        "https://pinmon:****@hooks.example.com/hooks/****?token=****",
        ["pw-9876abcd", "Tk9f3aQ7xYz2", "qs-secret-1"],
    ),
    (
        "https://hooks.example.com/in/9f3a77c1e2",
        "https://hooks.example.com/in/****",
        ["9f3a77c1e2"],
    ),
    (
        "http://127.0.0.1:8080/v2/alerts?sslmode=require&apikey=plainword",
        "http://127.0.0.1:8080/v2/alerts?sslmode=require&apikey=****",
        ["plainword"],
    ),
    (
        "postgresql://pinmon:Pg-Secret-77@db.internal:5432/pinmon?options=-csearch_path%3Dt_1",
        "postgresql://pinmon:****@db.internal:5432/pinmon?options=****",
        ["Pg-Secret-77", "-csearch_path=t_1"],
    ),
    ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test", []),
    (
        "https://a1b2c3d4e5f6@hooks.example.com/in",
        "https://****@hooks.example.com/in",
        ["a1b2c3d4e5f6"],
    ),
    (
        "json://127.0.0.1:9/hook?+X-Api-Key=k3y-v4lue-1&-channel=ops",
        "json://127.0.0.1:9/hook?+X-Api-Key=****&-channel=ops",
        ["k3y-v4lue-1"],
    ),
    ("myq://T0kenAsHost42:S3cretPort/topic", "myq://****:****/topic", ["T0kenAsHost42"]),
    ("not a url at all", MASK, []),
]


@pytest.mark.parametrize(("url", "label", "secrets"), LABELS)
def test_mask_url_hides_credentials_and_shows_the_rest(
    url: str, label: str, secrets: list[str]
) -> None:
    """Passwords, token-like segments and credential values are masked; names, hosts are not."""
    assert mask_url(url) == label
    assert not [s for s in secrets if s in label]


def test_trusted_privacy_urls_keep_apprise_masks_and_drop_the_query() -> None:
    """apprise's privacy form is shown as apprise masked it, decoded, without its options."""
    privacy = "slack://T...2/A...D/T...Q/%23ads-alerts/?image=yes&footer=yes&mode=hook"
    assert mask_url(privacy, trusted=True) == "slack://T...2/A...D/T...Q/#ads-alerts"
    assert mask_url("mailtos://user:****@gmail.com/a%40b.com?smtp=x", trusted=True) == (
        "mailtos://user:****@gmail.com/a@b.com"
    )


@pytest.mark.parametrize(("url", "label", "secrets"), LABELS)
def test_registering_a_url_masks_its_secrets_and_never_its_label(
    url: str, label: str, secrets: list[str]
) -> None:
    """Scrubbing a URL's fragments leaves its label intact and no secret in a line quoting it."""
    redactor = Redactor()
    redactor.add_url(url, label)
    assert redactor.redact(label) == label
    line = redactor.redact(f"POST {url} failed; retry {url.partition('://')[2]}")
    assert not [s for s in secrets if s in line]
    assert set(secrets) <= redactor.secrets


def test_public_parts_are_not_secrets() -> None:
    """A part another public view shows (apprise's privacy URL, mask_url) is not scrubbed."""
    url = "https://discord.com/api/webhooks/417421629812345678/JHMHI8qBe7bk2ZwO5U711o3dV_js"
    label = "discord://4...8/J...s"
    found = secret_fragments(url, label, public=[mask_url(url)])
    assert {"417421629812345678", "JHMHI8qBe7bk2ZwO5U711o3dV_js"} <= found
    assert not {"discord.com", "webhooks"} & found
    assert "webhooks" in secret_fragments(url, label)  # without the public view, it would be


def test_many_targets_keep_distinct_labels_through_metrics() -> None:
    """The bug this module fixes: four targets sharing words and hosts stay four series."""
    targets = {
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ads-alerts": (
            "slack://T...2/A...D/T...Q/#ads-alerts"
        ),
        "https://hooks.example.com/in/9f3a77c1e2": "https://hooks.example.com/in/****",
        "json://alice:pw-Hk4Rr9sQeW2c@hooks.example.com/alerts": (
            "json://alice:****@hooks.example.com/alerts"
        ),
        "https://hooks.example.com/ads-alerts?token=Zq81PLmXXk2v": (
            "https://hooks.example.com/ads-alerts?token=****"
        ),
    }
    redactor = Redactor()
    for url, label in targets.items():
        redactor.add_url(url, label)
    metrics = Metrics(process=False, redactor=redactor)
    for label in targets.values():
        metrics.delivery(label, "sent")
    text = metrics.render().decode()
    for label in targets.values():
        assert f'target="{label}"' in text
    assert text.count("pinmon_deliveries_total{") == len(targets)


def test_short_values_and_words_are_not_registered() -> None:
    """Values shorter than six characters would blank ordinary words, so they are skipped."""
    redactor = Redactor()
    redactor.add("pass", None, "")
    redactor.add_url("postgresql://user:pass@host/db", "postgresql://user:****@host/db")
    assert redactor.redact("password authentication failed for user") == (
        "password authentication failed for user"
    )


def test_logging_filter_scrubs_guarded_loggers_and_quiet_drops_them() -> None:
    """apprise's records are scrubbed on its logger (before any handler); quiet() drops them."""
    redactor = Redactor()
    redactor.add("xoxb-secret-token-1")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    level = logger.level
    try:
        guard_logging(redactor)
        logger.warning("Slack refused xoxb-secret-token-1 (%s)", "HTTP 403")
        with quiet():
            logger.warning("probe xoxb-secret-token-1")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for name in GUARDED_LOGGERS:
            logging.getLogger(name).removeFilter(redactor)
    assert stream.getvalue() == "Slack refused **** (HTTP 403)\n"
