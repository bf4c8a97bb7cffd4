"""The simulated Pinterest state: ad accounts, campaigns, ad groups and ads, and their changes.

Every mutation goes through :meth:`World._change`, which keeps the pre-change copy (the
``stale`` fault serves it), bumps ``updated_time`` unless told not to (Pinterest may
not bump it on review decisions: scenarios rehearse both), and bumps the account's
version so cached pages of that account are re-rendered.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from monitor.simulator import generate, vocab
from monitor.simulator.build import check_references, populate
from monitor.simulator.entities import (
    Ad,
    AdAccount,
    AdGroup,
    Campaign,
    Entity,
    ad_summary_status,
    group_summary_status,
    kind_of,
)
from monitor.simulator.scenario import Scenario, load_scenario
from monitor.simulator.tables import Problems

E = TypeVar("E", bound=Campaign | AdGroup | Ad)


class UnknownEntityError(KeyError):
    """No entity has that id (or not of the expected kind)."""


class World:
    """All simulated entities, indexed per account and kind, with versioned mutations.

    Build one with :meth:`from_scenario`; mutate it with :meth:`reject_ad`,
    :meth:`approve_ad`, :meth:`pause` and friends, from a test or through timeline
    steps. Entities are the response structs themselves: read them, but change them
    only through these methods, or cached pages will not notice.

    Attributes:
        clock: Unix-seconds clock used for ``updated_time`` bumps (the simulator sets
            it to its injected clock).
        accounts, campaigns, ad_groups, ads: The entities by id.
        shared: Ids of accounts shared with the token's user (not owned): hidden when
            GET /ad_accounts is asked ``include_shared_accounts=false``.
        previous: Each changed entity's copy from before its latest change.
        version: Bumped by every change; ``account_version(id)`` per account.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, start_time: int | None = None
    ) -> None:
        self.clock = clock
        self.start_time = start_time if start_time is not None else int(clock())
        self.scenario: Scenario | None = None
        self.accounts: dict[str, AdAccount] = {}
        self.shared: set[str] = set()
        self.campaigns: dict[str, Campaign] = {}
        self.ad_groups: dict[str, AdGroup] = {}
        self.ads: dict[str, Ad] = {}
        self.previous: dict[str, Entity] = {}
        self.version = 0
        self._account_versions: dict[str, int] = {}
        self._member_versions: dict[str, int] = {}
        #: Called as ``fn(entity, old_status, new_status)`` after a membership change:
        #: an entity added (old None), removed (new None) or its status changed.
        self.listeners: list[Callable[[Entity, str | None, str | None], None]] = []
        # Per (account, kind): ids ascending as ints, and the entities in the same order.
        self._index: dict[tuple[str, str], tuple[list[int], list[Entity]]] = {}
        self.ids = generate.Ids()

    # -- building ---------------------------------------------------------------------

    @classmethod
    def from_scenario(
        cls,
        source: Scenario | Path | str | Mapping[str, Any],
        *,
        clock: Callable[[], float] = time.time,
    ) -> World:
        """Build the world a scenario describes.

        Args:
            source: A :class:`Scenario`, or anything :func:`load_scenario` reads.
            clock: See :attr:`clock`.

        Raises:
            ConfigError: If the scenario is invalid, or its timeline names ids that
                neither exist nor are created by a ``create`` step.
        """
        scenario = source if isinstance(source, Scenario) else load_scenario(source)
        world = cls(clock=clock, start_time=scenario.start_time)
        populate(world, scenario)
        p = Problems(scenario.source)
        check_references(world, scenario, p)
        p.raise_if_any()
        return world

    def reset(self) -> None:
        """Go back to the scenario's initial state (an empty world if built without one)."""
        fresh = World(clock=self.clock, start_time=self.start_time)
        if self.scenario is not None:
            populate(fresh, self.scenario)
        version, listeners = self.version, self.listeners
        self.__dict__.update(fresh.__dict__)
        self.listeners = listeners
        # Keep counting up: a version number seen before the reset must never come back,
        # or a page cached before it would be served again.
        self.version += version + 1
        for versions in (self._account_versions, self._member_versions):
            for account_id in versions:
                versions[account_id] += version + 1

    def new_ad(
        self, group: AdGroup, index: int, fields: Mapping[str, Any], ad_id: str | None
    ) -> Ad:
        """Add an ad to ``group``: ``fields`` over generated values (``index`` varies them)."""
        acct = self.accounts[group.ad_account_id]
        new = generate.ad(
            ad_id or self.ids.new("ads"),
            group,
            self.ids.new("pins"),
            index,
            fields,
            account_name=acct.name,
        )
        self.add(new)
        return new

    def add_account(self, acct: AdAccount, *, shared: bool = False) -> None:
        """Add an ad account (``shared``: owned by someone else, shared with the user)."""
        self.accounts[acct.id] = acct
        if shared:
            self.shared.add(acct.id)
        self._account_versions[acct.id] = self._member_versions[acct.id] = 0
        self.version += 1

    def add(self, entity: Entity) -> None:
        """Add a campaign, ad group or ad (its parents must exist)."""
        kind = kind_of(entity)
        getattr(self, kind)[entity.id] = entity
        ints, entities = self._index.setdefault((entity.ad_account_id, kind), ([], []))
        key = int(entity.id)
        at = bisect.bisect_left(ints, key)
        ints.insert(at, key)
        entities.insert(at, entity)
        self._touch(entity.ad_account_id, members=True)
        self._notify(entity, None, entity.status)

    def _notify(self, entity: Entity, old: str | None, new: str | None) -> None:
        for listener in self.listeners:
            listener(entity, old, new)

    def _touch(self, account_id: str, *, members: bool) -> None:
        self.version += 1
        self._account_versions[account_id] = self._account_versions.get(account_id, 0) + 1
        if members:
            self._member_versions[account_id] = self._member_versions.get(account_id, 0) + 1

    # -- reading ----------------------------------------------------------------------

    def account_version(self, account_id: str) -> int:
        """A number that changes whenever anything in that account changes."""
        return self._account_versions.get(account_id, -1)

    def member_version(self, account_id: str) -> int:
        """A number that changes whenever an account's listings may gain or lose members:
        an entity added, removed, or its ``status`` changed (listings filter on it)."""
        return self._member_versions.get(account_id, -1)

    def ids_of(self, account_id: str, kind: str) -> list[int]:
        """The ids of an account's entities of ``kind`` (``ads``...), ascending; do not modify."""
        return self._index.get((account_id, kind), ([], []))[0]

    def entities_of(self, account_id: str, kind: str) -> list[Entity]:
        """An account's entities of ``kind``, in the order of :meth:`ids_of`; do not modify."""
        return self._index.get((account_id, kind), ([], []))[1]

    def find(self, entity_id: str) -> Entity:
        """The campaign, ad group or ad with that id.

        Raises:
            UnknownEntityError: If there is none.
        """
        for table in (self.ads, self.ad_groups, self.campaigns):
            found = table.get(entity_id)
            if found is not None:
                return found
        raise UnknownEntityError(entity_id)

    def ad(self, ad_id: str) -> Ad:
        """The ad with that id.

        Raises:
            UnknownEntityError: If there is no such ad.
        """
        found = self.ads.get(ad_id)
        if found is None:
            raise UnknownEntityError(ad_id)
        return found

    # -- changing ---------------------------------------------------------------------

    def _change(self, entity: E, *, bump: bool, at: float | None = None, **changes: Any) -> E:
        old_status = entity.status
        self.previous[entity.id] = msgspec.structs.replace(entity)
        for key, value in changes.items():
            setattr(entity, key, value)
        if isinstance(entity, Ad):
            if "summary_status" not in changes:
                entity.summary_status = ad_summary_status(entity)
        elif "status" in changes and "summary_status" not in changes:
            entity.summary_status = group_summary_status(entity.status)
        if bump:
            # Never backwards and never equal: an injected test clock may sit before the
            # scenario's start time, and a same-second change must still look newer.
            now = self.clock() if at is None else at
            entity.updated_time = max(int(now), entity.updated_time + 1)
        moved = entity.status != old_status
        self._touch(entity.ad_account_id, members=moved)
        if moved:
            self._notify(entity, old_status, entity.status)
        return entity

    def reject_ad(
        self,
        ad_id: str,
        *,
        reasons: Iterable[str],
        labels: Iterable[str] | None = None,
        bump: bool = True,
        at: float | None = None,
    ) -> Ad:
        """Reject an ad in review: ``review_status`` and ``summary_status`` become REJECTED.

        Args:
            ad_id: The ad.
            reasons: ``rejected_reasons`` values (the spec's enum).
            labels: ``rejection_labels``; the built-in human text per reason by default.
            bump: Whether ``updated_time`` moves (Pinterest may not bump it on review).
            at: When the decision happened, for the bump (default: now on :attr:`clock`).
        """
        reasons = list(reasons)
        text = list(labels) if labels is not None else [vocab.label_for(r) for r in reasons]
        return self._change(
            self.ad(ad_id),
            bump=bump,
            at=at,
            review_status="REJECTED",
            rejected_reasons=reasons,
            rejection_labels=text,
        )

    def approve_ad(self, ad_id: str, *, bump: bool = True, at: float | None = None) -> Ad:
        """Approve an ad in review, clearing any rejection reasons and labels."""
        return self._change(
            self.ad(ad_id),
            bump=bump,
            at=at,
            review_status="APPROVED",
            rejected_reasons=[],
            rejection_labels=[],
        )

    def set_pending(
        self, ad_id: str, *, bump: bool = True, at: float | None = None, **edits: Any
    ) -> Ad:
        """Send an ad back to review, as an edit of its description or URL does.

        ``edits`` are the response fields the edit changed (``destination_url=...``),
        applied in the same change.
        """
        return self._change(
            self.ad(ad_id),
            bump=bump,
            at=at,
            **edits,
            review_status="PENDING",
            rejected_reasons=[],
            rejection_labels=[],
        )

    def delete_pin(self, ad_id: str, *, bump: bool = True) -> Ad:
        """Delete the ad's pin: ``is_pin_deleted`` becomes true."""
        return self._change(self.ad(ad_id), bump=bump, is_pin_deleted=True)

    def set_status(self, entity_id: str, status: str, *, bump: bool = True) -> Entity:
        """Set the user-set ``status`` of a campaign, ad group or ad (summary follows)."""
        if status not in vocab.ENTITY_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return self._change(self.find(entity_id), bump=bump, status=status)

    def pause(self, entity_id: str, *, bump: bool = True) -> Entity:
        """Pause a campaign, ad group or ad."""
        return self.set_status(entity_id, "PAUSED", bump=bump)

    def activate(self, entity_id: str, *, bump: bool = True) -> Entity:
        """Make a campaign, ad group or ad ACTIVE again."""
        return self.set_status(entity_id, "ACTIVE", bump=bump)

    def archive(self, entity_id: str, *, bump: bool = True) -> Entity:
        """Archive a campaign, ad group or ad: default listings stop showing it."""
        return self.set_status(entity_id, "ARCHIVED", bump=bump)

    def rename(self, entity_id: str, name: str, *, bump: bool = True) -> Entity:
        """Rename a campaign, ad group or ad."""
        return self._change(self.find(entity_id), bump=bump, name=name)

    def update(self, entity_id: str, *, bump: bool = True, **fields: Any) -> Entity:
        """Set arbitrary response fields of an entity (the caller vouches for their types)."""
        return self._change(self.find(entity_id), bump=bump, **fields)

    def remove(self, entity_id: str) -> None:
        """Make an entity vanish from every listing, as if deleted outright (children too)."""
        entity = self.find(entity_id)
        kind = kind_of(entity)
        link = f"{kind[:-1]}_id"  # campaign_id, ad_group_id (ads have no children)
        below: list[AdGroup | Ad] = [*self.ad_groups.values(), *self.ads.values()]
        children = [c.id for c in below if getattr(c, link, None) == entity_id]
        for child_id in children:
            if child_id in self.ad_groups or child_id in self.ads:
                self.remove(child_id)
        del getattr(self, kind)[entity_id]
        ints, entities = self._index[(entity.ad_account_id, kind)]
        at = bisect.bisect_left(ints, int(entity_id))
        del ints[at], entities[at]
        self.previous.pop(entity_id, None)
        self._touch(entity.ad_account_id, members=True)
        self._notify(entity, entity.status, None)

    def create_ad(self, *, ad_group_id: str, ad_id: str | None = None, **fields: Any) -> Ad:
        """Create an ad in an ad group, with plausible values for the fields not given.

        Its ``created_time`` and ``updated_time`` are now (on :attr:`clock`) unless given.
        """
        group = self.ad_groups.get(ad_group_id)
        if group is None:
            raise UnknownEntityError(ad_group_id)
        if ad_id is not None:
            if ad_id in self.ads:
                raise ValueError(f"ad {ad_id} already exists")
            self.ids.claim("ads", ad_id)
        now = max(int(self.clock()), self.start_time)
        fields.setdefault("created_time", now)
        fields.setdefault("updated_time", now)
        fields.setdefault("review_status", "PENDING")
        index = len(self.ids_of(group.ad_account_id, "ads"))
        return self.new_ad(group, index, fields, ad_id)
