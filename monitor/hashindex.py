"""A snapshot's hash index: every live entity's id and raw hash, packed, in listing order. Pure.

A steady cycle reads 200,000 stored rows only to learn that ~99% of the listed items are
byte for byte what was stored. The index says the same in two packed arrays read as one
value: the ids (as unsigned 64-bit numbers, ascending, the order Pinterest lists them in)
and the raw hashes of the live entities. A page whose hashes equal the index's slice for
its id range needs no stored row at all; only the ~1% of items whose bytes changed are
looked up by id.

The index is derived data of the entities table, never a second truth: it is written in
the transaction that writes the rows it describes, stamped with the snapshot's version
(bumped by every write of the kind's entities), and an index whose stamp is not the
current version is not used. An entity id that is not a canonical decimal number below
2**64 (Pinterest's are 12-19 digits) makes the kind index-less: it is read row by row.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from monitor.models import SnapshotRow

#: An id above this is not a number the index can hold.
_MAX_ID: Final = 2**64 - 1
#: Inserts and deletions applied in place (an O(n) move each) below this many; above, the
#: arrays are rebuilt in one merge.
_IN_PLACE: Final = 64


def number(entity_id: str) -> int | None:
    """The id as the index holds it, or None when it is not a canonical decimal below 2**64
    (a leading zero, a sign, blanks, underscores or other digits would not survive the trip)."""
    if not (0 < len(entity_id) <= 20 and entity_id.isascii() and entity_id.isdigit()):
        return None
    value = int(entity_id)
    if value > _MAX_ID or (entity_id[0] == "0" and entity_id != "0"):
        return None
    return value


def numbers(entity_ids: Sequence[str]) -> list[int] | None:
    """:func:`number` of each id, or None when any is not one (C-level maps: a round trip
    through ``int`` and ``str`` is canonical exactly when it gives the id back)."""
    if not entity_ids:
        return []
    try:
        values = list(map(int, entity_ids))
    except ValueError:
        return None
    if list(map(str, values)) != list(entity_ids) or min(values) < 0 or max(values) > _MAX_ID:
        return None
    return values


@dataclass(slots=True)
class HashIndex:
    """The live entities of one account and kind as two parallel arrays, ids ascending.

    Attributes:
        version: The snapshot version the index describes (see module docstring).
        ids: Each live entity's id as a number (``array('Q')``).
        hashes: Its stored raw hash (``array('q')``; 63-bit, >= 0).
    """

    version: int
    ids: array[int]
    hashes: array[int]

    @classmethod
    def empty(cls, version: int) -> HashIndex:
        """No live entity (yet): what a collecting cycle starts from."""
        return cls(version, array("Q"), array("q"))

    @classmethod
    def unpack(cls, version: int, ids: bytes, hashes: bytes) -> HashIndex | None:
        """The index of two stored values, or None when they do not make one (a torn or
        foreign value is not trusted: the cycle reads rows instead)."""
        if len(ids) != len(hashes) or len(ids) % 8:
            return None
        index = cls.empty(version)
        index.ids.frombytes(ids)
        index.hashes.frombytes(hashes)
        if sys.byteorder == "big":  # stored little-endian, whichever machine wrote them
            index.ids.byteswap()
            index.hashes.byteswap()
        return index

    def pack(self) -> tuple[bytes, bytes]:
        """The two values to store (little-endian, so replicas on any machine agree)."""
        ids, hashes = array("Q", self.ids), array("q", self.hashes)
        if sys.byteorder == "big":
            ids.byteswap()
            hashes.byteswap()
        return ids.tobytes(), hashes.tobytes()

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, entity_ids: Sequence[str], hashes: Iterable[int]) -> bool:
        """Append live entities that follow the last one (a collecting cycle reading rows
        in order); False, appending nothing, when an id is not one the index holds."""
        values = numbers(entity_ids)
        if values is None:
            return False
        self.ids.extend(values)
        self.hashes.extend(hashes)
        return True

    def position(self, upto: str, start: int = 0) -> int:
        """Where the entities with ids up to ``upto`` (as numbers) end, from ``start`` on.

        ``upto`` may be any digit string (a listing's id is evidence): one the index cannot
        hold still has its place among those it does (``"0999"`` after 998, before 1000).
        """
        key = number(upto)
        if key is None:
            digits = len(upto.lstrip("0")) if upto.isdigit() else 0
            if len(upto) > 20 or (digits == 20 and int(upto) > _MAX_ID):
                return len(self.ids)
            # A leading zero: after every shorter canonical id, before any of its length.
            key = 10 ** (len(upto) - 1) - 1
        return bisect_right(self.ids, key, lo=start)

    def held(self, start: int, end: int) -> list[int]:
        """The stored hashes of positions ``start`` to ``end``, as a list (C-level)."""
        return self.hashes[start:end].tolist()

    def id_at(self, at: int) -> str:
        """The id stored at ``at``, as Pinterest spells it."""
        return str(self.ids[at])

    def applied(self, version: int, rows: Sequence[SnapshotRow]) -> HashIndex | None:
        """A new index: this one with ``rows`` written (in order; the last of an id wins),
        stamped ``version``; None when a row's id is not one the index holds.

        Only live entities are in an index: a tombstone written takes its id out, a live
        row puts it in or replaces its hash.
        """
        ids, hashes = array("Q", self.ids), array("q", self.hashes)
        latest: dict[int, int | None] = {}
        for row in rows:
            key = number(row.entity_id)
            if key is None:
                return None
            latest[key] = None if row.stored.removed else row.stored.raw_hash
        moves: list[tuple[int, int | None]] = []  # (id, hash or None to delete)
        for key, raw_hash in latest.items():
            at = bisect_left(ids, key)
            if at < len(ids) and ids[at] == key:
                if raw_hash is None:
                    moves.append((key, None))
                else:
                    hashes[at] = raw_hash
            elif raw_hash is not None:
                moves.append((key, raw_hash))
        if len(moves) <= _IN_PLACE:
            for key, raw_hash in sorted(moves, reverse=True):  # positions stay valid
                at = bisect_left(ids, key)
                if raw_hash is None:
                    del ids[at]
                    del hashes[at]
                else:
                    ids.insert(at, key)
                    hashes.insert(at, raw_hash)
            return HashIndex(version, ids, hashes)
        merged = dict(zip(ids, hashes, strict=True))
        for key, raw_hash in moves:
            if raw_hash is None:
                merged.pop(key, None)
            else:
                merged[key] = raw_hash
        order = sorted(merged)
        return HashIndex(version, array("Q", order), array("q", map(merged.__getitem__, order)))
