"""Load the TOML config once, at the boundary, into frozen typed objects.

Every problem is reported as one line naming the file, the key and the reason, and all of
them are collected before failing, so a user fixes the whole file in one pass.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.config.fields import (
    _account_id,
    _bool,
    _default_state,
    _entity_status,
    _interpolate,
    _nonempty_str,
    _pos_int,
    _Reader,
    _secret,
    _state_path,
    _str_list,
    _table,
    _url,
    duration_or_zero,
    parse_duration,
    parse_size,
)
from monitor.config.routes import _check_apprise_urls, _parse_routes
from monitor.config.types import (
    DEFAULT_BASE_URL,
    ENTITY_STATUSES,
    AnalyticsConfig,
    Config,
    LandingConfig,
    MonitorConfig,
    PinterestConfig,
    PluginTarget,
    Route,
    Secret,
    Template,
    WebConfig,
    WebhookTarget,
)
from monitor.config.unreachable import config_warnings
from monitor.errors import ConfigError
from monitor.models import DEFAULT_WATCHED, Kind


def _parse_pinterest(r: _Reader) -> PinterestConfig:
    d = PinterestConfig()
    cfg = PinterestConfig(
        base_url=r.get("base_url", d.base_url, _url),
        access_token=r.get("access_token", None, _secret),
        client_id=r.get("client_id", None, _nonempty_str),
        client_secret=r.get("client_secret", None, _secret),
        refresh_token=r.get("refresh_token", None, _secret),
        ad_accounts=r.get("ad_accounts", (), _str_list(_account_id)),
        entity_statuses=r.get("entity_statuses", d.entity_statuses, _str_list(_entity_status)),
        page_size=r.get("page_size", d.page_size, _pos_int(250)),
        timeout_s=r.get("timeout", d.timeout_s, parse_duration),
        retries=r.get("retries", d.retries, _pos_int(20)),
        requests_per_minute=r.get("requests_per_minute", d.requests_per_minute, _pos_int(100_000)),
        max_body_bytes=r.get("max_response_size", d.max_body_bytes, parse_size),
    )
    if cfg.access_token is None and cfg.refresh_token is None:
        r.problem("access_token", "required (or refresh_token with client_id and client_secret)")
    if cfg.refresh_token is not None and (cfg.client_id is None or cfg.client_secret is None):
        r.problem("refresh_token", "needs client_id and client_secret to refresh")
    if "entity_statuses" in r.table and not cfg.entity_statuses:
        r.problem("entity_statuses", "must name at least one status")
    r.unknown()
    return cfg


def _entities(value: Any) -> tuple[Kind, ...]:
    names = _str_list()(value)
    kinds = []
    for name in names:
        match = [k for k in Kind if k.plural == name]
        if not match:
            raise ValueError(f"{name!r} is not one of ads, ad_groups, campaigns")
        kinds.append(match[0])
    if not kinds:
        raise ValueError("must name at least one of ads, ad_groups, campaigns")
    return tuple(dict.fromkeys(kinds))


def _parse_watch(r: _Reader) -> dict[Kind, tuple[str, ...]]:
    """``[monitor.watch]``: extra fields per kind, added to the defaults."""
    watch = dict(DEFAULT_WATCHED)
    table: dict[str, Any] = r.get("watch", {}, _table)
    sub = _Reader(table, r.key("watch"), r.problems)
    for kind in Kind:
        extra: tuple[str, ...] = sub.get(kind.plural, (), _str_list())
        watch[kind] = tuple(dict.fromkeys((*DEFAULT_WATCHED[kind], *extra)))
    sub.unknown()
    return watch


def _listen(value: Any) -> tuple[str, int]:
    from monitor.health import parse_listen

    return parse_listen(value)


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


def _parse_monitor(r: _Reader, base: Path) -> MonitorConfig:
    d = MonitorConfig()
    return MonitorConfig(
        interval_s=r.get("interval", d.interval_s, parse_duration),
        jitter_s=r.get("jitter", d.jitter_s, duration_or_zero),
        state=r.get("state", _default_state(base), _state_path(base)),
        entities=r.get("entities", d.entities, _entities),
        watch=_parse_watch(r),
        concurrency=r.get("concurrency", d.concurrency, _pos_int(64)),
        shutdown_grace_s=r.get("shutdown_grace", d.shutdown_grace_s, duration_or_zero),
        send_timeout_s=r.get("send_timeout", d.send_timeout_s, parse_duration),
        retention_s=r.get("retention", d.retention_s, parse_duration),
        failing_after=r.get("failing_after", d.failing_after, _pos_int(1000)),
        listen=r.get("listen", None, _listen),
        report_on_start=r.get("report_on_start", d.report_on_start, _bool),
        stream_above=r.get("stream_above", d.stream_above, _non_negative_int),
        fast_interval_s=r.get("fast_interval", d.fast_interval_s, duration_or_zero),
        fast_window_s=r.get("fast_window", d.fast_window_s, parse_duration),
        fast_share=r.get("fast_share", d.fast_share, _share),
        review_stuck_after_s=r.get("review_stuck_after", d.review_stuck_after_s, duration_or_zero),
    )


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not 0 < value <= 1:
        raise ValueError("must be more than 0 and at most 1 (a share of the budget)")
    return float(value)


def load_config(
    path: str | Path, *, env: Mapping[str, str] | None = None, check_targets: bool = True
) -> Config:
    """Read, interpolate and validate a config file.

    Args:
        path: The TOML file.
        env: Where ``${VAR}`` is read (the process environment by default).
        check_targets: Ask apprise whether it can load every apprise URL. Commands that
            only read the state (`status`, `events`, ...) never send, and skip it: loading
            apprise's plugins is most of their run time.

    Raises:
        ConfigError: with one ``file: key: reason`` line per problem.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    problems: list[str] = []
    data = _interpolate(raw, "", os.environ if env is None else env, problems)
    top = _Reader(data, "", problems)
    tables: dict[str, dict[str, Any]] = {}
    for name in ("pinterest", "monitor", "web", "landing_pages", "analytics"):
        tables[name] = top.get(name, {}, _table)
    if "pinterest" not in data:
        problems.append("pinterest: missing table [pinterest]")
    pinterest = _parse_pinterest(_Reader(tables["pinterest"], "pinterest", problems))
    mon_reader = _Reader(tables["monitor"], "monitor", problems)
    monitor = _parse_monitor(mon_reader, path.resolve().parent)
    mon_reader.unknown()
    web_reader = _Reader(tables["web"], "web", problems)
    web = WebConfig(token=web_reader.get("token", None, _secret))
    web_reader.unknown()
    landing = _parse_landing(_Reader(tables["landing_pages"], "landing_pages", problems), monitor)
    analytics = _parse_analytics(_Reader(tables["analytics"], "analytics", problems))
    top.used.add("routes")
    routes = _parse_routes(data.get("routes", []), problems)
    if not routes:
        problems.append(
            "routes: at least one [[routes]] entry is needed, or no one hears of changes"
        )
    top.unknown()
    if check_targets:
        _check_apprise_urls(routes, problems)
    if problems:
        raise ConfigError([f"{path}: {p}" for p in problems])
    warnings = config_warnings(pinterest, monitor, routes)
    return Config(
        path=path,
        pinterest=pinterest,
        monitor=monitor,
        routes=routes,
        warnings=tuple(f"{path}: {w}" for w in warnings),
        web=web,
        landing=landing,
        analytics=analytics,
    )


def _parse_landing(r: _Reader, monitor: MonitorConfig) -> LandingConfig:
    d = LandingConfig()
    landing = LandingConfig(
        on_rejection=r.get("on_rejection", d.on_rejection, _bool),
        check_every_s=r.get("check_every", d.check_every_s, duration_or_zero),
        timeout_s=r.get("timeout", d.timeout_s, parse_duration),
        max_redirects=r.get("max_redirects", d.max_redirects, _non_negative_int),
        concurrency=r.get("concurrency", d.concurrency, _pos_int(64)),
    )
    if landing.check_every_s and "destination_url" not in monitor.watch[Kind.AD]:
        r.problem(
            "check_every",
            'needs "destination_url" among the watched ad fields ([monitor.watch] ads)',
        )
    r.unknown()
    return landing


def _parse_analytics(r: _Reader) -> AnalyticsConfig:
    d = AnalyticsConfig()
    analytics = AnalyticsConfig(
        enabled=r.get("enabled", d.enabled, _bool),
        requests_per_minute=r.get("requests_per_minute", d.requests_per_minute, _pos_int(100_000)),
        wait_s=r.get("wait", d.wait_s, duration_or_zero),
        cache_for_s=r.get("cache_for", d.cache_for_s, duration_or_zero),
    )
    if analytics.wait_s > _MAX_WAIT_S:
        # An alert held for figures longer than this is an alert late for them.
        r.problem("wait", f"at most {_MAX_WAIT_S:g} s: an alert must not wait on figures")
    r.unknown()
    return analytics


#: The longest ``[analytics] wait`` allowed.
_MAX_WAIT_S = 30.0


__all__ = [
    "DEFAULT_BASE_URL",
    "ENTITY_STATUSES",
    "AnalyticsConfig",
    "Config",
    "LandingConfig",
    "MonitorConfig",
    "PinterestConfig",
    "PluginTarget",
    "Route",
    "Secret",
    "Template",
    "WebConfig",
    "WebhookTarget",
    "load_config",
    "parse_duration",
]
