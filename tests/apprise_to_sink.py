"""Run the pinmon CLI with apprise's Slack and Discord endpoints pointed at a local sink.

    python tests/apprise_to_sink.py http://127.0.0.1:PORT run --once -c pinmon.toml

apprise's Slack webhook mode and Discord have no host option, and a test cannot
monkeypatch a subprocess: this sets the two endpoints, then runs the real CLI. Slack then
POSTs to ``/services/<tokens>`` and Discord to ``/discord/<id>/<token>`` on the sink.
"""

from __future__ import annotations

import sys

from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.slack import NotifySlack

from monitor.cli import main


def point_at(sink_url: str) -> None:
    """Send apprise's Slack and Discord requests to ``sink_url``."""
    NotifySlack.webhook_url = f"{sink_url.rstrip('/')}/services"
    NotifyDiscord.notify_url = f"{sink_url.rstrip('/')}/discord"


if __name__ == "__main__":
    point_at(sys.argv[1])
    sys.exit(main(sys.argv[2:]))
