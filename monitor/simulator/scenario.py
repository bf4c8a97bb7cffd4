"""Scenario files: the TOML that describes a simulated Pinterest and what happens to it.

A scenario holds accounts (nested campaigns, ad groups and ads, or a compact
``generate`` table), a ``timeline`` of steps, ``reviews`` (ads going through review on
the clock), ``faults`` armed from the start, and the ``auth`` and ``rate_limit``
settings. The format is documented key by key in docs/simulator.md; :func:`load_scenario`
reports every mistake at once as a :class:`~monitor.errors.ConfigError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from monitor.errors import ConfigError
from monitor.simulator.faults import Fault, parse_fault
from monitor.simulator.fields import check_fields
from monitor.simulator.generate import Generate
from monitor.simulator.reviews import ReviewStory, parse_review
from monitor.simulator.steps import Step, parse_step
from monitor.simulator.tables import (
    Problems,
    check_keys,
    get_bool,
    get_id,
    get_number,
    get_str,
    get_str_list,
    get_table,
    get_tables,
    join,
)

#: Entities' generated times are spread before this moment (2024-11-19T07:06:40Z) unless
#: the scenario sets ``start_time``: fixed, so the same scenario renders the same bytes.
DEFAULT_START_TIME: Final = 1_732_000_000


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One campaign, ad group or ad as written: an optional id, fields, and children."""

    id: str | None
    fields: Mapping[str, Any]
    children: tuple[EntitySpec, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One ad account as written."""

    id: str | None
    fields: Mapping[str, Any]
    campaigns: tuple[EntitySpec, ...] = ()
    generate: Generate | None = None
    shared: bool = False


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """The ``[auth]`` table: credentials the simulator accepts from the start."""

    access_tokens: tuple[str, ...] = ("demo-token",)
    refresh_tokens: tuple[str, ...] = ("demo-refresh-token",)
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"
    access_token_lifetime_s: float = 30 * 86_400
    refresh_token_lifetime_s: float = 60 * 86_400


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """The ``[rate_limit]`` table: requests per token-user per window (``ads_read``), and
    the overall ceiling per second (None: none, as before ``per_second`` existed)."""

    limit: int = 1000
    window_s: float = 60.0
    per_second: int | None = None
    #: The ``ads_analytics`` category's own budget per window.
    analytics: int = 300


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario file."""

    name: str
    source: str
    accounts: tuple[AccountSpec, ...]
    timeline: tuple[Step, ...] = ()
    reviews: tuple[ReviewStory, ...] = ()
    faults: tuple[Fault, ...] = ()
    auth: AuthSpec = field(default_factory=AuthSpec)
    rate_limit: RateLimitSpec = field(default_factory=RateLimitSpec)
    start_time: int = DEFAULT_START_TIME
    description: str = ""


_TOP_KEYS: Final = (
    "name",
    "description",
    "start_time",
    "auth",
    "rate_limit",
    "accounts",
    "timeline",
    "reviews",
    "faults",
)
_GENERATE_KEYS: Final = tuple(Generate.__dataclass_fields__)
#: Child key per kind (None for ads).
_CHILD: Final = {"campaigns": "ad_groups", "ad_groups": "ads", "ads": None}


def load_scenario(source: Path | str | Mapping[str, Any], *, name: str | None = None) -> Scenario:
    """Read a scenario from a TOML file, TOML text or an already-parsed mapping.

    Args:
        source: A path (``Path``, or a ``str`` naming an existing ``.toml`` file), TOML
            text, or a mapping with the same shape as the TOML (what tests build inline).
        name: The name used in problem lines when ``source`` is not a file.

    Raises:
        ConfigError: One line per problem, each naming the file, the key and the reason.
    """
    if isinstance(source, Mapping):
        return parse_scenario(source, source_name=name or "<scenario>")
    path = Path(source) if isinstance(source, Path) or source.endswith(".toml") else None
    label = str(path) if path is not None else (name or "<scenario>")
    try:
        text = path.read_text(encoding="utf-8") if path is not None else str(source)
    except OSError as exc:
        raise ConfigError([f"{label}: cannot read scenario: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{label}: invalid TOML: {exc}"]) from None
    return parse_scenario(data, source_name=label)


def parse_scenario(data: Mapping[str, Any], *, source_name: str) -> Scenario:
    """Validate a scenario mapping (see :func:`load_scenario`)."""
    p = Problems(source_name)
    check_keys(data, _TOP_KEYS, "", p)
    accounts = tuple(
        _account(t, join("accounts", i), p)
        for i, t in enumerate(get_tables(data, "accounts", "", p))
    )
    if not accounts and "accounts" not in data:
        p.add("accounts", "required: at least one [[accounts]] table")
    timeline = [
        parse_step(t, join("timeline", i), p)
        for i, t in enumerate(get_tables(data, "timeline", "", p))
    ]
    reviews = [
        parse_review(t, join("reviews", i), p)
        for i, t in enumerate(get_tables(data, "reviews", "", p))
    ]
    faults = [
        parse_fault(t, join("faults", i), p)
        for i, t in enumerate(get_tables(data, "faults", "", p))
    ]
    start = get_number(data, "start_time", "", p, integer=True)
    scenario = Scenario(
        name=get_str(data, "name", "", p) or Path(source_name).stem,
        source=source_name,
        accounts=accounts,
        timeline=tuple(s for s in timeline if s is not None),
        reviews=tuple(r for r in reviews if r is not None),
        faults=tuple(f for f in faults if f is not None),
        auth=_auth(get_table(data, "auth", "", p) or {}, p),
        rate_limit=_rate_limit(get_table(data, "rate_limit", "", p) or {}, p),
        start_time=int(start) if start is not None else DEFAULT_START_TIME,
        description=get_str(data, "description", "", p) or "",
    )
    _check_unique_ids(scenario, p)
    p.raise_if_any()
    return scenario


def _account(table: Mapping[str, Any], where: str, p: Problems) -> AccountSpec:
    reserved = ("id", "campaigns", "generate", "shared")
    fields = check_fields(
        "accounts", {k: v for k, v in table.items() if k not in reserved}, where, p
    )
    gen = get_table(table, "generate", where, p)
    return AccountSpec(
        id=get_id(table, "id", where, p),
        fields=fields,
        campaigns=_children("campaigns", table, where, p),
        generate=_generate(gen, join(where, "generate"), p) if gen is not None else None,
        shared=bool(get_bool(table, "shared", where, p)),
    )


def _children(
    kind: str, table: Mapping[str, Any], where: str, p: Problems
) -> tuple[EntitySpec, ...]:
    out = []
    for i, child in enumerate(get_tables(table, kind, where, p)):
        here = join(join(where, kind), i)
        sub = _CHILD[kind]
        reserved = {"id", sub} if sub else {"id"}
        fields = check_fields(kind, {k: v for k, v in child.items() if k not in reserved}, here, p)
        if kind == "ads" and "pin_id" in fields:
            get_id(fields, "pin_id", here, p)
        grandchildren = _children(sub, child, here, p) if sub else ()
        out.append(
            EntitySpec(id=get_id(child, "id", here, p), fields=fields, children=grandchildren)
        )
    return tuple(out)


def _generate(table: Mapping[str, Any], where: str, p: Problems) -> Generate | None:
    check_keys(table, _GENERATE_KEYS, where, p)
    values: dict[str, Any] = {}
    for key in _GENERATE_KEYS:
        integer = not key.endswith("_share")
        value = get_number(table, key, where, p, integer=integer)
        if value is not None:
            values[key] = value
    if "ads" not in values:
        p.add(join(where, "ads"), "required")
        return None
    if sum(v for k, v in values.items() if k.endswith("_share")) > 1:
        p.add(where, "the *_share values add up to more than 1")
    if values.get("campaigns", 1) < 1 or values.get("ad_groups_per_campaign", 1) < 1:
        p.add(where, "campaigns and ad_groups_per_campaign must be at least 1")
        return None
    return Generate(**values)


def _auth(table: Mapping[str, Any], p: Problems) -> AuthSpec:
    check_keys(table, AuthSpec.__dataclass_fields__, "auth", p)
    values: dict[str, Any] = {}
    for key in ("access_tokens", "refresh_tokens"):
        tokens = get_str_list(table, key, "auth", p)
        if tokens is not None:
            values[key] = tuple(tokens)
    for key in ("client_id", "client_secret"):
        if (text := get_str(table, key, "auth", p)) is not None:
            values[key] = text
    for key in ("access_token_lifetime_s", "refresh_token_lifetime_s"):
        if (number := get_number(table, key, "auth", p)) is not None:
            values[key] = float(number)
    return AuthSpec(**values)


def _rate_limit(table: Mapping[str, Any], p: Problems) -> RateLimitSpec:
    check_keys(table, ("limit", "window_s", "per_second", "analytics"), "rate_limit", p)
    analytics = get_number(table, "analytics", "rate_limit", p, integer=True)
    limit = get_number(table, "limit", "rate_limit", p, integer=True)
    window = get_number(table, "window_s", "rate_limit", p)
    per_second = get_number(table, "per_second", "rate_limit", p, integer=True)
    if window is not None and window <= 0:
        p.add("rate_limit.window_s", "must be positive")
        window = None
    if per_second is not None and per_second < 1:
        p.add("rate_limit.per_second", "must be at least 1")
        per_second = None
    return RateLimitSpec(
        limit=int(limit) if limit is not None else 1000,
        window_s=float(window) if window is not None else 60.0,
        per_second=int(per_second) if per_second is not None else None,
        analytics=int(analytics) if analytics is not None else 300,
    )


def _check_unique_ids(scenario: Scenario, p: Problems) -> None:
    seen: dict[str, str] = {}

    def note(entity_id: str | None, where: str) -> None:
        if entity_id is None:
            return
        if entity_id in seen:
            p.add(where, f"id {entity_id} is already used by {seen[entity_id]}")
        seen[entity_id] = where

    for i, acct in enumerate(scenario.accounts):
        here = join("accounts", i)
        note(acct.id, join(here, "id"))
        for j, camp in enumerate(acct.campaigns):
            c_here = join(join(here, "campaigns"), j)
            note(camp.id, join(c_here, "id"))
            for k, group in enumerate(camp.children):
                g_here = join(join(c_here, "ad_groups"), k)
                note(group.id, join(g_here, "id"))
                for m, ad in enumerate(group.children):
                    note(ad.id, join(join(join(g_here, "ads"), m), "id"))


def builtin_scenario(name: str) -> Path:
    """The path of a scenario shipped with pinmon (``demo``, ``large``, ``fault-storm``...).

    Raises:
        ConfigError: If there is no such scenario.
    """
    root = resources.files("monitor.simulator") / "scenarios"
    path = Path(str(root / f"{name.removesuffix('.toml')}.toml"))
    if not path.is_file():
        names = sorted(p.stem for p in Path(str(root)).glob("*.toml"))
        raise ConfigError([f"no built-in scenario {name!r} (have: {', '.join(names)})"])
    return path


def builtin_scenarios() -> list[str]:
    """The names of the scenarios shipped with pinmon."""
    root = Path(str(resources.files("monitor.simulator") / "scenarios"))
    return sorted(p.stem for p in root.glob("*.toml"))
