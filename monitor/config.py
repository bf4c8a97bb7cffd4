"""Load the TOML config once, at the boundary, into frozen typed objects.

Every problem is reported as one line naming the file, the key and the reason, and all of
them are collected before failing, so a user fixes the whole file in one pass.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from monitor.errors import ConfigError
from monitor.models import DEFAULT_WATCHED, Kind

DEFAULT_BASE_URL: Final = "https://api.pinterest.com/v5"
ENTITY_STATUSES: Final = ("ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT")
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ACCOUNT_ID = re.compile(r"^\d+$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Secret:
    """A string that never shows itself in a repr, a log line or an error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class PinterestConfig:
    """The ``[pinterest]`` table."""

    base_url: str = DEFAULT_BASE_URL
    access_token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    ad_accounts: tuple[str, ...] = ()
    entity_statuses: tuple[str, ...] = ("ACTIVE", "PAUSED", "ARCHIVED")
    page_size: int = 250
    timeout_s: float = 60.0
    retries: int = 4
    requests_per_minute: int = 1000


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """The ``[monitor]`` table."""

    interval_s: float = 300.0
    jitter_s: float = 0.0
    state: Path | str = Path("pinmon-state.db")  # a SQLite file, or a postgresql:// URL
    entities: tuple[Kind, ...] = (Kind.AD,)
    watch: Mapping[Kind, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_WATCHED))
    concurrency: int = 4
    shutdown_grace_s: float = 10.0
    send_timeout_s: float = 30.0
    retention_s: float = 30 * 86400.0
    failing_after: int = 3
    listen: tuple[str, int] | None = None
    report_on_start: bool = False


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One ``webhooks = [{ url = ..., secret = ... }]`` entry of a route.

    Attributes:
        url: Where events are POSTed (a Secret: such URLs often carry a token).
        secrets: ``whsec_...`` signing secrets; several during a rotation, each signs.
    """

    url: Secret
    secrets: tuple[Secret, ...]


@dataclass(frozen=True, slots=True)
class PluginTarget:
    """A target of a third-party notifier kind, registered as a ``pinmon.notifiers``
    entry point and configured from a route key of its name: ``myqueue = [{...}]``."""

    kind: str
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Template:
    """A route's own message template (``string.Template``: ``$name``, ``${reasons}``...)."""

    title: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One ``[[routes]]`` entry: which events go to which targets, and how they read.

    Matching: every criterion set must hold (type globs, accounts, campaigns, changed
    fields, new values). Routes are tried in order; every matching route receives the
    event, unless a matching route says ``continue = false``, which stops the search
    (Alertmanager's semantics, inverted default). ``fallback`` routes receive only what
    no other route took.
    """

    name: str
    events: tuple[str, ...] = ("*",)
    apprise: tuple[Secret, ...] = ()
    accounts: tuple[str, ...] = ()
    webhooks: tuple[WebhookTarget, ...] = ()
    plugins: tuple[PluginTarget, ...] = ()
    campaigns: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    continue_: bool = True
    fallback: bool = False
    template: Template | None = None
    repeat_after_s: float | None = None
    group_wait_s: float = 30.0
    max_items: int = 20


@dataclass(frozen=True, slots=True)
class Config:
    """The whole parsed configuration."""

    path: Path
    pinterest: PinterestConfig
    monitor: MonitorConfig
    routes: tuple[Route, ...]


def parse_duration(value: object) -> float:
    """``"5m"``, ``"1h30m"``, ``"30s"``, ``"2d"`` or a number of seconds → seconds.

    Raises:
        ValueError: not a duration, or not positive.
    """
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "30s", "5m" or a number of seconds')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f'{value!r} is not a duration such as "30s", "5m", "1h" or "2d"')
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    else:
        raise ValueError('expected a duration such as "30s", "5m" or a number of seconds')
    if seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


def _interpolate(value: Any, key: str, env: Mapping[str, str], problems: list[str]) -> Any:
    """Replace ``${VAR}`` from the environment in every string; ``$$`` is a literal ``$``."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "$"
            if name not in env:
                problems.append(f"{key}: environment variable {name} is not set")
                return ""
            return env[name]

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [_interpolate(v, f"{key}[{i}]", env, problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{key}.{k}" if key else k, env, problems) for k, v in value.items()
        }
    return value


T = TypeVar("T")


class _Reader:
    """Typed access to one table that records a problem instead of raising."""

    def __init__(self, table: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
        self.table = table
        self.prefix = prefix
        self.problems = problems
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(f"{self.key(name)}: {reason}")

    def get(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        self.used.add(name)
        if name not in self.table:
            return default
        try:
            return convert(self.table[name])
        except (ValueError, TypeError) as exc:
            self.problem(name, str(exc))
            return default

    def unknown(self) -> None:
        for name in self.table:
            if name not in self.used:
                self.problem(name, "unknown key")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _nonempty_str(value: Any) -> str:
    text = _str(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _secret(value: Any) -> Secret:
    return Secret(_nonempty_str(value))


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _pos_int(limit: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {type(value).__name__}")
        if not 1 <= value <= limit:
            raise ValueError(f"must be between 1 and {limit}")
        return value

    return convert


def _str_list(check: Callable[[str], str | None] | None = None) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list of strings, got {type(value).__name__}")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise TypeError(f"item {i} must be a non-empty string")
            if check is not None and (reason := check(item)) is not None:
                raise ValueError(f"item {i}: {reason}")
            out.append(item)
        return tuple(out)

    return convert


def _account_id(item: str) -> str | None:
    return None if _ACCOUNT_ID.match(item) else f"{item!r} is not an ad account id (digits only)"


def _entity_status(item: str) -> str | None:
    return (
        None if item in ENTITY_STATUSES else f"{item!r} is not one of {', '.join(ENTITY_STATUSES)}"
    )


def _url(value: Any) -> str:
    text = _nonempty_str(value).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("expected an http:// or https:// URL")
    return text


def _default_state(base: Path) -> Path | str:
    return base / "pinmon-state.db"


def _state_path(base: Path) -> Callable[[Any], Path | str]:
    def convert(value: Any) -> Path | str:
        text = _nonempty_str(value)
        if text.startswith(("postgresql://", "postgres://")):
            return text  # a URL stays a URL; Path() would fold its '//'
        path = Path(text).expanduser()
        # Relative to the config file, so a service finds the same file whatever its cwd.
        return path if path.is_absolute() else base / path

    return convert


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


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a table, got {type(value).__name__}")
    return value


def _listen(value: Any) -> tuple[str, int]:
    from monitor.health import parse_listen

    return parse_listen(value)


def _parse_monitor(r: _Reader, base: Path) -> MonitorConfig:
    d = MonitorConfig()
    return MonitorConfig(
        interval_s=r.get("interval", d.interval_s, parse_duration),
        jitter_s=r.get("jitter", d.jitter_s, parse_duration),
        state=r.get("state", _default_state(base), _state_path(base)),
        entities=r.get("entities", d.entities, _entities),
        watch=_parse_watch(r),
        concurrency=r.get("concurrency", d.concurrency, _pos_int(64)),
        shutdown_grace_s=r.get("shutdown_grace", d.shutdown_grace_s, parse_duration),
        send_timeout_s=r.get("send_timeout", d.send_timeout_s, parse_duration),
        retention_s=r.get("retention", d.retention_s, parse_duration),
        failing_after=r.get("failing_after", d.failing_after, _pos_int(1000)),
        listen=r.get("listen", None, _listen),
        report_on_start=r.get("report_on_start", d.report_on_start, _bool),
    )


def _parse_routes(value: Any, problems: list[str]) -> tuple[Route, ...]:
    if not isinstance(value, list):
        problems.append("routes: expected an array of tables ([[routes]])")
        return ()
    routes = []
    names: set[str] = set()
    for i, item in enumerate(value):
        prefix = f"routes[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{prefix}: expected a table")
            continue
        r = _Reader(item, prefix, problems)
        name = r.get("name", f"route-{i + 1}", _nonempty_str)
        if "name" in item and not _ROUTE_NAME.match(name):
            r.problem("name", "use letters, digits, '-', '_' or '.'")
        if name in names:
            r.problem("name", f"duplicate route name {name!r}")
        names.add(name)
        route = Route(
            name=name,
            events=r.get("events", ("*",), _str_list()),
            apprise=r.get("apprise", (), lambda v: tuple(Secret(u) for u in _str_list()(v))),
            accounts=r.get("accounts", (), _str_list(_account_id)),
            webhooks=r.get("webhooks", (), _webhooks),
            campaigns=r.get("campaigns", (), _str_list(_digits)),
            fields=r.get("fields", (), _str_list()),
            when=r.get("when", {}, _when),
            continue_=r.get("continue", True, _bool),
            fallback=r.get("fallback", False, _bool),
            template=r.get("template", None, _template),
            repeat_after_s=r.get("repeat_after", None, parse_duration),
            group_wait_s=r.get("group_wait", 30.0, _duration_or_zero),
            max_items=r.get("max_items", 20, _pos_int(500)),
            plugins=_plugin_targets(r),
        )
        if not (route.apprise or route.webhooks or route.plugins):
            r.problem("apprise", "a route needs at least one target (apprise, webhooks, ...)")
        r.unknown()
        routes.append(route)
    return tuple(routes)


def _webhooks(value: Any) -> tuple[WebhookTarget, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of tables, got {type(value).__name__}")
    targets = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise TypeError(f"item {i} must be a table {{ url = ..., secret = ... }}")
        unknown = set(item) - {"url", "secret"}
        if unknown:
            raise ValueError(f"item {i}: unknown key {sorted(unknown)[0]!r}")
        try:
            url = _url(item.get("url"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"item {i}: url: {exc}") from None
        raw = item.get("secret")
        listed: list[Any] = raw if isinstance(raw, list) else [raw]
        secrets = [s for s in listed if isinstance(s, str) and s]
        if not secrets or len(secrets) != len(listed):
            raise ValueError(f"item {i}: secret: a whsec_... string (or a list during a rotation)")
        for s in secrets:
            if not s.startswith("whsec_"):
                raise ValueError(f"item {i}: secret: must start with whsec_ (Standard Webhooks)")
        targets.append(WebhookTarget(Secret(url), tuple(Secret(s) for s in secrets)))
    return tuple(targets)


def _plugin_targets(r: _Reader) -> tuple[PluginTarget, ...]:
    """Route keys naming an installed ``pinmon.notifiers`` entry point become targets."""
    from monitor.notify.plugins import plugin_names

    names = plugin_names()
    targets = []
    for key, value in r.table.items():
        if key in r.used or key in _ROUTE_KEYS or key not in names:
            continue
        r.used.add(key)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                r.problem(key, f"item {i} must be a table of options")
                continue
            targets.append(PluginTarget(key, dict(item)))
    return tuple(targets)


_ROUTE_KEYS: Final = frozenset(
    {
        "name",
        "events",
        "apprise",
        "accounts",
        "webhooks",
        "campaigns",
        "fields",
        "when",
        "continue",
        "fallback",
        "template",
        "repeat_after",
        "group_wait",
        "max_items",
    }
)


def _digits(item: str) -> str | None:
    return None if _ACCOUNT_ID.match(item) else f"{item!r} is not an id (digits only)"


def _when(value: Any) -> dict[str, tuple[str, ...]]:
    """``when = { summary_status = "REJECTED" }`` or a list of accepted values."""
    table = _table(value)
    out: dict[str, tuple[str, ...]] = {}
    for key, accepted in table.items():
        values = accepted if isinstance(accepted, list) else [accepted]
        if not values or not all(isinstance(v, str | bool | int) for v in values):
            raise ValueError(f"{key}: expected a value or a list of values")
        out[key] = tuple(str(v) for v in values)
    return out


def _template(value: Any) -> Template:
    table = _table(value)
    unknown = set(table) - {"title", "body"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (title, body)")
    for key in ("title", "body"):
        if key in table and not isinstance(table[key], str):
            raise TypeError(f"{key}: expected a string")
    from monitor.render.templates import check_template

    for key in ("title", "body"):
        if key in table and (problem := check_template(table[key])) is not None:
            raise ValueError(f"{key}: {problem}")
    return Template(title=table.get("title"), body=table.get("body"))


def _duration_or_zero(value: Any) -> float:
    if value == 0 or value == "0s" or value == "0":
        return 0.0
    return parse_duration(value)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate a config file.

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
    for name in ("pinterest", "monitor"):
        tables[name] = top.get(name, {}, _table)
    if "pinterest" not in data:
        problems.append("pinterest: missing table [pinterest]")
    pinterest = _parse_pinterest(_Reader(tables["pinterest"], "pinterest", problems))
    mon_reader = _Reader(tables["monitor"], "monitor", problems)
    monitor = _parse_monitor(mon_reader, path.resolve().parent)
    mon_reader.unknown()
    top.used.add("routes")
    routes = _parse_routes(data.get("routes", []), problems)
    if not routes:
        problems.append(
            "routes: at least one [[routes]] entry is needed, or no one hears of changes"
        )
    top.unknown()
    _check_apprise_urls(routes, problems)
    if problems:
        raise ConfigError([f"{path}: {p}" for p in problems])
    return Config(path=path, pinterest=pinterest, monitor=monitor, routes=routes)


def _check_apprise_urls(routes: tuple[Route, ...], problems: list[str]) -> None:
    """Reject URLs apprise cannot load, without ever echoing the URL (it holds credentials)."""
    if not any(r.apprise for r in routes):
        return
    from monitor.notify.apprise import apprise_url_problem

    for i, route in enumerate(routes):
        for j, url in enumerate(route.apprise):
            reason = apprise_url_problem(url.reveal())
            if reason is not None:
                problems.append(f"routes[{i}].apprise[{j}]: {reason}")
