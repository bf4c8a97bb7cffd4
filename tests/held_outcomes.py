"""Poll once, then deliver with every send outcome held until the pass ends: the window in
which a crash loses outcomes, made wide enough for a test to kill the process inside it.

    python tests/held_outcomes.py pinmon.toml

The daemon's own ledger writes within half a second; a test cannot aim a SIGKILL at that,
and cannot patch a subprocess: this runs the real poller and deliverer on the config's
state, with a ledger that only writes when the pass is over.
"""

from __future__ import annotations

import sys

import anyio

from monitor.config import load_config
from monitor.daemon import open_runtime
from monitor.delivery import Deliverer
from monitor.ledger import Ledger


async def main(path: str) -> None:
    config = load_config(path)
    async with open_runtime(config) as rt:
        await rt.poller.run_cycle()
        ledger = Ledger(rt.store, flush_rows=10**9, flush_after_s=float("inf"))
        await Deliverer(rt.store, rt.notifiers, routes=config.routes, ledger=ledger).drain()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
