"""`pinmon web`: the board alone, from the state, for a machine that only looks."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
import structlog

from monitor.config import Config
from monitor.redact import register_config_secrets
from monitor.store.factory import open_state
from monitor.web.app import serve_board
from monitor.web.guard import is_loopback

log = structlog.get_logger("monitor.web")

EXIT_USAGE = 2


async def run_web(config: Config, *, host: str, port: int) -> int:
    """Serve the board on ``host:port`` until SIGINT or SIGTERM; 2 when the address needs a
    token the config does not have, 1 when there is no state yet."""
    register_config_secrets(config)  # before anything can log or show an error
    token = config.web.token.reveal() if config.web.token is not None else None
    if token is None and not is_loopback(host):
        print(
            f"pinmon: --listen: {host} is not loopback: set [web] token in {config.path}"
            " (the board serves loopback only without one)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    state = config.monitor.state
    if isinstance(state, Path) and not state.exists():
        print(f"pinmon: no state at {state}: the daemon has not completed a cycle", file=sys.stderr)
        return 1
    store = await open_state(state)
    try:
        async with serve_board(
            store,
            host=host,
            port=port,
            token=token,
            routes=config.routes,
            retention_s=config.monitor.retention_s,
        ) as server:
            log.info("web.listening", url=server.url)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("web.stopping", signal=signal.Signals(signum).name)
                    break
    finally:
        await store.close()
    return 0
