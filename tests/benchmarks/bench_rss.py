"""Benchmark: peak RSS and wall time of `pinmon run --once` over one account of 200,000 ads.

The simulator runs as a separate process (so its memory is not counted), serving one
generated account; `pinmon run --once` runs three times against one state file:

1. the baseline cycle (empty state: every ad is new and written),
2. a steady cycle with nothing changed (a fresh process: every ad decoded and compared),
3. a cycle after 1 % of the ads were rejected through the simulator's admin endpoint.

Peak RSS and CPU time (user + system) come from the kernel's rusage of each child. The
baseline figure is a bare `python -c "import monitor.daemon"` measured in the same run.
``--state`` puts the state elsewhere (a PostgreSQL URL: use a fresh schema).

    python tests/benchmarks/bench_rss.py [--ads 200000] [--state URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def run_child(argv: list[str], env: dict[str, str]) -> tuple[int, float, float, float]:
    """Run a command; return (exit code, peak RSS in MB, wall seconds, CPU seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
    return proc.returncode, usage.ru_maxrss / 1024, wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ads", type=int, default=200_000)
    parser.add_argument("--state", default="state.db")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinmon-rss-") as tmp:
        folder = Path(tmp)
        scenario = folder / "big.toml"
        scenario.write_text(
            'name = "rss"\n[auth]\naccess_tokens = ["bench-token"]\n[rate_limit]\nlimit = 100000\n'
            '[[accounts]]\nid = "549755885175"\nname = "Big Account"\n'
            f"generate = {{ ads = {args.ads}, campaigns = 40, ad_groups_per_campaign = 5 }}\n"
        )
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "simulate",
                "--port",
                "0",
                "--scenario",
                str(scenario),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert sim.stdout is not None
            line = sim.stdout.readline()
            base_url = line.split('"')[1]
            origin = base_url.rsplit("/v5", 1)[0]
            config = folder / "pinmon.toml"
            config.write_text(
                f'[pinterest]\nbase_url = "{base_url}"\naccess_token = "bench-token"\n'
                'ad_accounts = ["549755885175"]\n'
                f'[monitor]\nstate = "{args.state}"\n'
                '[[routes]]\nname = "sink"\nevents = ["*"]\napprise = ["json://127.0.0.1:9/"]\n'
            )
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            once = [
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--once",
                "-c",
                str(config),
                "--log-level",
                "warning",
            ]
            _, import_rss, _, _ = run_child([sys.executable, "-c", "import monitor.daemon"], env)
            rc1, rss1, wall1, cpu1 = run_child(once, env)
            rc2, rss2, wall2, cpu2 = run_child(once, env)
            with urllib.request.urlopen(f"{origin}/_sim/ids?kind=ads") as answer:
                ad_ids = json.loads(answer.read())["ids"]
            target = random.Random(3).sample(ad_ids, max(1, len(ad_ids) // 100))
            body = json.dumps({"action": "reject", "ads": target, "reasons": ["HASHTAGS"]})
            req = urllib.request.Request(
                f"{origin}/_sim/steps",
                data=body.encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req) as answer:
                answer.read()
            rc3, rss3, wall3, cpu3 = run_child(once, env)
        finally:
            sim.terminate()
            sim.wait(10)
    print(f"ads={args.ads}  (peak RSS from rusage; wall time includes the simulator's serving)")
    print(f"baseline: python + import monitor.daemon : {import_rss:7.1f} MB")
    print(f"run --once, first (baseline) cycle       : {rss1:7.1f} MB  {wall1:6.1f} s  "
          f"CPU {cpu1:5.2f} s  exit {rc1}")  # fmt: skip
    print(f"run --once, nothing changed              : {rss2:7.1f} MB  {wall2:6.1f} s  "
          f"CPU {cpu2:5.2f} s  exit {rc2}")  # fmt: skip
    print(
        f"run --once, {len(target):>5} ads rejected          : {rss3:7.1f} MB  {wall3:6.1f} s  "
        f"CPU {cpu3:5.2f} s  exit {rc3} (goal <= 150 MB)"
    )


if __name__ == "__main__":
    main()
