"""The entity counts /metrics shows, whatever way the snapshot was written."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.daemon import open_runtime
from monitor.models import Kind
from tests.harness import ACCOUNT, rig
from tests.test_fastlane import big_scenario, write_config

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_entity_counts_after_a_baseline_written_in_chunks(tmp_path: Path) -> None:
    """A first cycle over 25,000 ads writes its rows ahead of the commit, 10,000 at a time:
    the counts /metrics shows still cover every ad, then and after the next cycle."""
    async with rig(tmp_path, big_scenario(25_000)) as r:
        write_config(r)
        async with open_runtime(r.config) as rt:
            poller = type(rt.poller)(
                rt.config, client=rt.client, store=rt.store, notifiers={}, count_entities=True
            )
            await poller.run_cycle()
            assert sum(poller.entity_totals()[Kind.AD].values()) == 25_000
            r.sim.world.reject_ad(str(r.sim.world.ids_of(ACCOUNT, "ads")[0]), reasons=["HASHTAGS"])
            await poller.run_cycle()
            totals = poller.entity_totals()[Kind.AD]
            assert sum(totals.values()) == 25_000
            assert totals.get("REJECTED", 0) >= 1
