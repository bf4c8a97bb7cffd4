"""End-to-end harness: the simulator, an HTTP sink for apprise, and a config joining them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config
from monitor.simulator import Simulator
from tests.sink import HttpSink

ACCOUNT = "549755885175"
GROUP = "2680059592705"
CAMPAIGN = "626735565838"
ADS = [str(687195134316 + i) for i in range(5)]
TOKEN = "pina_e2e_secret_token_0123456789"


def small_scenario() -> dict[str, Any]:
    """One account, one campaign, one ad group, five approved ads."""
    return {
        "name": "e2e",
        "auth": {"access_tokens": [TOKEN]},
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "Acme Home & Living",
                "campaigns": [
                    {
                        "id": CAMPAIGN,
                        "name": "Holiday Sale 2024",
                        "ad_groups": [
                            {
                                "id": GROUP,
                                "name": "Gift Shoppers",
                                "ads": [
                                    {"id": ad_id, "name": f"Holiday Ad {i}"}
                                    for i, ad_id in enumerate(ADS)
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }


@dataclass
class Rig:
    """A running simulator and sink, and a config file pointing pinmon at both."""

    sim: Simulator
    sink: HttpSink
    path: Path
    folder: Path

    @property
    def config(self) -> Config:
        return load_config(self.path)

    def messages(self) -> list[dict[str, Any]]:
        """The apprise json:// notifications the sink received, in order."""
        return [r.json for r in self.sink.requests if r.path == "/alerts"]

    stream: bool = False
    #: The ``[analytics]`` table written: off unless a test is about spend figures (the
    #: other tests count the requests a cycle makes).
    analytics: str = "enabled = false"

    def write(self, *, extra_monitor: str = "", page_size: int = 2, interval: str = "1h") -> None:
        self.path.write_text(
            f"""
[pinterest]
base_url = "{self.sim.base_url}"
access_token = "{TOKEN}"
ad_accounts = ["{ACCOUNT}"]
page_size = {page_size}
retries = 2

[monitor]
interval = "{interval}"
state = "state.db"
shutdown_grace = "5s"
stream_above = {0 if self.stream else 2000}
{extra_monitor}

[analytics]
{self.analytics}

[[routes]]
name = "everything"
events = ["*"]
apprise = ["{self.sink.url("/alerts", scheme="json")}"]
"""
        )


@asynccontextmanager
async def rig(
    tmp_path: Path, scenario: dict[str, Any] | None = None, *, stream: bool = False
) -> AsyncIterator[Rig]:
    """Start the simulator and the sink; write a config (page_size 2: three pages).

    ``stream``: diff page by page in id order (``stream_above = 0``) rather than against
    the whole snapshot, the way accounts above 2,000 entities are.
    """
    async with (
        Simulator(scenario=scenario or small_scenario()) as sim,
        HttpSink() as sink,
    ):
        r = Rig(sim, sink, tmp_path / "pinmon.toml", tmp_path, stream)
        r.write()
        yield r
