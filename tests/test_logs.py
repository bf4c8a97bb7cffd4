"""Logging: one format for ours and third-party records, secrets scrubbed from all of it."""

from __future__ import annotations

import io
import json
import logging

import structlog

from monitor import logs


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


def test_registered_secrets_are_scrubbed_everywhere() -> None:
    """A registered token or URL credential never reaches the output, whoever logs it."""
    out = io.StringIO()
    logs.configure(level="debug", fmt="console", stream=out)
    logs.register_secret("pina_SECRET_token_42")
    logs.register_url_secrets("slack://TokA1b2c3/TokB4d5e6/TokC7f8g9h0/#ads")
    structlog.get_logger("monitor.test").debug("api.request", auth="Bearer pina_SECRET_token_42")
    logging.getLogger("urllib3").debug("POST /services/TokA1b2c3/TokB4d5e6/TokC7f8g9h0")
    try:
        raise RuntimeError("refused pina_SECRET_token_42")
    except RuntimeError:
        structlog.get_logger("monitor.test").exception("poll.crashed")
    text = out.getvalue()
    for secret in ("pina_SECRET_token_42", "TokA1b2c3", "TokB4d5e6", "TokC7f8g9h0"):
        assert secret not in text
    assert text.count("***") >= 3
