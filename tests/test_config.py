"""Config loading: every shipped example loads, every bad input is one clear line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_config, parse_duration
from monitor.errors import ConfigError
from monitor.models import Kind

REPO = Path(__file__).resolve().parent.parent
ENV = {
    "PINTEREST_ACCESS_TOKEN": "pina_secret_token_123456",
    "SLACK_APPRISE_URL": "json://127.0.0.1:9/hook",
    "OPS_APPRISE_URL": "json://127.0.0.1:9/ops",
    "EVENTS_WEBHOOK_URL": "https://hooks.example.com/pinmon",
    "EVENTS_WEBHOOK_SECRET": "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==",
    "PINTEREST_CLIENT_SECRET": "client-secret-123456",
    "PINTEREST_REFRESH_TOKEN": "refresh-123456",
}
GOOD = """
[pinterest]
access_token = "${PINTEREST_ACCESS_TOKEN}"
ad_accounts = ["549755885175"]

[monitor]
interval = "5m"
state = "pinmon-state.db"

[[routes]]
name = "rejections-to-slack"
events = ["ad.rejected"]
apprise = ["json://127.0.0.1:9/hook"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pinmon.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    """Each example under config/ is valid with its variables set."""
    config = load_config(path, env=ENV)
    assert config.routes


def test_issue_example_keys_work_as_written(tmp_path: Path) -> None:
    """The documented minimal keys parse to the values they say."""
    config = load_config(write(tmp_path, GOOD), env=ENV)
    assert config.pinterest.access_token is not None
    assert config.pinterest.access_token.reveal() == ENV["PINTEREST_ACCESS_TOKEN"]
    assert config.pinterest.ad_accounts == ("549755885175",)
    assert config.pinterest.base_url == "https://api.pinterest.com/v5"
    assert config.pinterest.entity_statuses == ("ACTIVE", "PAUSED", "ARCHIVED")
    assert config.monitor.interval_s == 300.0
    assert config.monitor.state == tmp_path / "pinmon-state.db"
    assert config.monitor.entities == (Kind.AD,)
    assert config.routes[0].events == ("ad.rejected",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("2d", 172800.0), (45, 45.0)],
)
def test_durations(text: object, expected: float) -> None:
    """Durations accept units and plain seconds."""
    assert parse_duration(text) == expected


BAD = [
    (
        "missing variable",
        GOOD.replace("${PINTEREST_ACCESS_TOKEN}", "${NOPE_TOKEN}"),
        "pinterest.access_token: environment variable NOPE_TOKEN is not set",
    ),
    ("bad interval", GOOD.replace('"5m"', '"soon"'), "monitor.interval: 'soon' is not a duration"),
    ("zero interval", GOOD.replace('"5m"', "0"), "monitor.interval: must be greater than zero"),
    (
        "bad account id",
        GOOD.replace('"549755885175"', '"act_1"'),
        "pinterest.ad_accounts: item 0: 'act_1' is not an ad account id",
    ),
    (
        "unknown key",
        GOOD.replace("[monitor]", "[monitor]\nintervall = 3"),
        "monitor.intervall: unknown key",
    ),
    (
        "no token",
        GOOD.replace('access_token = "${PINTEREST_ACCESS_TOKEN}"', ""),
        "pinterest.access_token: required",
    ),
    ("no routes", GOOD.split("[[routes]]")[0], "routes: at least one [[routes]] entry"),
    (
        "route without target",
        GOOD.replace('apprise = ["json://127.0.0.1:9/hook"]', ""),
        "routes[0].apprise: a route needs at least one target",
    ),
    (
        "bad apprise url",
        GOOD.replace("json://127.0.0.1:9/hook", "nope://secretpart/x"),
        "routes[0].apprise[0]:",
    ),
    (
        "bad status",
        GOOD.replace("[monitor]", "[monitor]\n").replace(
            'ad_accounts = ["549755885175"]', 'entity_statuses = ["LIVE"]'
        ),
        "pinterest.entity_statuses: item 0: 'LIVE' is not one of",
    ),
    (
        "bad entities",
        GOOD.replace("[monitor]", '[monitor]\nentities = ["pins"]'),
        "monitor.entities: 'pins' is not one of ads, ad_groups, campaigns",
    ),
    (
        "wrong type",
        GOOD.replace("[monitor]", '[monitor]\nconcurrency = "many"'),
        "monitor.concurrency: expected a whole number, got str",
    ),
    ("invalid toml", "[pinterest\n", "invalid TOML"),
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_key_and_reason(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """Each invalid config raises one line naming the file, the key and the reason."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    assert any(line.startswith(f"{path}: ") and expected in line for line in info.value.problems), (
        info.value.problems
    )
    assert "secretpart" not in str(info.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    """Several mistakes are reported together, one line each."""
    text = GOOD.replace('"5m"', '"soon"').replace('"549755885175"', '"x"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=ENV)
    assert len(info.value.problems) == 2


def test_secret_never_in_repr(tmp_path: Path) -> None:
    """The parsed config's repr does not show the token or the target URLs."""
    config = load_config(write(tmp_path, GOOD), env=ENV)
    assert ENV["PINTEREST_ACCESS_TOKEN"] not in repr(config)
    assert "json://" not in repr(config)


@pytest.mark.parametrize(
    "text",
    [GOOD.replace('"5m"', '"soon"'), "[pinterest\n", None],
    ids=["invalid value", "invalid toml", "missing file"],
)
def test_cli_bad_config_exit_2_without_traceback(tmp_path: Path, text: str | None) -> None:
    """`pinmon run` on a bad config prints clear lines, no traceback, and exits 2."""
    path = tmp_path / "pinmon.toml" if text is None else write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--once", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PINTEREST_ACCESS_TOKEN": "tok_abcdef123"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"pinmon: {path}: " in proc.stderr


def test_example_documents_every_key() -> None:
    """Every key the loader reads appears (set or commented) in config/monitor.example.toml."""
    import re

    source = "".join(p.read_text() for p in (REPO / "monitor" / "config").glob("*.py"))
    keys = set(re.findall(r'\.get\(\s*"([a-z_]+)"', source)) - {"url", "secret", "title", "body"}
    keys -= {"routes", "watch"}  # tables: [[routes]] and [monitor.watch]
    example = (REPO / "config" / "monitor.example.toml").read_text()
    missing = sorted(k for k in keys if not re.search(rf"^#? ?{k} = ", example, re.MULTILINE))
    assert missing == []
