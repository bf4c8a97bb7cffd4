"""One writer per SQLite state file, and a state file changed under the daemon is noticed:
restored when its data survives, reported (never a silent baseline) when it does not."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from monitor.daemon import run_forever, run_once
from monitor.poll import CycleReport
from monitor.store.sqlite import open_store
from tests.harness import ADS, TOKEN, Rig, rig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def _env() -> dict[str, str]:
    return {**os.environ, "PINMON_TEST_TOKEN": TOKEN}


def _no_group_wait(r: Rig) -> None:
    """Deliver each cycle's events at once (the default 30 s group_wait would hold them)."""
    r.path.write_text(
        r.path.read_text().replace('events = ["*"]', 'events = ["*"]\ngroup_wait = "0s"')
    )


class Driver:
    """Runs the real daemon loop in-process, one cycle per :meth:`cycle` call (no sleeping)."""

    def __init__(self) -> None:
        self.reports: list[CycleReport] = []
        self._go_send, self._go = anyio.create_memory_object_stream[None](10)
        self._done_send, self._done = anyio.create_memory_object_stream[CycleReport](10)

    async def sleep_until(self, _deadline: float) -> None:
        await self._go.receive()

    def on_cycle(self, report: CycleReport) -> None:
        self.reports.append(report)
        self._done_send.send_nowait(report)

    async def cycle(self) -> CycleReport:
        """Let the daemon start its next cycle and wait until it completed."""
        await self._go_send.send(None)
        return await self._done.receive()

    async def first(self) -> CycleReport:
        return await self._done.receive()


@asynccontextmanager
async def daemon(r: Rig) -> AsyncIterator[Driver]:
    driver = Driver()
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: run_forever(
                r.config,
                stop=stop,
                sleep_until=driver.sleep_until,
                on_cycle=driver.on_cycle,
                handle_signals=False,
            )
        )
        await driver.first()
        try:
            yield driver
        finally:
            stop.set()


def kept(folder: Path, why: str) -> list[Path]:
    """The state files moved aside as ``state.db.<why>-<time>``."""
    return list(folder.glob(f"state.db.{why}-*"))


def truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(0)


def locked(folder: Path) -> bool:
    """Whether a daemon has written its pid into the state's lock file."""
    lock = folder / "state.db.lock"
    return lock.exists() and lock.read_text().startswith("pid")


async def titles(r: Rig, n: int) -> list[str]:
    await r.sink.wait_for(n, timeout_s=30)
    return [m["title"] for m in r.messages()]


CHANGES: dict[str, Callable[[Path], None]] = {
    "deleted": lambda p: p.unlink(),
    "replaced": lambda p: (
        sqlite3.connect(p.with_name("other.db")).close(),
        os.replace(p.with_name("other.db"), p),
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_state_file_deleted_or_replaced_is_written_back(
    tmp_path: Path, change: str
) -> None:
    """`rm` (or a file swapped in) under the running daemon: the state it holds is written
    back, monitor.state_lost says so, and the next change is reported as a change."""
    async with rig(tmp_path) as r:
        _no_group_wait(r)
        state = tmp_path / "state.db"
        async with daemon(r) as d:
            CHANGES[change](state)
            r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
            report = await d.cycle()
            assert report.events == 1
            got = await titles(r, 2)
        assert any("state file was changed" in t for t in got), got
        assert any("Ad rejected: Holiday Ad 0" in t for t in got), got
        (lost,) = [m for m in r.messages() if "state file" in m["title"]]
        assert f"**Reason:** {change}" in lost["message"]
        assert "**Restored:** True" in lost["message"]
        assert len(kept(tmp_path, "replaced")) == (0 if change == "deleted" else 1)
        store = await open_store(state)
        try:
            types = sorted(e.type for e in await store.events())
        finally:
            await store.close()
        assert types == ["ad.rejected", "monitor.state_lost"]


async def test_a_truncated_state_file_is_reported_and_the_baseline_speaks(tmp_path: Path) -> None:
    """Truncated under the daemon, the data is gone: the loss is reported, the broken file
    kept, and the new baseline reports the ads rejected now instead of staying silent."""
    async with rig(tmp_path) as r:
        _no_group_wait(r)
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        state = tmp_path / "state.db"
        async with daemon(r) as d:
            truncate(state)
            await d.cycle()
            got = await titles(r, 2)
        assert any("state file was changed" in t for t in got), got
        assert any("rejected" in t and "Holiday Ad 1" in t for t in got), got
        assert len(kept(tmp_path, "broken")) == 1
        (lost,) = [m for m in r.messages() if "state file" in m["title"]]
        assert "**Restored:** False" in lost["message"]


def _config_text(r: Rig) -> Path:
    """The rig's config with the token from the environment, for a subprocess."""
    text = r.path.read_text().replace(TOKEN, "${PINMON_TEST_TOKEN}").replace('"1h"', '"0.5s"')
    r.path.write_text(text)
    return r.path


async def test_a_second_daemon_on_one_state_file_exits_naming_the_holder(tmp_path: Path) -> None:
    """The second `pinmon run` exits 1 with one line naming the file and the holder's pid;
    read-only commands keep working; after a kill -9 of the first, a new one starts."""
    async with rig(tmp_path) as r:
        config = _config_text(r)
        run = [sys.executable, "-m", "monitor", "run", "-c", str(config), "--log-level", "error"]
        first = await anyio.open_process(run, env=_env())
        try:
            # Polling: the lock is taken in another process, whose first request lands here.
            with anyio.fail_after(30):
                while not (locked(tmp_path) and r.sim.requests):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            for argv in (run, [*run, "--once"]):
                second = await anyio.run_process(argv, env=_env(), check=False)
                lines = second.stderr.decode().strip().splitlines()
                assert second.returncode == 1
                assert len(lines) == 1, lines
                assert str(tmp_path / "state.db") in lines[0]
                assert f"pid {first.pid}" in lines[0]
            for command in ("status", "events", "deliveries", "mutes"):
                ro = await anyio.run_process(
                    [sys.executable, "-m", "monitor", command, "-c", str(config)],
                    env=_env(),
                    check=False,
                )
                assert ro.returncode == 0, (command, ro.stderr)
            first.send_signal(signal.SIGKILL)
            await first.wait()
            once = await anyio.run_process([*run, "--once"], env=_env(), check=False)
            assert once.returncode == 0, once.stderr
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()


async def test_run_once_releases_the_lock(tmp_path: Path) -> None:
    """In-process runs one after another each take and release the lock."""
    async with rig(tmp_path) as r:
        assert await run_once(r.config) == 0
        assert await run_once(r.config) == 0


def test_a_lock_held_elsewhere_is_refused_by_the_cli(tmp_path: Path) -> None:
    """Whoever holds the lock (here this test, via flock), `run --once` refuses in one line."""
    import fcntl

    config = tmp_path / "pinmon.toml"
    config.write_text(
        '[pinterest]\naccess_token = "x"\nbase_url = "http://127.0.0.1:9/v5"\n'
        '[monitor]\nstate = "s.db"\n[[routes]]\napprise = ["json://127.0.0.1:9/"]\n'
    )
    with open(tmp_path / "s.db.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242 on elsewhere\n")
        held.flush()
        out = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--once", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"pinmon: {tmp_path / 's.db'} is in use by another pinmon (pid 4242 on elsewhere);"
        " stop it first, or give this one its own state file"
    ]
