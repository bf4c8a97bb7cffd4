"""Removal needs proof: what a complete listing lacks is looked up by id before it is gone.

A listing is evidence, not proof. Pinterest has been seen to answer ``{"items": [],
"bookmark": null}`` for an account full of ads; reading that as "every ad was removed"
sends a storm of false alerts, then "N new ads" the next cycle. So an entity missing from a
complete listing is asked for directly (``ad_ids`` and friends, 250 per request, through
the same rate budget), and only what that lookup does not return is removed. Even then a
mass disappearance — most of an account at once — is held until a second cycle says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import structlog

from monitor.differ import AccountDiff
from monitor.errors import PinterestError
from monitor.models import Kind, Row
from monitor.pinterest import PinterestClient
from monitor.store import StateStore

log = structlog.get_logger("monitor.poll")

#: Ids looked up per account and kind per cycle (4 requests); the rest wait for the next
#: cycle, so an empty listing of a 200,000-ad account cannot spend the budget at once.
MAX_LOOKUP_IDS: Final = 1_000
#: A removal of at least this many entities, and of most of the account, is a "mass" one...
MASS_MIN: Final = 2
#: ...reported only once this many cycles in a row confirmed it.
MASS_CONFIRMATIONS: Final = 2


#: Where a held mass removal is counted, per account and kind: in the state, so that
#: `run --once` from cron (a new process each cycle) confirms it like the daemon does.
HOLD_PREFIX: Final = "removal_hold:"


class RemovalProof:
    """Confirms candidates for removal by direct lookup; counts the mass removals it holds.

    Args:
        client: The Pinterest client (lookups count in its budget).
        store: Keeps the count of cycles a mass removal has been seen in.
        entity_statuses: The statuses the listings ask for: an entity outside them is
            gone from pinmon's point of view, as it is from the listing's.
    """

    def __init__(
        self, client: PinterestClient, store: StateStore, *, entity_statuses: Sequence[str]
    ) -> None:
        self._client = client
        self._store = store
        self._statuses = tuple(entity_statuses)

    async def confirm(
        self, diff: AccountDiff, account_id: str, kind: Kind, row: type[Row]
    ) -> set[str]:
        """The ids missing from ``diff``'s complete listing that are gone for sure.

        What the lookup finds is fed back to ``diff`` (it exists: any change is diffed as
        usual). A failed lookup confirms nothing; the candidates are asked about again
        next cycle.
        """
        key = f"{HOLD_PREFIX}{account_id}:{kind.value}"
        missing = diff.missing()
        if not missing:
            return set()
        asked = missing[:MAX_LOOKUP_IDS]
        listed = diff.listed
        try:
            async for page in self._client.lookup_entities_raw(
                kind, account_id, asked, entity_statuses=self._statuses
            ):
                diff.feed_found(page, row)
        except PinterestError as exc:
            log.warning(
                "poll.removal_unconfirmed", kind=kind.value, missing=len(missing), error=str(exc)
            )
            return set()
        still = set(diff.missing())
        gone = {entity_id for entity_id in asked if entity_id in still}
        if len(gone) < len(asked):
            # Listed "completely" and yet there: the listing was not the truth.
            log.warning(
                "poll.listing_incomplete",
                kind=kind.value,
                missing=len(missing),
                found=len(asked) - len(gone),
            )
        if len(missing) > len(asked):
            log.info("poll.removal_deferred", kind=kind.value, deferred=len(missing) - len(asked))
        held = await self._store.get_value(key)
        if len(gone) >= MASS_MIN and 2 * len(gone) > listed + len(missing):
            # The same set of ids, seen gone in consecutive checks, is what confirms.
            fingerprint = hashlib.blake2b("\0".join(sorted(gone)).encode(), digest_size=8)
            same, _, count = (held or "").partition(":")
            streak = int(count) + 1 if same == fingerprint.hexdigest() else 1
            if streak < MASS_CONFIRMATIONS:
                await self._store.set_values({key: f"{fingerprint.hexdigest()}:{streak}"})
                log.warning(
                    "poll.mass_removal_held",
                    kind=kind.value,
                    gone=len(gone),
                    listed=listed,
                    confirmations=f"{streak}/{MASS_CONFIRMATIONS}",
                )
                return set()
        if held is not None:
            await self._store.delete_keys([key])
        return gone
