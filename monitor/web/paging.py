"""Which page of a long list a view shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Rows per page of every list on the board.
PAGE_SIZE: Final = 50


@dataclass(frozen=True, slots=True)
class Page:
    """Page ``number`` (from 1) of a list of ``total`` rows."""

    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one)."""
        return max(1, -(-self.total // self.size))

    @property
    def start(self) -> int:
        """The index of the page's first row."""
        return (self.number - 1) * self.size

    def clamped(self) -> Page:
        """This page, or the last one when it is past the end."""
        return Page(min(self.number, self.pages), self.total, self.size)
