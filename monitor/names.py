"""Campaign and ad group names for ad events: people recognise names, not 13-digit ids."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Final

import msgspec
import structlog

from monitor.errors import PinterestError
from monitor.events import Event
from monitor.models import Kind, row_type
from monitor.normal import cap_text, decode_meta
from monitor.pinterest import PinterestClient
from monitor.store import StateStore

log = structlog.get_logger("monitor.names")

#: Names are re-listed after this long, so a renamed campaign shows its new name.
_TTL_S: Final = 3600.0


class ParentNames:
    """Looks up the names of events' campaigns and ad groups, costing requests only when
    nothing else knows them.

    A kind the cycle polls itself (``entities`` includes ``campaigns``) is named from the
    stored snapshot, which that cycle has just brought up to date: no request at all.
    Any other kind is listed per account the first time an event needs one of its
    names, then cached for an hour (or until an id is unknown): a cycle without events
    costs nothing. A failed lookup leaves the ids in place; it never fails the cycle.
    """

    def __init__(
        self,
        client: PinterestClient,
        *,
        entity_statuses: Sequence[str],
        store: StateStore | None = None,
        polled: Collection[Kind] = (),
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._statuses = entity_statuses
        self._store = store
        self._polled = frozenset(polled) if store is not None else frozenset()
        self._now = now
        self._names: dict[tuple[str, Kind], dict[str, str]] = {}
        self._loaded_at: dict[tuple[str, Kind], float] = {}
        self._rows = {kind: row_type(kind, ()) for kind in (Kind.CAMPAIGN, Kind.AD_GROUP)}

    async def _listed(self, account_id: str, kind: Kind, entity_id: str) -> str | None:
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

    async def _stored(self, account_id: str, kind: Kind, ids: set[str]) -> dict[str, str]:
        assert self._store is not None  # only kinds in _polled get here
        metas = await self._store.entity_meta(account_id, kind, sorted(ids))
        out = {}
        for entity_id, meta in metas.items():
            name = decode_meta(meta)[3] if meta else None
            if isinstance(name, str) and name:
                out[entity_id] = name
        return out

    async def _resolve(self, account_id: str, kind: Kind, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        if kind in self._polled:
            return await self._stored(account_id, kind, ids)
        found = {}
        for entity_id in sorted(ids):
            name = await self._listed(account_id, kind, entity_id)
            if name:
                found[entity_id] = name
        return found

    async def fill(self, events: Sequence[Event]) -> list[Event]:
        """The events with ``campaign_name`` and ``ad_group_name`` filled where known."""
        wanted: dict[tuple[str, Kind], set[str]] = {}
        for event in events:
            if event.is_report:
                continue
            if event.campaign_id and event.entity != Kind.CAMPAIGN:
                wanted.setdefault((event.ad_account_id, Kind.CAMPAIGN), set()).add(
                    event.campaign_id
                )
            if event.ad_group_id and event.entity == Kind.AD:
                wanted.setdefault((event.ad_account_id, Kind.AD_GROUP), set()).add(
                    event.ad_group_id
                )
        names = {key: await self._resolve(*key, ids) for key, ids in wanted.items()}
        out = []
        for event in events:
            account = event.ad_account_id
            campaign = names.get((account, Kind.CAMPAIGN), {}).get(event.campaign_id or "")
            group = names.get((account, Kind.AD_GROUP), {}).get(event.ad_group_id or "")
            if event.is_report or event.entity == Kind.CAMPAIGN:
                campaign = None
            if event.entity != Kind.AD:
                group = None
            out.append(
                msgspec.structs.replace(event, campaign_name=campaign, ad_group_name=group)
                if campaign or group
                else event
            )
        return out
