"""Record the delivery loop's send outcomes in batches: many rows, one transaction.

A transaction per delivered row was most of what the outbox cost (a worker-thread hop and
a commit each), so outcomes are held here for a moment and written together, when
:data:`FLUSH_ROWS` are waiting or the oldest has waited :data:`FLUSH_AFTER_S`, before a
worker fetches its target's rows again, at the end of each pass, and at shutdown.

What is held is not yet durable: a crash before the flush leaves those rows pending, and
the next start sends them again. That is the outbox's at-least-once contract already (a
crash between a send and its record did the same), and receivers de-duplicate on the
event id (``webhook-id``). Nothing is lost: a row is only ever settled after its send.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import anyio
import structlog

from monitor.store import Settlement, StateStore

log = structlog.get_logger("monitor.delivery")

#: Outcomes written in one transaction at most, and the most held before writing.
FLUSH_ROWS = 200
#: How long an outcome waits for company before it is written anyway.
FLUSH_AFTER_S = 0.5


class Ledger:
    """Send outcomes on their way to the store, shared by every target's worker.

    Args:
        store: Where the outcomes go (:meth:`~monitor.store.core.Store.settle_many`).
        flush_rows: Write once this many are held.
        flush_after_s: Write once the oldest held has waited this long.
        monotonic: A clock that never steps (injected in tests).
    """

    def __init__(
        self,
        store: StateStore,
        *,
        flush_rows: int = FLUSH_ROWS,
        flush_after_s: float = FLUSH_AFTER_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._rows = flush_rows
        self._after_s = flush_after_s
        self._monotonic = monotonic
        self._held: list[Settlement] = []
        self._since: float | None = None
        # One write at a time, so a flush that returns has written everything held when
        # it was called, whoever started the write under way.
        self._lock = anyio.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def add(self, outcomes: Iterable[Settlement]) -> None:
        """Hold outcomes until the next flush."""
        before = len(self._held)
        self._held.extend(outcomes)
        if self._since is None and len(self._held) > before:
            self._since = self._monotonic()

    @property
    def due(self) -> bool:
        """Enough is held, or it has waited long enough, to be written now."""
        if self._since is None:
            return False
        return len(self._held) >= self._rows or self._monotonic() - self._since >= self._after_s

    async def flush(self) -> None:
        """Write every outcome held, in transactions of at most ``flush_rows``.

        Raises:
            StoreError: The store failed; what was not written is held again, ahead of
                anything added since, for the next flush.
        """
        async with self._lock:
            while self._held:
                batch, since = self._held[: self._rows], self._since
                del self._held[: self._rows]
                self._since = since if self._held else None
                try:
                    settled = await self._store.settle_many(batch)
                except BaseException:
                    # Nothing of the batch was written (one transaction): hold it again.
                    self._held[:0] = batch
                    self._since = since
                    raise
                if settled < len(batch):
                    # The rows went away under us (a state started over): nothing to
                    # settle, and nothing to send again either.
                    log.error("delivery.settle_missed", outcomes=len(batch), settled=settled)

    async def flush_when_due(self) -> None:
        """Flush if :attr:`due`."""
        if self.due:
            await self.flush()

    async def keep_flushing(self, stop: anyio.Event) -> None:
        """Flush what has waited long enough, every ``flush_after_s``, until ``stop`` is
        set: a worker stuck in a slow send must not hold the others' outcomes back."""
        while not stop.is_set():
            with anyio.move_on_after(self._after_s):
                await stop.wait()
            if stop.is_set():
                return  # the shutdown's own write (close) follows
            try:
                await self.flush_when_due()
            except Exception:
                # Held for the next try; the workers' own flushes report it too.
                log.exception("delivery.record_failed", held=len(self._held))

    async def close(self, timeout_s: float) -> None:
        """The last flush, at shutdown: shielded from the cancellation that may be ending
        the loop, and bounded by ``timeout_s``. What cannot be written is logged, and is
        sent again at the next start."""
        with anyio.move_on_after(timeout_s, shield=True):
            try:
                await self.flush()
            except Exception:
                log.exception("delivery.record_failed", held=len(self._held))
        if self._held:
            log.error("delivery.unrecorded", held=len(self._held))
