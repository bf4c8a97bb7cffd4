"""Target labels: how outputs name each delivery target, by its masked URL, never a secret.

A target's outbox key is a hash of its URL; its label (``slack://T...2/A...D/T...Q/#ads``)
comes from its notifier, and an apprise notifier needs apprise (~0.4 s to import). So
whatever builds the notifiers records ``key -> label`` in the state (table ``targets``),
and the read-only commands (`pinmon deliveries`, `pinmon status`) read them back there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.notify import Notifier
    from monitor.store import StateStore


def distinguish(notifiers: Iterable[Notifier]) -> None:
    """Give targets that share a label distinct ones, by appending a piece of their key.

    Two URLs that differ only in their secrets (two Zapier hooks) mask to the same label;
    logs and metrics must still tell them apart. The key is a hash, never secret. A
    notifier whose label cannot be set (a plugin's frozen object) keeps its own.
    """
    by_label: dict[str, list[Notifier]] = {}
    for notifier in notifiers:
        by_label.setdefault(notifier.label, []).append(notifier)
    for label, shared in by_label.items():
        if len({n.key for n in shared}) < 2:
            continue
        for notifier in shared:
            try:
                notifier.label = f"{label} [{notifier.key.rpartition(':')[2][:6]}]"
            except (AttributeError, TypeError):
                continue


async def save_labels(store: StateStore, notifiers: Mapping[str, Notifier]) -> None:
    """Record each target's label under its outbox key (one transaction)."""
    if notifiers:
        await store.save_labels({key: n.label for key, n in notifiers.items()})


async def load_labels(store: StateStore) -> dict[str, str]:
    """Every recorded label, by outbox key."""
    return await store.labels()


def label_of(labels: Mapping[str, str], key: str) -> str:
    """The label of the target with outbox key ``key``; the key itself when none is known
    (a target that no pinmon of this version has built yet)."""
    return labels.get(key, key)
