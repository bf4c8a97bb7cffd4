"""The store contract for settings with a shape of their own, run against every backend:
mutes, reminders, target labels and disabled targets, OAuth credentials."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.events import Event
from monitor.store import Credentials, Mute, Reminder, StateStore
from tests import test_store as contract
from tests.test_store import Opener

# The contract's fixtures: every backend, a fresh store each.
opener, db_path, store = contract.opener, contract.db_path, contract.store

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def rejection(ad_id: str, *, at: float = 10.0) -> Event:
    return Event(
        id=f"evt_{ad_id}", type="ad.rejected", entity="ad", entity_id=ad_id,
        ad_account_id="acc", detected_at=at,
    )  # fmt: skip


async def test_mutes_expire_replace_and_lift(store: StateStore) -> None:
    """Mutes read back in force at a time, soonest to end first; one per scope and id."""
    await store.set_mute(Mute("ad", "a1", until=100.0, created_at=1.0, reason="noisy"))
    await store.set_mute(Mute("campaign", "c1", until=50.0, created_at=2.0))
    await store.set_mute(Mute("account", "acc", until=10.0, created_at=3.0))
    await store.set_mute(Mute("ad", "a1", until=200.0, created_at=4.0, reason="still noisy"))

    assert await store.mutes(now=20.0) == [
        Mute("campaign", "c1", until=50.0, created_at=2.0),
        Mute("ad", "a1", until=200.0, created_at=4.0, reason="still noisy"),
    ]
    assert len(await store.mutes()) == 3
    assert await store.delete_mute("campaign", "c1") is True
    assert await store.delete_mute("campaign", "c1") is False
    assert [m.entity_id for m in await store.mutes(now=0.0)] == ["acc", "a1"]


async def test_reminders_round_trip_update_and_end(store: StateStore) -> None:
    """Reminders come back with their event; saving one again updates it; ends are by key."""
    first = Reminder("slack", "acc", "a1", rejection("a1"), next_at=100.0)
    other = Reminder("slack", "acc", "a2", rejection("a2"), next_at=150.0, count=3)
    hook = Reminder("hook", "acc", "a1", rejection("a1"), next_at=100.0)
    await store.save_reminders([first, other, hook])
    assert await store.reminders() == [hook, first, other]

    again = Reminder("slack", "acc", "a1", rejection("a1"), next_at=200.0, count=1)
    await store.save_reminders([again])
    await store.delete_reminders([other.key, ("slack", "acc", "unknown")])
    assert await store.reminders() == [hook, again]
    await store.save_reminders([])
    await store.delete_reminders([])


async def test_labels_and_disabled_targets_share_a_row(store: StateStore) -> None:
    """A disabled target keeps its label and a relabel keeps it disabled, until re-enabled."""
    await store.save_labels({"apprise:1": "slack://T...2/#ads", "webhook:2": "https://h/****"})
    await store.disable_target("webhook:2", "HTTP 410: gone", 5.0)
    await store.disable_target("webhook:3", "HTTP 410", 6.0)  # not labelled (yet)
    await store.save_labels({"webhook:2": "https://h/**** [abc123]"})

    assert await store.labels() == {
        "apprise:1": "slack://T...2/#ads",
        "webhook:2": "https://h/**** [abc123]",
    }
    assert await store.disabled_targets() == {"webhook:2": "HTTP 410: gone", "webhook:3": "HTTP 410"}
    assert await store.enable_targets() == 2
    assert await store.enable_targets() == 0
    assert await store.disabled_targets() == {}
    assert "webhook:2" in await store.labels()


async def test_credentials_are_replaced_whole(opener: Opener, db_path: Path) -> None:
    """The OAuth state persists across reopen, a rotation replaces all of it, none is None."""
    first = await opener(db_path)
    try:
        assert await first.credentials() is None
        await first.save_credentials(Credentials("o1", "at1", 100.0, "rt1", 900.0))
        await first.save_credentials(Credentials("o1", None, None, "rt2"))
    finally:
        await first.close()
    again = await opener(db_path)
    try:
        saved = await again.credentials()
    finally:
        await again.close()
    assert saved == Credentials("o1", None, None, "rt2")
    assert "rt2" not in repr(saved)


async def test_an_unreadable_reminder_is_skipped_and_can_be_ended(tmp_path: Path) -> None:
    """A reminder whose stored event this pinmon cannot decode is left out, not fatal."""
    from monitor.store.sqlite import open_store

    path = tmp_path / "state.db"
    first = await open_store(path)
    good = Reminder("slack", "acc", "a1", rejection("a1"), next_at=100.0)
    await first.save_reminders([good, Reminder("slack", "acc", "a2", rejection("a2"), 100.0)])
    await first.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE reminders SET event = x'00ff' WHERE ad_id = 'a2'")
    conn.close()
    store = await open_store(path)
    try:
        assert await store.reminders() == [good]
        await store.delete_reminders([("slack", "acc", "a2")])
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT ad_id FROM reminders").fetchall() == [("a1",)]
        conn.close()
    finally:
        await store.close()
