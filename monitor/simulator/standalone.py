"""The simulator as its own process: ``pinmon simulate`` and ``python -m monitor.simulator``."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from monitor.errors import ConfigError
from monitor.simulator.scenario import Scenario, builtin_scenario, builtin_scenarios, load_scenario
from monitor.simulator.server import Simulator


def ready_line(base_url: str) -> str:
    """The one line printed once serving: ``pinmon simulator listening: base_url = "..."``."""
    return f'pinmon simulator listening: base_url = "{base_url}"'


def _print_ready(base_url: str) -> None:
    print(ready_line(base_url), flush=True)


def resolve_scenario(scenario: Path | str | None) -> Scenario:
    """The scenario a command line names: a file, a built-in name, or the demo if None.

    Raises:
        ConfigError: If there is no such file or built-in, or the file is invalid.
    """
    if scenario is None:
        return load_scenario(builtin_scenario("demo"))
    scenario = Path(scenario)
    if scenario.is_file():
        return load_scenario(scenario)
    if str(scenario) in builtin_scenarios():
        return load_scenario(builtin_scenario(str(scenario)))
    raise ConfigError(
        [f"{scenario}: no such scenario file (built-in names: {', '.join(builtin_scenarios())})"]
    )


async def serve_forever(
    *,
    port: int,
    scenario: Path | str | None,
    host: str = "127.0.0.1",
    on_ready: Callable[[str], None] = _print_ready,
) -> None:
    """Serve a simulator until cancelled.

    Args:
        port: Port to bind; 0 picks a free one (the ready line says which).
        scenario: A scenario file or built-in name; the demo when None.
        host: Interface to bind.
        on_ready: Called with the base URL once listening; prints the ready line by default.

    Raises:
        ConfigError: If the scenario is invalid.
        OSError: If the port cannot be bound.
    """
    sim = Simulator(scenario=resolve_scenario(scenario), host=host, port=port)
    async with sim:
        on_ready(sim.base_url)
        await asyncio.Event().wait()


def run_standalone(port: int, scenario: Path | str | None) -> int:
    """Serve on 127.0.0.1 until SIGINT or SIGTERM; print the ready line first.

    Logs (structlog) are left as the caller configured them: point them at stderr, since
    stdout carries the ready line that scripts parse.

    Returns:
        The exit status: 0 after a signal.

    Raises:
        ConfigError: If the scenario is invalid (the CLI prints its lines).
    """
    resolve_scenario(scenario)  # fail before binding, with ConfigError lines

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await serve_forever(port=port, scenario=scenario)
        except asyncio.CancelledError:
            return

    asyncio.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m monitor.simulator [--port N] [--scenario FILE]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m monitor.simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port to bind (0: any free port)")
    parser.add_argument(
        "--scenario", type=Path, help="scenario file or built-in name (default: demo)"
    )
    args = parser.parse_args(argv)
    # stdout carries exactly the ready line (scripts parse it); logs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        return run_standalone(args.port, args.scenario)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot listen on port {args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
