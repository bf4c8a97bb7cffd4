"""Benchmark: how long `pinmon --help` takes, and which heavy modules `import monitor.cli` pulls in.

Goal: under 0.3 s, measured next to `python -c pass` in the same run (the interpreter's own
start-up is the floor no CLI can go below). Heavy modules (aiohttp, apprise,
prometheus_client, ...) must be imported by the commands that use them, not by the CLI
module: `pinmon --help`, `pinmon run --help` and a mistyped flag should not pay for them.

    python tests/benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.3
HEAVY = ("aiohttp", "apprise", "prometheus_client", "anyio", "structlog", "msgspec", "yaml")


def best_of(argv: list[str], runs: int) -> float:
    """The fastest of ``runs`` wall-clock runs of ``argv`` (the least disturbed by noise)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def imported_by(statement: str) -> list[str]:
    """Top-level packages in ``sys.modules`` after running ``statement`` in a fresh interpreter."""
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return sorted({name.split(".")[0] for name in json.loads(out.stdout)})


def slowest_imports(statement: str, top: int = 8) -> list[tuple[int, str]]:
    """The ``top`` imports by cumulative microseconds, from ``python -X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line.split("|"))
            rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    pinmon = shutil.which("pinmon", path=str(Path(sys.executable).parent)) or shutil.which("pinmon")
    if pinmon is None:
        sys.exit("pinmon is not installed in this environment (pip install -e .)")
    env_note = f"python {sys.version.split()[0]} on {os.uname().machine}, best of {args.runs}"
    baseline = best_of([sys.executable, "-c", "pass"], args.runs)
    help_s = best_of([pinmon, "--help"], args.runs)
    run_help_s = best_of([pinmon, "run", "--help"], args.runs)
    print(f"# start-up ({env_note})")
    print(f"python -c pass        {baseline * 1000:7.1f} ms   (baseline)")
    print(f"pinmon --help         {help_s * 1000:7.1f} ms   goal < {GOAL_S * 1000:.0f} ms")
    print(f"pinmon run --help     {run_help_s * 1000:7.1f} ms")
    print(f"pinmon over baseline  {(help_s - baseline) * 1000:7.1f} ms")
    # For scale: what `pinmon run` pays on top, once, for the daemon and the health listener.
    for module in ("monitor.daemon", "monitor.health"):
        took = best_of([sys.executable, "-c", f"import {module}"], max(3, args.runs // 3))
        print(f"import {module:<15}{took * 1000:7.1f} ms   (run path, not --help)")
    modules = imported_by("import monitor.cli")
    heavy = [name for name in HEAVY if name in modules]
    print()
    print("# heavy modules imported by `import monitor.cli`:", ", ".join(heavy) or "none")
    print("# slowest imports of `import monitor.cli` (cumulative):")
    for micros, name in slowest_imports("import monitor.cli"):
        print(f"  {micros / 1000:7.1f} ms  {name}")
    verdict = "PASS" if help_s < GOAL_S and not heavy else "FAIL"
    print()
    print(f"{verdict}: pinmon --help {help_s:.3f} s (goal < {GOAL_S} s), heavy imports: {heavy}")


if __name__ == "__main__":
    main()
