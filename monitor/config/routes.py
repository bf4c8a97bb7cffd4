"""The ``[[routes]]`` array: matching criteria, targets (apprise, webhooks, plugins), wording."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from monitor.config.fields import (
    _ACCOUNT_ID,
    _account_id,
    _bool,
    _nonempty_str,
    _pos_int,
    _Reader,
    _str_list,
    _table,
    _url,
    duration_or_zero,
    parse_duration,
)
from monitor.config.slack import parse_slack_bots
from monitor.config.types import PluginTarget, Route, Secret, Template, WebhookTarget

_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
            slack_bots=r.get("slack-bot", (), parse_slack_bots),
            campaigns=r.get("campaigns", (), _str_list(_digits)),
            fields=r.get("fields", (), _str_list()),
            when=r.get("when", {}, _when),
            continue_=r.get("continue", True, _bool),
            fallback=r.get("fallback", False, _bool),
            template=r.get("template", None, _template),
            repeat_after_s=r.get("repeat_after", None, parse_duration),
            group_interval_s=_group_interval(item, r),
            recap=r.get("recap", None, _recap),
            max_items=r.get("max_items", 20, _pos_int(500)),
            allow_link_local=r.get("allow_link_local", False, _bool),
            plugins=_plugin_targets(r),
        )
        if not (route.apprise or route.webhooks or route.slack_bots or route.plugins):
            r.problem(
                "apprise", "a route needs at least one target (apprise, webhooks, slack-bot, ...)"
            )
        if route.allow_link_local:
            # The route's opt-in covers its webhooks, which check again at every send.
            hooks = tuple(replace(h, allow_link_local=True) for h in route.webhooks)
            route = replace(route, webhooks=hooks)
        _check_link_local(route, r)
        r.unknown()
        routes.append(route)
    return tuple(routes)


_RECAP = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?:\s+(\S+))?$")


def _recap(value: Any) -> tuple[int, int, str]:
    """``"09:00 Europe/Berlin"`` (a zone from the IANA database; UTC when left out)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    match = _RECAP.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError('expected "HH:MM Area/City", e.g. "09:00 Europe/Berlin"')
    zone = match.group(3) or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {zone!r} (an IANA name such as Europe/Berlin)"
        ) from None
    return int(match.group(1)), int(match.group(2)), zone


def _group_interval(item: Mapping[str, Any], r: _Reader) -> float:
    """``group_interval``; ``group_wait``, its name before sends stopped waiting at the
    commit, is read as the same setting so that existing configs keep their pacing."""
    if "group_wait" in item and "group_interval" in item:
        r.problem("group_wait", "group_wait is the old name of group_interval: keep one of them")
    key = "group_wait" if "group_wait" in item else "group_interval"
    return r.get(key, 30.0, duration_or_zero)


def _webhooks(value: Any) -> tuple[WebhookTarget, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of tables, got {type(value).__name__}")
    targets = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise TypeError(f"item {i} must be a table {{ url = ..., secret = ... }}")
        unknown = set(item) - {"url", "secret", "allow_link_local"}
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
        allow = item.get("allow_link_local", False)
        if not isinstance(allow, bool):
            raise TypeError(f"item {i}: allow_link_local: expected true or false")
        targets.append(WebhookTarget(Secret(url), tuple(Secret(s) for s in secrets), allow))
    return tuple(targets)


#: Apprise's generic HTTP schemes: a payload POSTed to any host, a webhook's reach. The
#: service schemes (self-hosted ones such as ntfy:// included) are left to apprise.
_HTTP_APPRISE: Final = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def _check_link_local(route: Route, r: _Reader) -> None:
    """Refuse targets whose literal host is link-local or a metadata service.

    What a DNS name resolves to is checked again at each send (see notify/webhook.py);
    here only the host as written, so the mistake is reported before anything runs.
    """
    from monitor.addresses import url_refused

    for j, hook in enumerate(route.webhooks):
        if not hook.allow_link_local and (reason := url_refused(hook.url.reveal())):
            r.problem(
                f"webhooks[{j}].url",
                f"{reason}; set allow_link_local = true on this webhook if that is intended",
            )
    for j, url in enumerate(route.apprise):
        scheme = url.reveal().partition("://")[0].strip().lower()
        if route.allow_link_local or scheme not in _HTTP_APPRISE:
            continue
        if (reason := url_refused(url.reveal())) is not None:
            r.problem(
                f"apprise[{j}]",
                f"{reason}; set allow_link_local = true on the route if that is intended",
            )


def _plugin_targets(r: _Reader) -> tuple[PluginTarget, ...]:
    """Route keys naming an installed ``pinmon.notifiers`` entry point become targets."""
    if all(key in r.used or key in _ROUTE_KEYS for key in r.table):
        # No key left that a plugin could answer to: skip scanning the installed packages'
        # entry points (tens of ms, and every command that reads the config pays it).
        return ()
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
        "slack-bot",
        "campaigns",
        "fields",
        "when",
        "continue",
        "fallback",
        "template",
        "repeat_after",
        "group_wait",
        "group_interval",
        "recap",
        "max_items",
        "allow_link_local",
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
