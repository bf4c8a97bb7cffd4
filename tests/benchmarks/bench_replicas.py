"""Benchmark: cycle wall time for 1,000 accounts with 1, 2 and 3 replicas on PostgreSQL.

The simulator runs as its own process (1,000 accounts of 20 ads each); N `pinmon run`
processes share one fresh PostgreSQL schema. Each replica logs `cycle.completed` with the
accounts it polled and the cycle's duration. After a warm-up (baselines, rebalancing),
the cluster's cycle wall time is the slowest replica's median cycle: the time for all
1,000 accounts to be polled once. The 1-replica run is the baseline of the same run.

    PINMON_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/test \\
        python tests/benchmarks/bench_replicas.py [--accounts 1000] [--interval 10] [--cycles 4]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

TOKEN = "bench-token-0123456789"


def schema_url(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def scenario_toml(accounts: int) -> str:
    lines = ['name = "bench-replicas"', f'[auth]\naccess_tokens = ["{TOKEN}"]',
             "[rate_limit]\nlimit = 10000000"]
    lines += [
        f'[[accounts]]\nid = "{549755000000 + i}"\nname = "Account {i}"\n'
        "generate = { ads = 20, campaigns = 1, ad_groups_per_campaign = 2 }"
        for i in range(accounts)
    ]
    return "\n".join(lines) + "\n"


def cycles_of(log: Path) -> list[tuple[int, float]]:
    """(accounts, duration_s) of every `cycle.completed` a replica logged."""
    out = []
    for line in log.read_text().splitlines():
        if '"cycle.completed"' in line:
            record = json.loads(line)
            out.append((int(record["accounts"]), float(record["duration_s"])))
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def run(replicas: int, *, accounts: int, interval_s: float, cycles: int, pg: str,
        folder: Path) -> tuple[float, list[int], float, float]:
    """The cluster's steady cycle wall time, the accounts each replica polled, the
    replicas' CPU per cycle (summed), and how busy the whole machine was (0..1)."""
    schema = f"b_{secrets.token_hex(6)}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    scenario = folder / "scenario.toml"
    scenario.write_text(scenario_toml(accounts))
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--port", "0", "--scenario", str(scenario),
         "--log-level", "error"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    logs = [folder / f"replica-{replicas}-{i}.log" for i in range(replicas)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        assert sim.stdout is not None
        base_url = sim.stdout.readline().split('"')[1]
        config = folder / f"pinmon-{replicas}.toml"
        config.write_text(
            f'[pinterest]\nbase_url = "{base_url}"\naccess_token = "{TOKEN}"\n'
            "requests_per_minute = 100000\n"
            f'[monitor]\ninterval = {interval_s}\nstate = "{schema_url(pg, schema)}"\n'
            "concurrency = 16\n"
            '[[routes]]\nname = "none"\nevents = ["nothing"]\napprise = ["json://127.0.0.1:9/"]\n'
        )
        for log in logs:
            with log.open("w") as sink:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "monitor", "run", "-c", str(config),
                     "--log-format", "json", "--log-level", "info"],
                    stderr=sink, stdout=subprocess.DEVNULL,
                ))
        # Warm-up (baseline cycle and rebalancing: the first replica holds everything
        # until the others heartbeat), then the measured cycles.
        time.sleep(interval_s * 3)
        cpu0 = [cpu_s(p.pid) for p in procs]
        sim0, t0 = cpu_s(sim.pid), time.monotonic()
        busy0, total0 = machine_jiffies()
        time.sleep(interval_s * cycles)
        busy1, total1 = machine_jiffies()
        replica_cpu = (sum(cpu_s(p.pid) for p in procs) - sum(cpu0)) / cycles
        (cpu_s(sim.pid) - sim0) / (time.monotonic() - t0)
        machine = (busy1 - busy0) / max(1, total1 - total0)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
        sim.terminate()
        sim.wait(10)
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    medians, shares = [], []
    for log in logs:
        steady = cycles_of(log)[3:]  # skip baseline and rebalancing
        if not steady:
            raise SystemExit(f"{log.name}: no steady cycles logged:\n{log.read_text()[-2000:]}")
        medians.append(statistics.median(d for _, d in steady))
        shares.append(round(statistics.median(a for a, _ in steady)))
    return max(medians), shares, replica_cpu, machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--cycles", type=int, default=4)
    args = parser.parse_args()
    pg = os.environ.get("PINMON_TEST_POSTGRES")
    if not pg:
        raise SystemExit("set PINMON_TEST_POSTGRES to a PostgreSQL URL")
    print(f"accounts={args.accounts} (20 ads each), interval={args.interval:g}s, "
          f"median of {args.cycles} steady cycles per replica; {os.cpu_count()} CPUs")
    results = {}
    with tempfile.TemporaryDirectory(prefix="pinmon-bench-") as tmp:
        for n in (1, 2, 3):
            results[n] = run(n, accounts=args.accounts, interval_s=args.interval,
                             cycles=args.cycles, pg=pg, folder=Path(tmp))
    base = results[1][0]
    for n, (wall, shares, cpu, machine) in results.items():
        print(f"{n} replica{'s' if n > 1 else ' '}: cycle wall {wall:6.2f} s  "
              f"speed-up {base / wall:4.2f}x  accounts per replica {shares}  "
              f"replicas' CPU per cycle {cpu:5.2f} s  machine busy {machine:4.0%}")


if __name__ == "__main__":
    main()
