"""`pinmon demo`: the real daemon against the built-in simulator, notifications in the terminal.

No Pinterest account and no network: the simulator, the daemon and a small HTTP sink that
stands in for Slack all listen on 127.0.0.1. Notifications travel the production path —
differ, outbox, apprise (``json://`` to the sink) — and are printed as the sink receives them.
"""

from __future__ import annotations

import errno
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import anyio
from aiohttp import web

from monitor.config import load_config
from monitor.daemon import run_forever
from monitor.poll import CycleReport
from monitor.simulator import Simulator, builtin_scenario

_RULE = "─" * 72


class _Terminal:
    """The sink apprise posts to: prints each notification as it arrives."""

    def __init__(self, out: TextIO, *, done: anyio.Event) -> None:
        self.out = out
        self.done = done
        self.received = 0
        self.reader_gone = False
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received += 1
        try:
            print(_RULE, file=self.out)
            print(f"{body.get('title', '')}", file=self.out)
            print(file=self.out)
            print(body.get("message", ""), file=self.out)
            self.out.flush()
        except BrokenPipeError:
            # The reader left (`pinmon demo | head`): end the story; answering 500 would
            # only make apprise retry into a closed pipe.
            self.reader_gone = True
            self.done.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _write_config(folder: Path, *, base_url: str, sink_port: int, interval_s: float) -> Path:
    path = folder / "demo.toml"
    path.write_text(
        "\n".join(
            [
                "[pinterest]",
                f'base_url = "{base_url}"',
                'access_token = "demo-token"',
                "",
                "[monitor]",
                f"interval = {interval_s}",
                'state = "pinmon-demo.db"',
                "",
                "[[routes]]",
                'name = "demo-terminal"',
                'events = ["*"]',
                # Short, so each cycle's changes show within the cycle (they go out as
                # one message at once; this only paces messages that follow).
                f"group_interval = {min(1.0, interval_s / 2):g}",
                f'apprise = ["json://127.0.0.1:{sink_port}/slack-stand-in"]',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


async def run_demo(
    *, interval_s: float = 1.0, out: TextIO | None = None, timeout_s: float = 55.0
) -> int:
    """Play the demo story end to end; 0 when every step was detected and delivered."""
    out = out or sys.stdout
    stop = anyio.Event()
    terminal = _Terminal(out, done=stop)
    await terminal.start()
    try:
        async with Simulator(scenario=builtin_scenario("demo")) as sim:
            steps = len(sim.timeline.pending)
            print(
                f"pinmon demo: a simulated Pinterest API at {sim.base_url}\n"
                f"  two ad accounts, a story of {steps} changes over the next cycles;\n"
                f"  the daemon polls every {interval_s:g}s and each notification below arrives\n"
                "  through the real pipeline (differ → outbox → apprise).",
                file=out,
            )
            with tempfile.TemporaryDirectory(prefix="pinmon-demo-") as folder:
                config = load_config(
                    _write_config(
                        Path(folder), base_url=sim.base_url, sink_port=terminal.port,
                        interval_s=interval_s,
                    )
                )
                cycles: list[CycleReport] = []

                def on_cycle(report: CycleReport) -> None:
                    cycles.append(report)
                    # The last step fires at the start of a cycle; once a cycle ran with
                    # nothing left pending, every change has been detected.
                    if not sim.timeline.pending:
                        stop.set()

                with anyio.move_on_after(timeout_s) as scope:
                    await run_forever(config, stop=stop, on_cycle=on_cycle, handle_signals=True)
        if terminal.reader_gone:
            raise BrokenPipeError(errno.EPIPE, "stdout was closed")  # the CLI ends quietly
        print(_RULE, file=out)
        if scope.cancelled_caught:
            print("pinmon demo: timed out before the story finished", file=out)
            return 1
        failed = sum(not c.ok for c in cycles)
        print(
            f"pinmon demo: {len(cycles)} cycles, {terminal.received} notifications delivered"
            + (f", {failed} failed cycles" if failed else "")
            + ".\nNext: copy config/monitor.example.toml, set PINTEREST_ACCESS_TOKEN, and run"
            " `pinmon check -c pinmon.toml`.",
            file=out,
        )
        return 0 if terminal.received and not failed else 1
    finally:
        await terminal.stop()
