"""Operator mistakes end in one line on stderr and a documented exit code, never a traceback.

Every case runs the real CLI as a process (`python -m monitor ...`) against a real cause:
a pipe its reader closed after one line, a socket already bound to the `listen` port, a
state path under a regular file or a read-only directory, a config that is not there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.cli import _COMMANDS, EXIT_CLOSED_PIPE, build_parser
from monitor.events import Event
from monitor.store.factory import open_state
from tests.harness import ACCOUNT, TOKEN

pytestmark = [pytest.mark.timeout(120)]

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# Unreachable on purpose: these tests fail before polling, or must fail fast if they poll.
CONFIG = f"""
[pinterest]
base_url = "http://127.0.0.1:9/v5"
access_token = "{TOKEN}"
ad_accounts = ["{ACCOUNT}"]
retries = 1

[monitor]
interval = "1h"
state = "{{state}}"
{{extra}}

[[routes]]
name = "everything"
apprise = ["json://127.0.0.1:9/alerts"]
"""


ROUTE = "everything-" + "r" * 150


def write_config(folder: Path, *, state: str = "state.db", extra: str = "") -> Path:
    path = folder / "pinmon.toml"
    path.write_text(CONFIG.format(state=state, extra=extra))
    return path


def pinmon(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def one_line(stderr: str) -> str:
    """The single `pinmon: ...` line a failure must print (and nothing else)."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pinmon: "), stderr
    return lines[0]


async def seed_history(path: Path, n: int) -> None:
    """``n`` events, each with a pending delivery, with long names so that the 1,000 rows
    the commands list are several times what a pipe (64 KiB) and stdout's buffer hold."""
    store = await open_state(path)
    try:
        events = [
            Event(
                id=f"evt_{i:024x}",
                type="ad.rejected",
                entity="ad",
                entity_id=str(687195134316 + i),
                ad_account_id=ACCOUNT,
                name=f"Holiday Ad {i} " + "with a long name " * 12,
                detected_at=time.time() - i,
            )
            for i in range(n)
        ]
        await store.record_events(
            events, deliveries=[(e.id, ROUTE, "json:alerts") for e in events], at=time.time()
        )
    finally:
        await store.close()


def read_one_line_then_close(*args: str) -> tuple[bytes, int, str]:
    """Run pinmon with stdout on a pipe, read one line, close the read end: `| head -1`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return first, proc.wait(timeout=60), stderr


@pytest.mark.anyio
@pytest.mark.parametrize(
    "command",
    [["events"], ["events", "--json"], ["deliveries"], ["deliveries", "--json"]],
    ids=" ".join,
)
async def test_a_reader_closing_the_pipe_ends_quietly(tmp_path: Path, command: list[str]) -> None:
    """`pinmon events | head -1`: exit 141 as for SIGPIPE, nothing on stderr, no traceback."""
    config = write_config(tmp_path)
    await seed_history(tmp_path / "state.db", 1500)
    first, code, stderr = read_one_line_then_close(*command, "-c", str(config))
    assert first  # it did print before the reader left
    assert code == EXIT_CLOSED_PIPE, stderr
    assert stderr == ""  # neither a traceback nor "Exception ignored ... BrokenPipeError"


@pytest.mark.slow
def test_the_demo_ends_quietly_when_its_reader_leaves() -> None:
    """`pinmon demo | head -1` stops the story at once instead of logging failed sends."""
    started = time.monotonic()
    first, code, stderr = read_one_line_then_close("demo", "--interval", "0.3")
    assert first.startswith(b"pinmon demo:")
    assert code == EXIT_CLOSED_PIPE, stderr
    assert stderr == ""
    assert time.monotonic() - started < 50  # not run to the demo's own timeout


@pytest.mark.parametrize("once", [True, False], ids=["run --once", "run"])
def test_a_listen_port_in_use_is_a_config_error(tmp_path: Path, once: bool) -> None:
    """A second daemon whose `listen` port is taken names the key and the reason, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, extra=f'listen = "127.0.0.1:{port}"')
        proc = pinmon("run", *(["--once"] if once else []), "-c", str(config))
    assert proc.returncode == 2, proc.stderr
    assert one_line(proc.stderr) == (
        f"pinmon: {config}: monitor.listen: cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    )


def test_a_simulator_port_in_use_is_a_usage_error() -> None:
    """`pinmon simulate --port N` on a taken port says so in one line, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = pinmon("simulate", "--port", str(port))
    assert proc.returncode == 2, proc.stderr
    assert one_line(proc.stderr) == (
        f"pinmon: --port: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


STATE_COMMANDS = [
    ["run", "--once"],
    ["check"],
    ["events"],
    ["deliveries"],
    ["redeliver", "--failed"],
    ["mute", "--ad", "687195134316", "--for", "1h"],
    ["unmute", "--ad", "687195134316"],
    ["mutes"],
    ["status"],
]


@pytest.mark.parametrize("command", STATE_COMMANDS, ids=" ".join)
def test_a_state_path_under_a_regular_file_fails_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """A state file that cannot exist (its parent is a file, for root too) is one line, exit 1."""
    (tmp_path / "not-a-dir").write_text("a file where a directory should be\n")
    config = write_config(tmp_path, state="not-a-dir/state.db")
    proc = pinmon(*command, "-c", str(config))
    assert proc.returncode == 1, proc.stderr
    assert str(tmp_path / "not-a-dir" / "state.db") in one_line(proc.stderr)


@pytest.mark.skipif(ROOT, reason="root writes into read-only directories regardless")
@pytest.mark.parametrize("command", STATE_COMMANDS, ids=" ".join)
def test_a_state_directory_without_write_permission_fails_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """A state file in a read-only directory is reported with the path and why, exit 1."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        config = write_config(tmp_path, state="read-only/state.db")
        proc = pinmon(*command, "-c", str(config))
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr)
    assert str(folder / "state.db") in line
    assert "Permission denied" in line or "no state" in line  # status only reads


CONFIG_COMMANDS = [*STATE_COMMANDS, ["notify-test"]]


@pytest.mark.parametrize("command", CONFIG_COMMANDS, ids=" ".join)
def test_a_missing_config_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    """Every command that reads a config names the missing file, exit 2."""
    missing = tmp_path / "nowhere.toml"
    proc = pinmon(*command, "-c", str(missing))
    assert proc.returncode == 2, proc.stderr
    assert one_line(proc.stderr) == f"pinmon: {missing}: file not found"


def test_a_config_that_cannot_be_read_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A config path that is a directory (unreadable for root too) says why, exit 2."""
    proc = pinmon("run", "--once", "-c", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert one_line(proc.stderr) == f"pinmon: {tmp_path}: cannot read: Is a directory"


@pytest.mark.skipif(ROOT, reason="root reads files regardless of their mode")
def test_a_config_without_read_permission_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A config the user may not read says so, exit 2."""
    config = write_config(tmp_path)
    config.chmod(0)
    proc = pinmon("check", "-c", str(config))
    assert proc.returncode == 2, proc.stderr
    assert one_line(proc.stderr) == f"pinmon: {config}: cannot read: Permission denied"


# The smallest valid argument list of each command, so a new command must be added here.
MINIMAL_ARGS = {
    "run": ["-c", "x.toml"],
    "check": ["-c", "x.toml"],
    "demo": [],
    "simulate": [],
    "deliveries": ["-c", "x.toml"],
    "redeliver": ["-c", "x.toml", "--failed"],
    "events": ["-c", "x.toml"],
    "mute": ["-c", "x.toml", "--ad", "1", "--for", "1h"],
    "unmute": ["-c", "x.toml", "--ad", "1"],
    "mutes": ["-c", "x.toml"],
    "notify-test": ["-c", "x.toml"],
    "status": ["-c", "x.toml"],
    "web": ["-c", "x.toml"],
    "routes": ["test", "-c", "x.toml", "--type", "ad.rejected"],
}


@pytest.mark.parametrize("command", sorted(MINIMAL_ARGS))
def test_every_command_takes_the_log_options(command: str) -> None:
    """`--log-level` and `--log-format` are accepted by every command, as the README says."""
    assert set(MINIMAL_ARGS) == set(_COMMANDS)
    args = build_parser().parse_args(
        [command, *MINIMAL_ARGS[command], "--log-level", "debug", "--log-format", "json"]
    )
    assert (args.log_level, args.log_format) == ("debug", "json")


def test_a_report_command_runs_with_log_level_debug(tmp_path: Path) -> None:
    """`pinmon mutes --log-level debug` runs (it was "unrecognized arguments" before)."""
    proc = pinmon("mutes", "-c", str(write_config(tmp_path)), "--log-level", "debug")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "no active mutes\n"
