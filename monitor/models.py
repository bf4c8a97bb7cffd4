"""Entity kinds, the typed rows decoded from API pages, and the compact stored snapshot."""

from __future__ import annotations

import enum
from typing import Any, Final, TypeAlias, cast

import msgspec


class Kind(enum.StrEnum):
    """The three kinds of entity pinmon watches; the value prefixes event types."""

    AD = "ad"
    AD_GROUP = "ad_group"
    CAMPAIGN = "campaign"

    @property
    def plural(self) -> str:
        """The config and URL spelling: ``ads``, ``ad_groups``, ``campaigns``."""
        return f"{self.value}s"


#: The fields compared every cycle when the config names none.
DEFAULT_WATCHED: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.AD: (
        "status",
        "review_status",
        "summary_status",
        "rejected_reasons",
        "rejection_labels",
        "is_pin_deleted",
    ),
    Kind.AD_GROUP: ("status", "summary_status"),
    Kind.CAMPAIGN: ("status", "summary_status"),
}

#: Fields every row carries whatever is watched: ids and names for events and links.
_ID_FIELDS: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.AD: ("ad_account_id", "campaign_id", "ad_group_id", "pin_id", "name"),
    Kind.AD_GROUP: ("ad_account_id", "campaign_id", "name"),
    Kind.CAMPAIGN: ("ad_account_id", "name"),
}

#: Watched fields holding lists: compared as sets, stored sorted.
LIST_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "rejected_reasons",
        "rejection_labels",
        "carousel_destination_urls",
        "carousel_android_deep_links",
        "carousel_ios_deep_links",
    }
)

#: Watched fields holding booleans: absent or null means false.
BOOL_FIELDS: Final[frozenset[str]] = frozenset({"is_pin_deleted", "is_removable"})

#: Types for the fields we know; any other configured field decodes as ``Any``.
_FIELD_TYPES: Final[dict[str, Any]] = {
    "ad_account_id": str | None,
    "campaign_id": str | None,
    "ad_group_id": str | None,
    "pin_id": str | None,
    "name": str | None,
    "status": str | None,
    "review_status": str | None,
    "summary_status": str | None,
    "rejected_reasons": list[str] | None,
    "rejection_labels": list[str] | None,
    "is_pin_deleted": bool | None,
    "is_removable": bool | None,
    "destination_url": str | None,
    "created_time": int | None,
}


class Row(msgspec.Struct, kw_only=True):
    """Base of the per-kind row types built by :func:`row_type`."""

    id: str
    updated_time: int | None = None


def row_type(kind: Kind, watched: tuple[str, ...]) -> type[Row]:
    """Build the Struct one listing decodes into: ids, names and the watched fields only.

    Declaring only what we use lets msgspec skip every other field of the ~40 in an
    AdResponse without building Python objects for them: that is most of the per-ad cost.
    """
    names = dict.fromkeys((*_ID_FIELDS[kind], *watched))
    names.pop("id", None)
    names.pop("updated_time", None)
    fields = [(name, _FIELD_TYPES.get(name, Any), None) for name in names]
    struct = msgspec.defstruct(
        f"{kind.value.title().replace('_', '')}Row", fields, bases=(Row,), kw_only=True
    )
    return cast("type[Row]", struct)


def page_type(row: type[Row]) -> type[msgspec.Struct]:
    """The ``{"items": [...], "bookmark": ...}`` envelope of a listing page."""
    return msgspec.defstruct(
        f"{row.__name__}Page",
        [("items", list[row]), ("bookmark", str | None, None)],  # type: ignore[valid-type]
    )


class AdAccount(msgspec.Struct, kw_only=True):
    """The parts of an AdAccount that pinmon uses."""

    id: str
    name: str | None = None
    currency: str | None = None
    country: str | None = None


class Stored(msgspec.Struct, frozen=True, gc=False):
    """What the store keeps per entity: compact, never the whole JSON.

    Attributes:
        updated_time: Pinterest's version stamp of the stored state.
        rev: How many changes pinmon has recorded for the entity; event ids derive from it.
        blob: The normalised watched fields, msgpack-encoded (see ``differ.encode_state``).
        removed: A tombstone: the entity left a complete listing. Kept so that an entity
            that comes back gets a fresh revision, hence a fresh event id.
        raw_hash: 63 bits of xxh3 of the item's raw JSON when it was last stored (0 when
            unknown): an item with the same hash is the same bytes, so it is not decoded.
        meta: msgpack ``[campaign_id, ad_group_id, pin_id, name]``: what a ``removed`` event
            reports about an entity that is no longer listed.
    """

    # A Struct without GC tracking: 200,000 of these are loaded per big account, and
    # neither their size nor the collector walking them should grow with the account.
    updated_time: int | None
    rev: int
    blob: bytes
    meta: bytes = b""
    removed: bool = False
    raw_hash: int = 0


#: One stored entity as a range read returns it, not yet made a :class:`Stored`:
#: ``(entity_id, updated_time, rev, blob, removed, raw_hash)``. A steady cycle reads
#: 200,000 of these and needs the full state of only the ~1% whose bytes changed, so the
#: hot path compares the tuples' hashes and builds a Stored only for those.
StoredRow: TypeAlias = tuple[str, "int | None", int, bytes, "bool | int", int]
#: Where the raw hash sits in a :data:`StoredRow`.
ROW_HASH: Final = 5
#: Where the tombstone flag sits in a :data:`StoredRow`.
ROW_REMOVED: Final = 4


def from_row(row: StoredRow) -> tuple[str, Stored]:
    """The id and :class:`Stored` (without meta) of a range row."""
    entity_id, updated_time, rev, blob, removed, raw_hash = row
    return entity_id, Stored(updated_time, rev, bytes(blob), b"", bool(removed), raw_hash)


def as_row(entity_id: str, stored: Stored) -> StoredRow:
    """A :class:`Stored` as a range row (for callers that hold Stored states); a
    tombstone's hash reads -1, as the store reads it."""
    s = stored
    return (entity_id, s.updated_time, s.rev, s.blob, s.removed, -1 if s.removed else s.raw_hash)


class SnapshotRow(msgspec.Struct, frozen=True, gc=False):
    """One row to write back: an entity's new stored state."""

    entity_id: str
    stored: Stored
