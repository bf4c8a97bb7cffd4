"""Mutes: silence an ad, a campaign or an account for a while. Events are still recorded.

Kept in the state store (key ``mute:<scope>:<id>``), so every replica and every restart
sees them, and they expire by themselves: nobody has to remember to unmute.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from monitor.events import Event

Scope = Literal["ad", "campaign", "account"]
SCOPES: Final[tuple[Scope, ...]] = ("ad", "campaign", "account")
PREFIX: Final = "mute:"


@dataclass(frozen=True, slots=True)
class Mute:
    """One mute: what, until when, and why."""

    scope: Scope
    entity_id: str
    until: float
    created_at: float
    reason: str | None = None

    @property
    def key(self) -> str:
        """The store key."""
        return mute_key(self.scope, self.entity_id)

    def to_json(self) -> str:
        """The stored value."""
        return json.dumps(
            {"until": self.until, "created_at": self.created_at, "reason": self.reason}
        )


def mute_key(scope: Scope, entity_id: str) -> str:
    """``mute:<scope>:<id>``."""
    return f"{PREFIX}{scope}:{entity_id}"


def parse_mutes(values: Mapping[str, str]) -> list[Mute]:
    """Mutes from stored key/values; unreadable entries are skipped, not fatal."""
    out = []
    for key, value in values.items():
        _, _, rest = key.partition(PREFIX)
        scope, _, entity_id = rest.partition(":")
        try:
            data = json.loads(value)
            if scope not in SCOPES or not entity_id:
                continue
            out.append(
                Mute(
                    scope=scope,
                    entity_id=entity_id,
                    until=float(data["until"]),
                    created_at=float(data.get("created_at", 0.0)),
                    reason=data.get("reason"),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return out


def active(mutes: Iterable[Mute], now: float) -> list[Mute]:
    """The mutes still in force."""
    return [m for m in mutes if m.until > now]


def muted_by(event: Event, mutes: Iterable[Mute]) -> Mute | None:
    """The mute that silences ``event``, if any. pinmon's own ``monitor.*`` reports are never
    muted: a mute on an ad must not hide that the token stopped working."""
    if event.is_report:
        return None
    for mute in mutes:
        if (
            (mute.scope == "account" and mute.entity_id == event.ad_account_id)
            or (mute.scope == "campaign" and mute.entity_id == event.campaign_id)
            or (mute.scope == "ad" and mute.entity_id == event.ad_id)
        ):
            return mute
    return None
