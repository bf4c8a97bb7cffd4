"""Mutes: silence an ad, a campaign or an account for a while. Events are still recorded.

Kept in the state store (table ``mutes``), so every replica and every restart sees them,
and they expire by themselves: nobody has to remember to unmute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from monitor.events import Event

Scope = Literal["ad", "campaign", "account"]
SCOPES: Final[tuple[Scope, ...]] = ("ad", "campaign", "account")


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
        """``mute:<scope>:<id>``, how logs name it."""
        return f"mute:{self.scope}:{self.entity_id}"


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
