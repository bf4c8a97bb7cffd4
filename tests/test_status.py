"""`pinmon status` over a real SQLite store filled by the real differ: report, text and JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.differ import DiffContext, diff_listing
from monitor.events import Event
from monitor.models import DEFAULT_WATCHED, Kind, Row, row_type
from monitor.status import format_status, show_status, status_report
from monitor.store import StateStore
from monitor.store.sqlite import open_store
from monitor.summary import summary_counts, summary_counts_after

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

ACCOUNT = "549755885175"
FAILING = "549755885176"
WATCHED = DEFAULT_WATCHED[Kind.AD]
AD = row_type(Kind.AD, WATCHED)
T0 = 1_732_000_000.0

APPROVED: dict[str, Any] = {
    "status": "ACTIVE",
    "review_status": "APPROVED",
    "summary_status": "APPROVED",
    "rejected_reasons": [],
    "rejection_labels": [],
    "is_pin_deleted": False,
}
PAUSED = {**APPROVED, "status": "PAUSED", "summary_status": "PAUSED"}
PENDING = {**APPROVED, "review_status": "PENDING", "summary_status": "PENDING"}
REJECTED = {
    **APPROVED,
    "review_status": "REJECTED",
    "summary_status": "REJECTED",
    "rejected_reasons": ["LANDING_PAGE_BROKEN"],
    "rejection_labels": ["Landing page is broken"],
}
SLACK_LABEL = "slack://T...2/A...D/T...Q/#ads-alerts"
# Reason codes only: the labels are missing, so status falls back to the codes.
REJECTED_CODES = {**REJECTED, "rejected_reasons": ["HASHTAGS"], "rejection_labels": None}


def ad(i: int, state: dict[str, Any], *, updated_time: int = 100) -> Row:
    return AD(
        id=str(687195134316 + i),
        updated_time=updated_time,
        ad_account_id=ACCOUNT,
        campaign_id="626735565838",
        ad_group_id="2680059592705",
        pin_id=str(394205773611545468 + i),
        name=f"Holiday Ad {i}",
        **state,
    )


async def commit(store: StateStore, rows: list[Row], *, baseline: bool, at: float) -> list[Event]:
    """Diff ``rows`` against the stored snapshot and commit, one delivery per event and target."""
    snapshot = await store.load_snapshot(ACCOUNT, Kind.AD)
    ctx = DiffContext(
        account_id=ACCOUNT,
        kind=Kind.AD,
        watched=WATCHED,
        stored_fields=snapshot.fields or WATCHED,
        detected_at=at,
        baseline=baseline,
    )
    result = diff_listing(ctx, snapshot.entities, [rows], complete=True)
    deliveries = [(e.id, "ops", target) for e in result.events for target in ("slack", "hook")]
    await store.commit_cycle(
        ACCOUNT,
        Kind.AD,
        fields=WATCHED,
        rows=result.rows,
        events=result.events,
        deliveries=deliveries,
        at=at,
    )
    return result.events


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[StateStore]:
    """State after a baseline and a changed cycle, some deliveries dead, one account failing."""
    s = await open_store(tmp_path / "state.db")
    first = [ad(0, APPROVED), ad(1, APPROVED), ad(2, APPROVED), ad(3, PAUSED), ad(4, REJECTED)]
    assert await commit(s, first, baseline=True, at=T0) == []
    # Ad 0 is rejected, ad 2 leaves the listing (a tombstone), ad 5 appears rejected.
    second = [ad(0, REJECTED, updated_time=200), *first[1:2], *first[3:], ad(5, REJECTED_CODES)]
    events = await commit(s, second, baseline=False, at=T0 + 300)
    assert sorted(e.type for e in events) == ["ad.created", "ad.rejected", "ad.removed"]
    await s.record_poll(ACCOUNT, name="Acme Home & Living", ok=True, at=T0 + 300)
    for n in range(3):
        await s.record_poll(FAILING, name=None, ok=False, at=T0 + n, error="HTTP 500 from API")
    hook = [d for d in await s.deliveries(statuses=["pending"]) if d.target == "hook"]
    for d in hook:
        await s.mark_failed(d.id, error="HTTP 410: gone", at=T0 + 400, retry_at=None)
    # What the daemon records when it builds its notifiers (here: only the Slack target's).
    await s.save_labels({"slack": SLACK_LABEL})
    yield s
    await s.close()


async def test_report_counts_statuses_and_lists_rejections(store: StateStore) -> None:
    """Counts skip tombstones; rejected ads carry names and labels (codes without labels)."""
    report = await status_report(store, now=T0 + 600, watched=(Kind.AD,))
    acme, failing = report["accounts"]
    assert acme["account_id"] == ACCOUNT
    assert acme["name"] == "Acme Home & Living"
    assert acme["last_success_age_s"] == 300.0
    assert acme["entities"] == {"ad": {"APPROVED": 1, "PAUSED": 1, "REJECTED": 3}}
    rejected = {r["name"]: r["reasons"] for r in acme["rejected"]}
    assert rejected == {
        "Holiday Ad 0": ["Landing page is broken"],
        "Holiday Ad 4": ["Landing page is broken"],
        "Holiday Ad 5": ["HASHTAGS"],
    }
    assert acme["rejected"][0]["ad_id"] == "687195134316"
    assert acme["rejected"][0]["pin_id"] == "394205773611545468"
    assert failing["account_id"] == FAILING
    assert failing["consecutive_failures"] == 3
    assert failing["last_success_at"] is None
    assert failing["last_error"] == "HTTP 500 from API"
    deliveries = report["deliveries"]
    assert (deliveries["pending"], deliveries["failed"], deliveries["dead"]) == (3, 0, 3)
    assert deliveries["oldest_pending"]["age_s"] == 300.0
    assert deliveries["oldest_pending"]["target"] == "slack"
    assert deliveries["oldest_pending"]["target_label"] == SLACK_LABEL
    assert report["mutes"] == []


async def test_json_shape_is_stable(store: StateStore) -> None:
    """The --json report keeps its documented keys (version 1) and survives a JSON round trip."""
    report = await status_report(store, now=T0 + 600)
    assert json.loads(json.dumps(report)) == report
    assert list(report) == ["version", "generated_at", "accounts", "deliveries", "mutes"]
    assert report["version"] == 1
    assert list(report["accounts"][0]) == [
        "account_id",
        "name",
        "last_success_at",
        "last_success_age_s",
        "last_attempt_at",
        "last_error",
        "consecutive_failures",
        "entities",
        "rejected",
        "review_lane",
    ]
    assert list(report["accounts"][0]["rejected"][0]) == [
        "ad_id",
        "name",
        "campaign_id",
        "ad_group_id",
        "pin_id",
        "reasons",
    ]
    assert list(report["deliveries"]) == ["pending", "failed", "dead", "capped", "oldest_pending"]
    assert list(report["deliveries"]["oldest_pending"]) == [
        "event_id",
        "type",
        "route",
        "target",
        "target_label",
        "created_at",
        "age_s",
        "attempts",
        "last_error",
    ]


async def test_text_is_short_and_aligned(store: StateStore) -> None:
    """The text form shows each account, its counts, its rejected ads and the outbox, aligned."""
    text = format_status(await status_report(store, now=T0 + 600))
    assert text.splitlines() == [
        "pinmon status at 2024-11-19 07:16:40Z",
        "",
        "549755885175  Acme Home & Living",
        "  polled      ok, 5m ago",
        "  ads         APPROVED 1  PAUSED 1  REJECTED 3",
        "  rejected    687195134316  Holiday Ad 0  Landing page is broken",
        "              687195134320  Holiday Ad 4  Landing page is broken",
        "              687195134321  Holiday Ad 5  HASHTAGS",
        "  review lane off (fast_interval = 0)",
        "",
        "549755885176",
        "  polled      FAILING (3 in a row, never succeeded): HTTP 500 from API",
        "  ads         none",
        "  review lane off (fast_interval = 0)",
        "",
        f"outbox        3 pending, 0 failed, 3 dead; oldest pending ad.rejected to {SLACK_LABEL} queued 5m ago",
        "mutes         none",
    ]


async def test_counts_after_a_cycle_follow_its_events(tmp_path: Path) -> None:
    """The snapshot counted before a cycle, moved by the cycle's events, is what it committed."""
    s = await open_store(tmp_path / "state.db")
    try:
        first = [ad(0, APPROVED), ad(1, PENDING), ad(2, APPROVED), ad(3, REJECTED)]
        await commit(s, first, baseline=True, at=T0)
        loaded = await s.load_snapshot(ACCOUNT, Kind.AD)
        before = summary_counts(loaded.entities.values(), loaded.fields or ())
        second = [ad(0, PAUSED), ad(1, APPROVED), ad(3, APPROVED), ad(4, REJECTED_CODES)]
        events = await commit(s, second, baseline=False, at=T0 + 300)
        assert len(events) == 5  # paused, approved twice, removed, created
        committed = await s.load_snapshot(ACCOUNT, Kind.AD)
        expected = summary_counts(committed.entities.values(), committed.fields or ())
        assert (
            summary_counts_after(before, events)
            == expected
            == {"APPROVED": 2, "PAUSED": 1, "REJECTED": 1}
        )
    finally:
        await s.close()


def test_summary_counts_without_summary_status_field() -> None:
    """Snapshots encoded without summary_status count as UNKNOWN rather than failing."""
    from monitor.models import Stored
    from monitor.normal import encode_state

    entities = [Stored(1, 0, encode_state(["ACTIVE"])), Stored(1, 0, b"", removed=True)]
    assert summary_counts(entities, ("status",)) == {"UNKNOWN": 1}


async def test_show_status_prints_report_and_refuses_missing_state(
    store: StateStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pinmon status --json` prints the report; with no state file it says so and exits 1."""
    config = tmp_path / "pinmon.toml"
    config.write_text(
        '[pinterest]\naccess_token = "pina_status_test_token"\n'
        '[monitor]\nstate = "state.db"\n'
        '[[routes]]\nname = "ops"\n'
        'webhooks = [{ url = "http://127.0.0.1:9/", secret = "whsec_c3RhdHVzdGVzdA==" }]\n'
    )
    assert show_status(load_config(config), as_json=True, now=T0 + 600) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accounts"][0]["entities"]["ad"]["REJECTED"] == 3
    config.write_text(config.read_text().replace("state.db", "missing.db"))
    assert show_status(load_config(config), as_json=False) == 1
    assert "has not completed a cycle" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()
