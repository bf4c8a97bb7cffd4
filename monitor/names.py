"""Campaign and ad group names for ad events: people recognise names, not 13-digit ids."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final

import msgspec
import structlog

from monitor.errors import PinterestError
from monitor.events import Event
from monitor.models import Kind, row_type
from monitor.normal import cap_text
from monitor.pinterest import PinterestClient

log = structlog.get_logger("monitor.names")

#: Names are re-listed after this long, so a renamed campaign shows its new name.
_TTL_S: Final = 3600.0


class ParentNames:
    """Looks up the names of events' campaigns and ad groups, listing them only when needed.

    Names are listed per account the first time an event needs one (or when an id is
    unknown or the cache is older than an hour): a cycle without events costs nothing.
    A failed lookup leaves the ids in place; it never fails the cycle.
    """

    def __init__(
        self,
        client: PinterestClient,
        *,
        entity_statuses: Sequence[str],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._statuses = entity_statuses
        self._now = now
        self._names: dict[tuple[str, Kind], dict[str, str]] = {}
        self._loaded_at: dict[tuple[str, Kind], float] = {}
        self._rows = {kind: row_type(kind, ()) for kind in (Kind.CAMPAIGN, Kind.AD_GROUP)}

    async def _lookup(self, account_id: str, kind: Kind, entity_id: str) -> str | None:
        key = (account_id, kind)
        names = self._names.get(key)
        stale = self._now() - self._loaded_at.get(key, float("-inf")) > _TTL_S
        if names is None or stale or entity_id not in names:
            if names is not None and not stale:
                # Listed recently and still unknown: do not re-list for every event.
                return None
            names = {}
            try:
                async for page in self._client.list_entities(
                    kind, account_id, row=self._rows[kind], entity_statuses=self._statuses
                ):
                    for row in page:
                        name = getattr(row, "name", None)
                        if name:
                            names[row.id] = cap_text(name)
            except PinterestError as exc:
                log.info("names.lookup_failed", kind=kind.value, error=str(exc))
                return None
            self._names[key] = names
            self._loaded_at[key] = self._now()
        return names.get(entity_id)

    async def fill(self, events: Sequence[Event]) -> list[Event]:
        """The events with ``campaign_name`` and ``ad_group_name`` filled where known."""
        out = []
        for event in events:
            if event.is_report:
                out.append(event)
                continue
            account = event.ad_account_id
            campaign = (
                await self._lookup(account, Kind.CAMPAIGN, event.campaign_id)
                if event.campaign_id and event.entity != Kind.CAMPAIGN
                else None
            )
            group = (
                await self._lookup(account, Kind.AD_GROUP, event.ad_group_id)
                if event.ad_group_id and event.entity == Kind.AD
                else None
            )
            out.append(
                msgspec.structs.replace(event, campaign_name=campaign, ad_group_name=group)
                if campaign or group
                else event
            )
        return out
