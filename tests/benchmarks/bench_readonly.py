"""Benchmark: `pinmon --help` and the read-only commands on a 100,000-ad state, as whole
processes, beside the interpreter's floor measured in the same run (issue #13).

The state is built the way a user gets one: the simulator (its own process) serves one
generated account of ``--ads`` ads; `pinmon run --once` takes the baseline; 1 % of the
ads are rejected through the simulator's admin API and a second `run --once` records
their events (their deliveries stay pending: the target is unreachable); two mutes are
set. Then, in turns, each command runs ``--runs`` times, timed from spawn to exit (wall)
and by the kernel's rusage (user + system CPU):

- floor: ``python -c pass``, ``python -c "import monitor"``; ``libraries``: a process
  that imports what the daemon's store stands on (anyio, structlog, sqlite3, msgspec,
  tomllib, argparse) and runs one worker-thread call in an event loop, which is what
  the commands stood on before their synchronous path; ``libraries (sync)``: what they
  stand on now (sqlite3, msgspec, tomllib, argparse) and one SQLite connection; with
  ``--state``, ``libraries (psycopg)``: the same with psycopg and one connection, and
  the driver's own floor: ``import psycopg`` alone, and ``psycopg select 1`` (import,
  connect, one query: no PostgreSQL command can answer faster); the state's tables are
  analyzed first (see ``analyze``);
- ``pinmon --help``, ``status``, ``events``, ``deliveries``, ``mutes``.

Goals: ``--help`` <= 0.3 s; the four read-only commands <= 0.2 s (median wall). Each
command's imports are checked for the heavy modules it must not load: the daemon's
(aiohttp, apprise, prometheus_client; psycopg with a SQLite state) and, for the four,
anyio and structlog (``store/direct.py``).

    python tests/benchmarks/bench_readonly.py [--ads 100000] [--runs 11] [--profile]
        [--state postgresql://...]   # a fresh PostgreSQL schema instead of a SQLite file
        [--keep DIR]                 # build the state in DIR once, reuse it after
        [--baseline TREE]            # also time TREE's commands (git archive of a parent)

``--profile`` also prints the slowest imports of `status` (``-X importtime``) and the
top of a cProfile of it, all threads (the store runs in worker threads).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
ACCOUNT = "549755885175"
TOKEN = "bench-token"
GOALS_S = {"--help": 0.3, "status": 0.2, "events": 0.2, "deliveries": 0.2, "mutes": 0.2}
#: What a read-only command must not import (psycopg only with a PostgreSQL state).
HEAVY = ("aiohttp", "apprise", "prometheus_client", "psycopg")
#: What the four read-only commands must not import either (their synchronous path).
LOOP = ("anyio", "structlog")
LIBRARIES = (
    "import anyio, anyio.to_thread, structlog, sqlite3, msgspec, tomllib, argparse;"
    " anyio.run(anyio.to_thread.run_sync, lambda: sqlite3.connect(':memory:').close())"
)
PSYCOPG_LIBRARIES = (
    "import sys, msgspec, tomllib, argparse, psycopg; psycopg.connect(sys.argv[1]).close()"
)
#: The least a command reading PostgreSQL through psycopg can cost.
PSYCOPG_FLOOR = "import sys, psycopg; psycopg.connect(sys.argv[1]).execute('select 1').fetchone()"
SYNC_LIBRARIES = "import sqlite3, msgspec, tomllib, argparse; sqlite3.connect(':memory:').close()"
SCENARIO = (
    f'name = "readonly"\n[auth]\naccess_tokens = ["{TOKEN}"]\n[rate_limit]\nlimit = 1000000\n'
    f'[[accounts]]\nid = "{ACCOUNT}"\nname = "Big Account"\n'
    "generate = {{ ads = {ads}, campaigns = 40, ad_groups_per_campaign = 5, "
    "rejected_share = 0.01, pending_share = 0.02, paused_share = 0.05, "
    "archived_share = 0.02, seed = 1 }}\n"
)


def bench_env() -> dict[str, str]:
    """The environment every child runs in.

    This machine sets PYTHONDONTWRITEBYTECODE=1, so each process would compile pinmon's
    modules from source (~0.1 s of every command). An installed pinmon never pays that:
    pip compiles the bytecode at install time. So the variable is dropped here, and one
    warm-up run of each command (see ``run``) writes ``__pycache__`` before any is timed.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(HERE)
    return env


def pinmon_argv() -> list[str]:
    """The installed console script (what users run), else ``python -m monitor``."""
    script = shutil.which("pinmon", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "monitor"]


#: ``--baseline``: the console script's code (``from monitor.cli import main``), run
#: from another tree's source by PYTHONPATH.
_ENTRY = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"


def tree_env(tree: Path) -> dict[str, str]:
    """:func:`bench_env`, but importing pinmon from ``tree``."""
    return {**bench_env(), "PYTHONPATH": str(tree)}


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``argv`` to its end; (wall seconds, CPU seconds). A failure stops the benchmark."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env or bench_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=(env or {}).get("PYTHONPATH"))  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
        raise SystemExit(f"{argv[-3:]}: exit {code}")
    return wall, usage.ru_utime + usage.ru_stime


def build_state(folder: Path, ads: int, state: str) -> Path:
    """Write the config and fill its state through the simulator; returns the config."""
    scenario = folder / "scenario.toml"
    scenario.write_text(SCENARIO.format(ads=ads))
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--port", "0", "--scenario", str(scenario)],
        env=bench_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        base_url = sim.stdout.readline().split('"')[1]
        origin = base_url.rsplit("/v5", 1)[0]
        config = folder / "pinmon.toml"
        config.write_text(
            f'[pinterest]\nbase_url = "{base_url}"\naccess_token = "{TOKEN}"\n'
            f'ad_accounts = ["{ACCOUNT}"]\n[monitor]\nstate = "{state}"\n'
            '[[routes]]\nname = "ops"\nevents = ["*"]\napprise = ["json://127.0.0.1:9/"]\n'
        )
        once = [*pinmon_argv(), "run", "--once", "-c", str(config), "--log-level", "error"]
        subprocess.run(once, env=bench_env(), check=True, stderr=subprocess.DEVNULL)
        with urllib.request.urlopen(f"{origin}/_sim/ids?kind=ads") as answer:
            ad_ids = json.loads(answer.read())["ids"]
        rejected = random.Random(3).sample(ad_ids, max(1, len(ad_ids) // 100))
        body = json.dumps({"action": "reject", "ads": rejected, "reasons": ["HASHTAGS"]})
        request = urllib.request.Request(
            f"{origin}/_sim/steps",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            answer.read()
        # Exit 3: the events are committed, their deliveries failed and stay queued.
        code = subprocess.run(once, env=bench_env(), stderr=subprocess.DEVNULL).returncode
        if code not in (0, 3):
            raise SystemExit(f"run --once: exit {code}")
    finally:
        sim.terminate()
        sim.wait(10)
    for scope, entity_id, reason in (("campaign", "1", "launch week"), ("ad", ad_ids[0], "")):
        mute = [*pinmon_argv(), "mute", "-c", str(config), f"--{scope}", entity_id]
        subprocess.run(
            [*mute, "--for", "7d", *(["--reason", reason] if reason else [])],
            env=bench_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    # Re-point the config at nothing: the read-only commands must not need the API.
    text = config.read_text().replace(base_url, "http://127.0.0.1:9/v5")
    config.write_text(text)
    return config


def imports_of(argv: list[str]) -> list[str]:
    """Module names ``argv`` (a python -m command) imports, from ``-X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [
        line.rpartition("|")[2].strip()
        for line in out.stderr.splitlines()
        if line.startswith("import time:") and "cumulative" not in line
    ]


def slowest_imports(argv: list[str], top: int = 12) -> list[tuple[int, str]]:
    """The ``top`` top-level imports of ``argv`` by cumulative microseconds."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=bench_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("   "):  # top level: imported by our code, not a dependency
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


_PROFILE = """
import cProfile, pstats, sys, threading
profiles = []
def start(*_):
    sys.setprofile(None)
    p = cProfile.Profile(); profiles.append(p); p.enable()
threading.setprofile(start)
main = cProfile.Profile(); profiles.append(main)
main.enable()
from monitor.cli import main as cli
code = cli(sys.argv[1:])
main.disable()
stats = pstats.Stats(profiles[0], stream=sys.stderr)
for p in profiles[1:]:
    stats.add(p)
stats.sort_stats("cumulative").print_stats("monitor/", 14)
stats.sort_stats("tottime").print_stats(12)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--state", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--keep", type=Path, help="build the state here once, then reuse it")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--baseline", type=Path, help="a source tree (e.g. the parent commit) to time alongside"
    )
    args = parser.parse_args()
    # `python -m monitor` puts the working directory first on sys.path: run from this tree,
    # so that no other checkout the benchmark happens to be started in is measured.
    os.chdir(HERE)
    with tempfile.TemporaryDirectory(prefix="pinmon-readonly-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "pinmon.toml"
        if not config.exists():
            started = time.perf_counter()
            config = build_state(folder, args.ads, args.state or str(folder / "state.db"))
            print(f"# state built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if args.state:
            analyze(args.state)
        run(args, config)


def analyze(url: str) -> None:
    """Gather the planner's statistics on the state's tables (``ANALYZE``).

    A server with autovacuum on (PostgreSQL's default) does so within a minute of the
    state being filled; one with it off (a test server may be) plans the status
    queries for one-row tables: a sort spilled to disk, ~2x slower. This measures what a
    user's server runs, whatever this one's setting.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        setting = conn.execute("SHOW autovacuum").fetchone()
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'ANALYZE "{table}"'.encode())
    print(
        f"# ANALYZE of {len(tables)} tables (this server: autovacuum {setting and setting[0]})",
        file=sys.stderr,
    )


def run(args: argparse.Namespace, config: Path) -> None:
    py = sys.executable
    pinmon = pinmon_argv()
    c = ["-c", str(config)]
    commands: dict[str, list[str]] = {
        "python -c pass": [py, "-c", "pass"],
        "import monitor": [py, "-c", "import monitor"],
        # What every read-only command stands on: the event loop anyio runs the store's
        # calls in, structlog, the SQLite driver, msgspec. Above it is pinmon's own cost.
        "libraries": [py, "-c", LIBRARIES],
        # What they stand on since their synchronous path (store/direct.py).
        "libraries (sync)": [py, "-c", SYNC_LIBRARIES],
    }
    if args.state:
        # With a PostgreSQL state, the driver too: import it, connect, close.
        commands["libraries (psycopg)"] = [py, "-c", PSYCOPG_LIBRARIES, args.state]
        commands["import psycopg"] = [py, "-c", "import psycopg"]
        commands["psycopg select 1"] = [py, "-c", PSYCOPG_FLOOR, args.state]
    commands |= {
        "--help": [*pinmon, "--help"],
        "status": [*pinmon, "status", *c],
        "events": [*pinmon, "events", *c],
        "deliveries": [*pinmon, "deliveries", *c],
        "mutes": [*pinmon, "mutes", *c],
    }
    envs: dict[str, dict[str, str]] = {}
    if args.baseline:
        # The same commands from another tree (the parent commit), in the same turns.
        for name in ("status", "events", "deliveries", "mutes"):
            key = f"baseline {name}"
            commands[key] = [py, "-c", _ENTRY, *commands[name][len(pinmon) :]]
            envs[key] = tree_env(args.baseline.resolve())
    for name, argv in commands.items():
        measure(argv, envs.get(name))  # warm-up: writes __pycache__ (see bench_env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # in turns, so that the machine's noise falls on all alike
        for name, argv in commands.items():
            wall, cpu = measure(argv, envs.get(name))
            walls[name].append(wall)
            cpus[name].append(cpu)
    backend = "PostgreSQL" if args.state else "SQLite"
    print(
        f"# read-only commands: {args.ads} ads ({backend}), python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs, median (min) of {args.runs} runs in turns"
    )
    floor = statistics.median(walls["python -c pass"])
    failed = []
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        line = (
            f"{name:<20} wall {wall * 1000:7.1f} ms ({min(walls[name]) * 1000:6.1f})"
            f"  CPU {cpu * 1000:7.1f} ms  {wall / floor:5.1f}x python -c pass"
        )
        goal = GOALS_S.get(name)
        if goal is not None:
            verdict = "ok" if wall <= goal else "OVER"
            line += f"   goal <= {goal * 1000:.0f} ms: {verdict}"
            if wall > goal:
                failed.append(name)
        print(line)
    print()
    for name in GOALS_S:
        loaded = set(imports_of(["-m", "monitor", *commands[name][len(pinmon) :]]))
        banned = HEAVY if name == "--help" else (*HEAVY, *LOOP)
        heavy = [m for m in banned if m in loaded and not (m == "psycopg" and args.state)]
        print(f"# {name:<11} heavy imports: {', '.join(heavy) or 'none'}")
    if args.profile:
        profile(commands["status"][len(pinmon) :])
    print()
    verdict = "PASS" if not failed else f"FAIL ({', '.join(failed)} over the goal)"
    print(f"{verdict}: goals --help <= 0.3 s, status/events/deliveries/mutes <= 0.2 s")


def profile(status: list[str]) -> None:
    """Where `status` spends its time: its slowest imports, then a cProfile of all threads."""
    print("\n# slowest top-level imports of `status` (cumulative, -X importtime):")
    for micros, name in slowest_imports(["-m", "monitor", *status]):
        print(f"  {micros / 1000:7.1f} ms  {name}")
    out = subprocess.run(
        [sys.executable, "-c", _PROFILE, *status],
        capture_output=True,
        text=True,
        check=True,
        env=bench_env(),
    )
    tables = [t for t in out.stderr.split("   ncalls") if "filename:lineno" in t]
    for title, table in zip(("cumulative, pinmon's own", "own time"), tables, strict=False):
        print(f"\n# cProfile of `status`, all threads, by {title}:")
        for line in ("   ncalls" + table).strip("\n").splitlines():
            if line.strip():
                print(f"  {line.replace(str(HERE) + '/', '')}")


if __name__ == "__main__":
    main()
