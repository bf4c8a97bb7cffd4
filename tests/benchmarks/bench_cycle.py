"""Benchmark: CPU time of a steady `pinmon run --once` over 200,000 ads, two checkouts side by side.

One simulator process serves one generated account of 200,000 ads. Each checkout gets
its own state file, a baseline cycle, then steady cycles (nothing changed: every ad
listed, hashed and compared with its stored range) in turns, A B A B ..., so that both
see the same machine load. CPU time (user + system) is the kernel's rusage of each
`run --once` child; the figure is the median of the steady runs, with the best beside it.

    python tests/benchmarks/bench_cycle.py --against /path/to/previous/checkout [--runs 5]

Run it from anywhere: each child runs `python -m monitor` from a neutral folder with its
checkout first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
SCENARIO = (
    'name = "cycle"\n[auth]\naccess_tokens = ["bench-token"]\n[rate_limit]\nlimit = 1000000\n'
    '[[accounts]]\nid = "549755885175"\nname = "Big Account"\n'
    "generate = {{ ads = {ads}, campaigns = 40, ad_groups_per_campaign = 5 }}\n"
)


def run_once(code: Path, config: Path, cwd: Path) -> tuple[int, float]:
    """One `run --once` of ``code``; its exit code and CPU seconds."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(code)}
    argv = [sys.executable, "-m", "monitor", "run", "--once", "-c", str(config),
            "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    code_ = os.waitstatus_to_exitcode(status)
    if code_ not in (0, 3) and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode())
    return code_, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", type=Path, required=True, help="the other checkout")
    parser.add_argument("--ads", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--state", default="state.db", help="a file name, or a PostgreSQL "
                        "URL template with {side} for the schema (one per checkout)")  # fmt: skip
    args = parser.parse_args()
    sides = {"this": HERE, "against": args.against.resolve()}
    with tempfile.TemporaryDirectory(prefix="pinmon-cycle-") as tmp:
        folder = Path(tmp)
        (folder / "big.toml").write_text(SCENARIO.format(ads=args.ads))
        sim = subprocess.Popen(
            [sys.executable, "-m", "monitor", "simulate", "--port", "0", "--scenario",
             str(folder / "big.toml")],
            env={**os.environ, "PYTHONPATH": str(HERE)}, cwd=folder,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert sim.stdout is not None
            base_url = sim.stdout.readline().split('"')[1]
            configs = {}
            for side in sides:
                (folder / side).mkdir()
                state = args.state.format(side=side)
                configs[side] = folder / side / "pinmon.toml"
                configs[side].write_text(
                    f'[pinterest]\nbase_url = "{base_url}"\naccess_token = "bench-token"\n'
                    f'ad_accounts = ["549755885175"]\n[monitor]\nstate = "{state}"\n'
                    '[[routes]]\nname = "sink"\nevents = ["*"]\napprise = ["json://127.0.0.1:9/"]\n'
                )
            baseline = {side: run_once(code, configs[side], folder) for side, code in sides.items()}
            steady: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(args.runs):
                for side, code in sides.items():
                    rc, cpu = run_once(code, configs[side], folder)
                    assert rc == 0, f"{side}: exit {rc}"
                    steady[side].append(cpu)
        finally:
            sim.terminate()
            sim.wait(10)
    print(f"ads={args.ads} state={args.state} steady runs={args.runs} (CPU = user + system)")
    for side, code in sides.items():
        rc, cpu = baseline[side]
        runs = steady[side]
        print(f"{side:<8} {code!s:<40} baseline CPU {cpu:5.2f} s (exit {rc})  steady CPU "
              f"median {statistics.median(runs):5.2f} s  best {min(runs):5.2f} s  "
              f"[{', '.join(f'{r:.2f}' for r in runs)}]")  # fmt: skip
    ratio = statistics.median(steady["this"]) / statistics.median(steady["against"])
    best = min(steady["this"]) / min(steady["against"])
    print(f"this/against steady: median {ratio:.3f}  best {best:.3f}")


if __name__ == "__main__":
    main()
