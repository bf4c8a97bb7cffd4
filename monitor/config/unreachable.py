"""Warnings for config that is valid but can never match: a typo'd glob, value or account.

Not errors: Pinterest adds enum values between releases, and a route kept for an account
not watched yet is legitimate. But a route for ``ad.reject`` or ``REJECTD`` stays silent
forever and looks like it works, so each one is reported at load as a ``key: reason`` line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Final

from monitor import vocab
from monitor.config.types import MonitorConfig, PinterestConfig, Route
from monitor.events import EVENT_TYPES
from monitor.models import BOOL_FIELDS

#: The values a field can hold, for the fields whose API type is an enum. Summary
#: statuses differ by kind; a route may match any kind, so either enum's values count.
FIELD_VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    "status": vocab.ENTITY_STATUSES,
    "review_status": vocab.REVIEW_STATUSES,
    "summary_status": tuple(
        dict.fromkeys((*vocab.AD_SUMMARY_STATUSES, *vocab.GROUP_SUMMARY_STATUSES))
    ),
    "rejected_reasons": vocab.REJECTED_REASONS,
    "creative_type": vocab.CREATIVE_TYPES,
    # The router reads a TOML true as "true" or "True" (see router._text).
    **{name: ("true", "false", "True", "False") for name in BOOL_FIELDS},
}

# Listing more than this many allowed values makes the line unreadable; a hint is enough.
_LIST_AT_MOST = 10


def known_event_types() -> frozenset[str]:
    """Every event type pinmon emits: entity events and its own ``monitor.*`` reports."""
    from monitor.ops import OpsChange

    return EVENT_TYPES | {f"monitor.{change.value}" for change in OpsChange}


def _hint(value: str, choices: Iterable[str]) -> str:
    # Imported here: only a config with a warning needs it, and every command loads a config.
    import difflib

    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def config_warnings(
    pinterest: PinterestConfig, monitor: MonitorConfig, routes: Sequence[Route]
) -> list[str]:
    """One ``key: reason`` line per route criterion that no event can ever satisfy."""
    known = known_event_types()
    ops_types = {t for t in known if t.startswith("monitor.")}
    watched = {f for kind in monitor.entities for f in monitor.watch[kind]}
    out: list[str] = []
    for i, route in enumerate(routes):
        at = f"routes[{i}]"
        for j, pattern in enumerate(route.events):
            if not any(fnmatchcase(t, pattern) for t in known):
                out.append(
                    f"{at}.events[{j}]: {pattern!r} matches no event type{_hint(pattern, known)}"
                )
        for j, account in enumerate(route.accounts):
            if pinterest.ad_accounts and account not in pinterest.ad_accounts:
                out.append(
                    f"{at}.accounts[{j}]: {account!r} is not in pinterest.ad_accounts, "
                    "so no event of it is ever polled"
                )
        for j, name in enumerate(route.fields):
            if name not in watched:
                out.append(
                    f"{at}.fields[{j}]: {name!r} is not a watched field, so it never changes"
                    f"{_hint(name, watched)}"
                )
        takes_ops = any(fnmatchcase(t, p) for t in ops_types for p in route.events)
        for name, values in route.when.items():
            out.extend(_when_warnings(f"{at}.when.{name}", name, values, watched, takes_ops))
    return out


def _when_warnings(
    key: str, name: str, values: Sequence[str], watched: set[str], takes_ops: bool
) -> list[str]:
    # monitor.* events carry their details (error, failed_cycles, ...) as their state, so
    # a route taking them may name keys no entity has; an enum field is never one of those.
    if name not in watched and (not takes_ops or name in FIELD_VALUES):
        return [
            f"{key}: {name!r} is not a watched field, so no event carries it{_hint(name, watched)}"
        ]
    allowed = FIELD_VALUES.get(name)
    if allowed is None:
        return []
    listed = f" ({', '.join(allowed)})" if len(allowed) <= _LIST_AT_MOST else ""
    return [
        f"{key}: {value!r} is not a {name} value Pinterest sends{listed}"
        + _hint(value.upper(), allowed)
        for value in values
        if value not in allowed
    ]
