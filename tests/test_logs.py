"""Logging: one format for ours and third-party records, secrets scrubbed from all of it."""

from __future__ import annotations

import io
import json
import logging

import structlog

from monitor import logs
from monitor.redact import DEFAULT


def test_stdlib_and_structlog_records_share_the_json_format() -> None:
    """apprise's and aiohttp's stdlib records come out as the same JSON lines as ours."""
    out = io.StringIO()
    logs.configure(level="info", fmt="json", stream=out)
    structlog.get_logger("monitor.test").info("poll.completed", account_id="1", events=2)
    logging.getLogger("apprise").warning("Slack delivery failed")
    logging.getLogger("aiohttp.client").warning("connection reset")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["event"], r["level"], r["logger"]) for r in lines] == [
        ("poll.completed", "info", "monitor.test"),
        ("Slack delivery failed", "warning", "apprise"),
        ("connection reset", "warning", "aiohttp.client"),
    ]
    assert lines[0]["events"] == 2
    assert all("timestamp" in r for r in lines)


def test_registered_secrets_are_scrubbed_everywhere_and_nothing_else() -> None:
    """A registered token or URL credential never reaches the output, whoever logs it; the
    URL's label, channel and every other word come out untouched."""
    out = io.StringIO()
    logs.configure(level="debug", fmt="console", stream=out)
    url = "slack://TokA1b2c3/TokB4d5e6/TokC7f8g9h0/#ads-alerts"
    label = "slack://T...3/T...6/T...0/#ads-alerts"
    DEFAULT.add("pina_SECRET_token_42")
    DEFAULT.add_url(url, label)
    log = structlog.get_logger("monitor.test")
    log.debug("api.request", auth="Bearer pina_SECRET_token_42", target=label)
    logging.getLogger("urllib3").debug("POST /services/TokA1b2c3/TokB4d5e6/TokC7f8g9h0")
    try:
        raise RuntimeError("refused pina_SECRET_token_42")
    except RuntimeError:
        log.exception("poll.crashed", target=label)
    text = out.getvalue()
    for secret in ("pina_SECRET_token_42", "TokA1b2c3", "TokB4d5e6", "TokC7f8g9h0"):
        assert secret not in text
    assert "Bearer ****" in text
    assert "POST /services/****/****/****" in text
    assert "refused ****" in text
    assert text.count(label) == 2  # the label is never masked again
    assert "***" not in text.replace("****", "")  # one mask, no other


def test_json_lines_carry_labels_exactly() -> None:
    """In JSON lines, a target label is the exact string the notifier built, secrets aside."""
    out = io.StringIO()
    logs.configure(level="info", fmt="json", stream=out)
    url = "https://hooks.example.com/in/Zq81PLmXXk2v9Hn?token=rt-Y7w3TtUo0aQpLm5e"
    label = "https://hooks.example.com/in/****?token=****"
    DEFAULT.add_url(url, label)
    structlog.get_logger("monitor.test").info("delivery.failed", target=label, error=f"POST {url}")
    (line,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert line["target"] == label
    assert line["error"] == "POST ****"
