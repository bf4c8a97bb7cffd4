"""The read-only commands' synchronous path (``store/direct.py``) against the async store.

`pinmon status`, `events`, `deliveries` and `mutes` read on a connection of their own,
without anyio or structlog. Each case runs the real CLI as a process on a state the real
daemon filled from the simulator (SQLite file or PostgreSQL schema) and compares what it
prints with what the daemon's :class:`~monitor.store.core.Store` reads, formatted by the
same printers; then the ways opening a state can go: an older schema, a newer one, no
state yet, and a daemon holding the write lock.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monitor.commands import print_deliveries, print_events, print_mutes
from monitor.daemon import run_once
from monitor.mutes import Mute
from monitor.status import format_status, show_status, status_report
from monitor.store import StateStore
from monitor.store._schema import BUSY_TIMEOUT_S, MIGRATIONS, SCHEMA_VERSION
from monitor.store.factory import open_state
from tests.harness import ADS, Rig, rig
from tests.test_store_postgres import pg_url  # noqa: F401  (fixture)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

#: Runs the CLI in a process and reports, after its output, what it imported.
_RUN = """
import json, sys
from monitor.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
watched = ("anyio", "structlog", "aiohttp", "apprise", "prometheus_client", "psycopg")
print(json.dumps({"code": code, "loaded": [m for m in watched if m in sys.modules]}))
"""


def pinmon(config: Path, *args: str) -> tuple[str, int, list[str], str]:
    """``pinmon ARGS -c CONFIG`` as a process: (stdout, exit code, modules loaded, stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    *out, last = done.stdout.splitlines(keepends=True)
    report = json.loads(last)
    return "".join(out), report["code"], report["loaded"], done.stderr


def printed(write: Callable[[], None]) -> str:
    """What ``write`` prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        write()
    return buffer.getvalue()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which state backend the case runs on; PostgreSQL needs PINMON_TEST_POSTGRES."""
    return str(request.param)


@pytest.fixture
async def filled(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[Rig]:
    """A state after a baseline and a cycle with a rejection, a pause and an ad sent back to
    review, every event delivered to the sink, and a mute set."""
    state = request.getfixturevalue("pg_url") if backend == "postgres" else None
    async with rig(tmp_path) as r:
        if state is not None:
            r.path.write_text(r.path.read_text().replace('"state.db"', f'"{state}"'))
        await run_once(r.config)
        r.sim.world.reject_ad(ADS[1], reasons=["LANDING_PAGE_BROKEN"])
        r.sim.world.pause(ADS[2])
        r.sim.world.set_pending(ADS[3])
        await run_once(r.config)
        store = await open_state(r.config.monitor.state)
        try:
            now = time.time()
            await store.set_mute(
                Mute("campaign", "1", until=now + 3600, created_at=now, reason="launch")
            )
        finally:
            await store.close()
        yield r


async def _through_store(r: Rig, read: Callable[[StateStore], Any]) -> Any:
    store = await open_state(r.config.monitor.state)
    try:
        return await read(store)
    finally:
        await store.close()


async def test_events_deliveries_and_mutes_print_what_the_store_reads(
    filled: Rig, backend: str
) -> None:
    """Each listing, text and JSON, is byte for byte what the async store's rows print as,
    and the process loaded neither anyio nor structlog (psycopg only for PostgreSQL)."""
    r = filled
    cases: list[tuple[list[str], Callable[[StateStore], Any]]] = [
        (["events"], lambda s: s.events()),
        (["events", "--json"], lambda s: s.events()),
        (["events", "--type", "ad.rej*"], lambda s: s.events(types=["ad.rej*"])),
        (
            ["deliveries", "--all"],
            lambda s: s.deliveries(statuses=["pending", "failed", "dead", "delivered"]),
        ),
        (
            ["deliveries", "--all", "--json"],
            lambda s: s.deliveries(statuses=["pending", "failed", "dead", "delivered"]),
        ),
        (["deliveries"], lambda s: s.deliveries(statuses=["pending", "failed", "dead"])),
        (["mutes"], lambda s: s.mutes(now=time.time())),
    ]
    labels = await _through_store(r, lambda s: s.labels())
    assert labels  # the daemon recorded its target's label: deliveries name it by that
    for argv, read in cases:
        out, code, loaded, err = pinmon(r.path, *argv)
        assert code == 0, err
        assert loaded == (["psycopg"] if backend == "postgres" else []), argv
        rows = await _through_store(r, read)
        as_json = "--json" in argv
        if argv[0] == "events":
            expected = printed(partial(print_events, rows, as_json=as_json))
        elif argv[0] == "deliveries":
            expected = printed(partial(print_deliveries, rows, labels, as_json=as_json))
        else:
            expected = printed(partial(print_mutes, rows))
        # Something to compare, but for the pending and failed deliveries: all were sent.
        assert rows or argv == ["deliveries"], argv
        assert out == expected, argv


async def test_status_reports_what_the_store_reads(filled: Rig, backend: str) -> None:
    """`status --json` is the async store's report at the same instant; the text form too."""
    r = filled
    config = r.config
    out, code, loaded, err = pinmon(r.path, "status", "--json")
    assert code == 0, err
    assert loaded == (["psycopg"] if backend == "postgres" else [])
    report = json.loads(out)
    lane_s = config.monitor.fast_window_s
    expected = await _through_store(
        r,
        lambda s: status_report(
            s, now=report["generated_at"], watched=config.monitor.entities, lane_s=lane_s
        ),
    )
    assert report == expected
    assert report["accounts"][0]["entities"]["ad"] == {
        "APPROVED": 2,
        "PAUSED": 1,
        "PENDING": 1,
        "REJECTED": 1,
    }
    at = report["generated_at"]
    text = printed(lambda: show_status(config, as_json=False, now=at))
    assert text == format_status(expected) + "\n"


def _v4_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[:4]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO mutes (scope, entity_id, until, created_at, reason)"
            " VALUES ('ad', '687195134316', 4102444800, 0, 'kept')"
        )
    conn.close()


def _config(folder: Path, state: str) -> Path:
    path = folder / "pinmon.toml"
    path.write_text(
        '[pinterest]\nbase_url = "http://127.0.0.1:9/v5"\naccess_token = "pina_readonly_token_0123"\n'
        f'[monitor]\nstate = "{state}"\n[[routes]]\nname = "ops"\napprise = ["json://127.0.0.1:9/"]\n'
    )
    return path


async def test_an_older_sqlite_schema_is_migrated_as_the_store_would(tmp_path: Path) -> None:
    """A version-4 file is brought to the current schema by a read-only command, as opening
    the store does, and what it held is read back."""
    state = tmp_path / "state.db"
    _v4_sqlite(state)
    out, code, _, err = pinmon(_config(tmp_path, "state.db"), "mutes")
    assert code == 0, err
    assert out == "ad       687195134316         until 2100-01-01 00:00:00Z  kept\n"
    with contextlib.closing(sqlite3.connect(state)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert "entities_by_state" in indexes


@pytest.mark.parametrize("command", ["status", "events", "deliveries", "mutes"])
async def test_a_newer_sqlite_schema_is_refused_in_one_line(tmp_path: Path, command: str) -> None:
    """A file written by a newer pinmon: one line naming it and why, exit 1, file untouched."""
    state = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(state)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = state.read_bytes()
    out, code, _, err = pinmon(_config(tmp_path, "state.db"), command)
    assert (out, code) == ("", 1)
    assert err == (
        f"pinmon: {state}: the state database has schema version {SCHEMA_VERSION + 1}, newer than"
        f" this pinmon understands ({SCHEMA_VERSION}); upgrade pinmon or use another state file\n"
    )
    assert state.read_bytes() == before


async def test_postgres_schemas_older_and_newer(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """An older PostgreSQL schema is migrated by a read-only command; a newer one is refused
    in one line that names the database without its password, exit 1."""
    import psycopg

    from monitor.store import _pg_schema

    with psycopg.connect(pg_url, autocommit=True) as conn:
        _pg_schema.migrate(conn, "test", target=3)
    config = _config(tmp_path, pg_url)
    out, code, loaded, err = pinmon(config, "mutes")
    assert (out, code, err) == ("no active mutes\n", 0, "")
    assert "anyio" not in loaded
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert _pg_schema.schema_version(conn) == _pg_schema.SCHEMA_VERSION
        conn.execute(
            "INSERT INTO schema_version (version) VALUES (%s)", (_pg_schema.SCHEMA_VERSION + 1,)
        )
    out, code, _, err = pinmon(config, "status")
    assert (out, code) == ("", 1)
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert f"has schema version {_pg_schema.SCHEMA_VERSION + 1}, newer than this pinmon" in err
    assert err.startswith(f"pinmon: {_pg_schema.describe(pg_url)}: ")


async def test_no_state_yet(tmp_path: Path) -> None:
    """No state file: status says so and creates none, exit 1; the listings start an empty
    state and say there is nothing, exit 0 (as before the synchronous path)."""
    config = _config(tmp_path, "state.db")
    out, code, _, err = pinmon(config, "status")
    assert (out, code) == ("", 1)
    assert (
        err
        == f"pinmon: no state at {tmp_path / 'state.db'}: the daemon has not completed a cycle\n"
    )
    assert not (tmp_path / "state.db").exists()
    for command, says in (
        ("events", "no events\n"),
        ("deliveries", "no deliveries waiting or failed\n"),
        ("mutes", "no active mutes\n"),
    ):
        (tmp_path / "state.db").unlink(missing_ok=True)
        out, code, _, err = pinmon(config, command)
        assert (out, code, err) == (says, 0, ""), command
        assert (tmp_path / "state.db").exists()


async def test_a_daemon_holding_the_write_lock_does_not_delay_a_reader(tmp_path: Path) -> None:
    """While another connection holds the write lock mid-transaction (a daemon committing),
    every read-only command answers from the last commit, well within the busy timeout it
    used to wait out at close, and sees nothing of the open transaction."""
    async with rig(tmp_path) as r:
        await run_once(r.config)
    state = tmp_path / "state.db"
    writer = sqlite3.connect(state, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO mutes (scope, entity_id, until, created_at) VALUES ('ad', '1', 4102444800, 0)"
        )
        for command, says in (
            ("status", "APPROVED 5"),
            ("events", "no events"),
            ("deliveries", "no deliveries waiting or failed"),
            ("mutes", "no active mutes"),
        ):
            started = time.monotonic()
            out, code, _, err = pinmon(r.path, command)
            took = time.monotonic() - started
            assert code == 0, err
            assert says in out, command
            assert took < BUSY_TIMEOUT_S, command
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.parametrize("fast_interval", ["30s", "0"])
async def test_status_shows_the_review_lane(
    tmp_path: Path, fast_interval: str, backend: str, request: pytest.FixtureRequest
) -> None:
    """The lane a restarted daemon would prime: ads in review and ads Pinterest stamped
    within ``fast_window``, the oldest aged from its stamp; "off" when fast_interval is 0."""
    state = request.getfixturevalue("pg_url") if backend == "postgres" else "state.db"
    async with rig(tmp_path) as r:
        window_s = 3600.0
        r.path.write_text(
            r.path.read_text()
            .replace('"state.db"', f'"{state}"')
            .replace(
                "[monitor]\n", f'[monitor]\nfast_interval = "{fast_interval}"\nfast_window = "1h"\n'
            )
        )
        await run_once(r.config)
        now = time.time()
        world = r.sim.world
        # In review, sent back by an edit half a window ago: in the lane, the oldest.
        pending = world.set_pending(ADS[0], at=now - window_s / 2).updated_time
        # Decided a tenth of a window ago: still within the window, so in the lane.
        world.reject_ad(ADS[1], reasons=["HASHTAGS"], at=now - window_s / 10)
        # Rejected and approved again two windows ago: out of the window, not in review.
        world.reject_ad(ADS[2], reasons=["HASHTAGS"], at=now - 3 * window_s)
        world.approve_ad(ADS[2], at=now - 2 * window_s)
        await run_once(r.config)
    out, code, _, err = pinmon(r.path, "status", "--json")
    assert code == 0, err
    (account,) = json.loads(out)["accounts"]
    text, _, _, _ = pinmon(r.path, "status")
    if fast_interval == "0":
        assert account["review_lane"] is None
        assert "  review lane off (fast_interval = 0)\n" in text
        return
    lane = account["review_lane"]
    assert (lane["ads"], lane["oldest_at"]) == (2, pending)
    generated_at = json.loads(out)["generated_at"]
    assert lane["oldest_age_s"] == round(generated_at - pending, 3)
    assert "  review lane 2 ads, oldest changed 30m ago\n" in text
