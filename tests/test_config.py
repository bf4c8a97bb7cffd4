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


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("jitter", '"0s"'),
        ("jitter", "0"),
        ("jitter", '"0"'),
        ("jitter", "0.0"),
        ("shutdown_grace", '"0s"'),
    ],
)
def test_zero_is_a_valid_jitter_and_shutdown_grace(tmp_path: Path, key: str, value: str) -> None:
    """No jitter and no grace period are meanings, not mistakes: zero loads as 0 seconds."""
    config = load_config(write(tmp_path, GOOD.replace("[monitor]", f"[monitor]\n{key} = {value}")), env=ENV)
    assert getattr(config.monitor, f"{key}_s") == 0.0


def test_zero_group_wait_in_any_unit(tmp_path: Path) -> None:
    """`group_wait = "0m"` means "send at once" like "0s" (only "0s" and "0" worked before)."""
    text = GOOD.replace('events = ["ad.rejected"]', 'events = ["ad.rejected"]\ngroup_wait = "0m"')
    assert load_config(write(tmp_path, text), env=ENV).routes[0].group_interval_s == 0.0


def test_group_wait_is_read_as_group_interval_and_not_both(tmp_path: Path) -> None:
    """An existing `group_wait` keeps pacing its route (the setting's old name); setting
    both names is a mistake named by file and key."""
    route = 'events = ["ad.rejected"]'
    for key in ("group_wait", "group_interval"):
        text = GOOD.replace(route, f'{route}\n{key} = "5m"')
        assert load_config(write(tmp_path, text), env=ENV).routes[0].group_interval_s == 300.0
    assert load_config(write(tmp_path, GOOD), env=ENV).routes[0].group_interval_s == 30.0
    both = GOOD.replace(route, f'{route}\ngroup_wait = "5m"\ngroup_interval = "1m"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, both), env=ENV)
    assert "routes[0].group_wait" in str(info.value)
    assert "pinmon.toml" in str(info.value)


NEVER_ZERO = [
    ("[pinterest]", "timeout", "0"),
    ("[monitor]", "interval", '"0s"'),
    ("[monitor]", "send_timeout", '"0s"'),
    ("[monitor]", "retention", "0"),
    ('events = ["ad.rejected"]', "repeat_after", '"0h"'),
]


@pytest.mark.parametrize(("table", "key", "value"), NEVER_ZERO, ids=[k for _, k, _ in NEVER_ZERO])
def test_durations_that_must_stay_positive(tmp_path: Path, table: str, key: str, value: str) -> None:
    """A zero interval, timeout, retention or reminder period is refused with its key."""
    text = GOOD.replace('interval = "5m"', "") if key == "interval" else GOOD
    text = text.replace(table, f"{table}\n{key} = {value}", 1)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=ENV)
    assert any(f".{key}: must be greater than zero" in line for line in info.value.problems), (
        info.value.problems
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [(-5, "must not be negative"), (float("inf"), "finite"), (float("nan"), "finite")],
)
def test_durations_must_be_finite_and_not_negative(value: float, reason: str) -> None:
    """TOML's inf and nan, and negative numbers, are not durations, zero allowed or not."""
    for zero_ok in (False, True):
        with pytest.raises(ValueError, match=reason):
            parse_duration(value, zero_ok=zero_ok)


ROUTE = GOOD.split("[[routes]]")[0]

WARNINGS = [
    (
        "event glob matching nothing",
        'events = ["ad.reject"]',
        "routes[0].events[0]: 'ad.reject' matches no event type (did you mean 'ad.rejected'?)",
    ),
    (
        "ops glob matching nothing",
        'events = ["monitor.auth_error"]',
        "routes[0].events[0]: 'monitor.auth_error' matches no event type",
    ),
    (
        "summary_status outside its enum",
        'when = { summary_status = "REJECTD" }',
        "routes[0].when.summary_status: 'REJECTD' is not a summary_status value Pinterest sends"
        " (did you mean 'REJECTED'?)",
    ),
    (
        "review_status in the wrong case",
        'when = { review_status = ["REJECTED", "approved"] }',
        "routes[0].when.review_status: 'approved' is not a review_status value Pinterest sends"
        " (OTHER, PENDING, REJECTED, APPROVED) (did you mean 'APPROVED'?)",
    ),
    (
        "rejected reason outside its enum",
        'when = { rejected_reasons = "LANDINGPAGE_BROKEN" }',
        "routes[0].when.rejected_reasons: 'LANDINGPAGE_BROKEN' is not a rejected_reasons value",
    ),
    (
        "when on a field nobody watches",
        'events = ["ad.*"]\nwhen = { destination_url = "https://example.com" }',
        "routes[0].when.destination_url: 'destination_url' is not a watched field",
    ),

    (
        "fields naming an unwatched field",
        'fields = ["reviewstatus"]',
        "routes[0].fields[0]: 'reviewstatus' is not a watched field, so it never changes"
        " (did you mean 'review_status'?)",
    ),
    (
        "route account not polled",
        'accounts = ["111222333"]',
        "routes[0].accounts[0]: '111222333' is not in pinterest.ad_accounts",
    ),
]


@pytest.mark.parametrize(("name", "line", "expected"), WARNINGS, ids=[w[0] for w in WARNINGS])
def test_config_that_can_never_match_loads_with_one_warning(
    tmp_path: Path, name: str, line: str, expected: str
) -> None:
    """Valid but unmatchable route criteria load, with one warning naming file, key and reason."""
    text = ROUTE + f'[[routes]]\napprise = ["json://127.0.0.1:9/hook"]\n{line}\n'
    path = write(tmp_path, text)
    (warning,) = load_config(path, env=ENV).warnings
    assert warning.startswith(f"{path}: {expected}"), warning


MATCHABLE = [
    'events = ["ad.*", "campaign.status_changed", "monitor.*", "*"]',
    'when = { summary_status = ["REJECTED", "RUNNING"], status = "PAUSED" }',
    'when = { is_pin_deleted = true, rejected_reasons = "LANDING_PAGE_BROKEN" }',
    'accounts = ["549755885175"]',
    'fields = ["review_status"]',
    # monitor.* events carry their details as state: a route taking them may name those.
    'events = ["monitor.account_failing"]\nwhen = { failures = 3 }',
]


@pytest.mark.parametrize("line", MATCHABLE)
def test_matchable_criteria_warn_about_nothing(tmp_path: Path, line: str) -> None:
    """Known types, enum values, polled accounts and watched fields load without warnings."""
    text = ROUTE + f'[[routes]]\napprise = ["json://127.0.0.1:9/hook"]\n{line}\n'
    assert load_config(write(tmp_path, text), env=ENV).warnings == ()


def test_when_on_a_field_no_watched_kind_has_warns_even_for_every_type(tmp_path: Path) -> None:
    """Campaigns have no review_status: with only campaigns watched, that `when` never holds."""
    text = ROUTE.replace("[monitor]", '[monitor]\nentities = ["campaigns"]')
    text += '[[routes]]\napprise = ["json://127.0.0.1:9/hook"]\nwhen = { review_status = "REJECTED" }\n'
    path = write(tmp_path, text)
    (warning,) = load_config(path, env=ENV).warnings
    assert warning.startswith(
        f"{path}: routes[0].when.review_status: 'review_status' is not a watched field"
    )


def test_route_accounts_are_not_checked_when_every_account_is_watched(tmp_path: Path) -> None:
    """Without `pinterest.ad_accounts` pinmon polls what the token sees: any id may appear."""
    text = ROUTE.replace('ad_accounts = ["549755885175"]', "")
    text += '[[routes]]\napprise = ["json://127.0.0.1:9/hook"]\naccounts = ["111222333"]\n'
    assert load_config(write(tmp_path, text), env=ENV).warnings == ()


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_warn_about_nothing(path: Path) -> None:
    """The examples under config/ are free of unmatchable criteria."""
    assert load_config(path, env=ENV).warnings == ()


def _quick_failing_config(tmp_path: Path) -> Path:
    text = GOOD.replace("[pinterest]", '[pinterest]\nbase_url = "http://127.0.0.1:9/v5"\nretries = 1')
    return write(tmp_path, text.replace('events = ["ad.rejected"]', 'events = ["ad.reject"]'))


def test_check_shows_the_warnings(tmp_path: Path) -> None:
    """`pinmon check` prints each warning among what it shows (the API here is unreachable)."""
    path = _quick_failing_config(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(path)],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **ENV},
    )
    assert f"warning:   {path}: routes[0].events[0]: 'ad.reject' matches no event type" in proc.stdout


def test_run_logs_the_warnings_at_start(tmp_path: Path) -> None:
    """`pinmon run` logs each warning as a `config.warning` event before it polls."""
    import json

    path = _quick_failing_config(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--once", "-c", str(path), "--log-format", "json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **ENV},
    )
    assert proc.returncode == 1, proc.stderr  # the unreachable API fails the cycle
    first = json.loads(proc.stderr.splitlines()[0])
    assert first["event"] == "config.warning"
    assert first["level"] == "warning"
    assert "routes[0].events[0]: 'ad.reject' matches no event type" in first["warning"]
