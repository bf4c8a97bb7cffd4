"""Raw-item hashes of a committed listing, in listing order: how unchanged ads skip decoding.

A listing comes back in the same order every cycle, so the item at position i is almost
always the item that was at position i last time (shifted by the ads added or removed
before it). Comparing its 64-bit xxh3 hash with the one stored at that position is a
sequential, cache-friendly check; only when it fails is a hash → position index built.
"""

from __future__ import annotations

from array import array


class Fingerprints:
    """Hashes and ids of the items of one committed listing, aligned by position.

    A hash of 0 marks a position whose item was not adopted (a stale replica's row): it
    never matches, so that item is decoded and compared again next time.
    """

    __slots__ = ("_index", "digests", "ids")

    def __init__(self) -> None:
        self.digests: array[int] = array("Q")
        self.ids: list[str] = []
        self._index: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, digest: int, entity_id: str) -> None:
        """Record the next position's item."""
        self.digests.append(digest)
        self.ids.append(entity_id)

    def position(self, digest: int) -> int | None:
        """Where an item with this hash stood, or None; builds the index on first use."""
        if self._index is None:
            self._index = {d: i for i, d in enumerate(self.digests) if d}
        return self._index.get(digest)
