"""The differ as a table: stored snapshot + listing → events, pure and deterministic."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from monitor.differ import AccountDiff, DiffContext, DiffResult, diff_listing
from monitor.models import DEFAULT_WATCHED, Kind, Row, Stored, as_row, row_type

AD = row_type(Kind.AD, DEFAULT_WATCHED[Kind.AD])
AD_NAME = row_type(Kind.AD, (*DEFAULT_WATCHED[Kind.AD], "name", "destination_url"))

APPROVED: dict[str, Any] = {
    "status": "ACTIVE",
    "review_status": "APPROVED",
    "summary_status": "APPROVED",
    "rejected_reasons": [],
    "rejection_labels": None,
    "is_pin_deleted": False,
}
REJECTED = {
    **APPROVED,
    "review_status": "REJECTED",
    "summary_status": "REJECTED",
    "rejected_reasons": ["HASHTAGS", "LANDING_PAGE_BROKEN"],
    "rejection_labels": ["Too many hashtags", "Landing page doesn't load"],
}
PAUSED = {**APPROVED, "status": "PAUSED", "summary_status": "PAUSED"}
PENDING = {**APPROVED, "review_status": "PENDING", "summary_status": "PENDING"}


def ad(entity_id: str = "1", updated_time: int = 100, row: type[Row] = AD, **fields: Any) -> Row:
    base: dict[str, Any] = {
        "ad_account_id": "549755885175",
        "campaign_id": "626735565838",
        "ad_group_id": "2680059592705",
        "pin_id": "394205773611545468",
        "name": f"Ad {entity_id}",
        **APPROVED,
    }
    base.update(fields)
    return row(id=entity_id, updated_time=updated_time, **base)


def baseline(*rows: Row, watched: tuple[str, ...] = DEFAULT_WATCHED[Kind.AD]) -> dict[str, Stored]:
    """Store ``rows`` as a first cycle would."""
    result = run({}, list(rows), baseline=True, watched=watched)
    return {r.entity_id: r.stored for r in result.rows}


def run(
    stored: dict[str, Stored],
    rows: list[Row],
    *,
    baseline: bool = False,
    complete: bool = True,
    watched: tuple[str, ...] = DEFAULT_WATCHED[Kind.AD],
    stored_fields: tuple[str, ...] | None = None,
) -> DiffResult:
    ctx = DiffContext(
        account_id="549755885175",
        kind=Kind.AD,
        watched=watched,
        stored_fields=stored_fields or watched,
        detected_at=1_700_000_000.0,
        baseline=baseline,
    )
    return diff_listing(ctx, dict(stored), [rows], complete=complete)


CASES = [
    # (name, stored rows, new rows, expected event types)
    ("unchanged", [ad()], [ad()], []),
    (
        "rejection without updated_time bump",
        [ad()],
        [ad(**REJECTED)],
        ["ad.rejected"],
    ),
    ("rejection with bump", [ad()], [ad(updated_time=200, **REJECTED)], ["ad.rejected"]),
    ("approval after pending", [ad(**PENDING)], [ad(**APPROVED)], ["ad.approved"]),
    ("approval after rejection", [ad(**REJECTED)], [ad(updated_time=300)], ["ad.approved"]),
    ("pause", [ad()], [ad(updated_time=200, **PAUSED)], ["ad.status_changed"]),
    ("resume", [ad(**PAUSED)], [ad(updated_time=200)], ["ad.status_changed"]),
    ("pin deleted", [ad()], [ad(is_pin_deleted=True)], ["ad.pin_deleted"]),
    ("created", [ad("1")], [ad("1"), ad("2")], ["ad.created"]),
    ("removed from a complete listing", [ad("1"), ad("2")], [ad("1")], ["ad.removed"]),
    (
        "reasons changed while rejected",
        [ad(**REJECTED)],
        [ad(**{**REJECTED, "rejected_reasons": ["HASHTAGS"], "rejection_labels": ["x"]})],
        ["ad.rejected"],
    ),
    (
        "reasons reordered are the same set",
        [ad(**REJECTED)],
        [ad(**{**REJECTED, "rejected_reasons": ["LANDING_PAGE_BROKEN", "HASHTAGS"]})],
        [],
    ),
    (
        "null, absent and [] are one value",
        [ad(rejected_reasons=[])],
        [ad(rejected_reasons=None)],
        [],
    ),
    ("absent bool is false", [ad(is_pin_deleted=False)], [ad(is_pin_deleted=None)], []),
    (
        "stale updated_time is ignored",
        [ad(updated_time=200)],
        [ad(updated_time=100, **REJECTED)],
        [],
    ),
    (
        "review status only",
        [ad(review_status="OTHER")],
        [ad(review_status="PENDING")],
        ["ad.review_status_changed"],
    ),
    (
        "summary status only",
        [ad()],
        [ad(summary_status="ADVERTISER_DISABLED")],
        ["ad.summary_status_changed"],
    ),
    ("duplicate rows count once", [ad("1")], [ad("1"), ad("2"), ad("2")], ["ad.created"]),
]


@pytest.mark.parametrize(("name", "before", "after", "expected"), CASES, ids=[c[0] for c in CASES])
def test_diff_table(name: str, before: list[Row], after: list[Row], expected: list[str]) -> None:
    """Each case's listing against its stored snapshot yields exactly the expected event types."""
    result = run(baseline(*before), after)
    assert [e.type for e in result.events] == expected


def test_first_cycle_is_a_silent_baseline() -> None:
    """An account's first cycle records every entity and emits nothing."""
    result = run({}, [ad("1", **REJECTED), ad("2")], baseline=True)
    assert result.events == []
    assert {r.entity_id for r in result.rows} == {"1", "2"}


def test_incomplete_listing_infers_nothing_from_absence() -> None:
    """An entity missing from a listing that did not complete is not reported removed."""
    result = run(baseline(ad("1"), ad("2")), [ad("1")], complete=False)
    assert result.events == []
    assert all(not r.stored.removed for r in result.rows)


def test_event_carries_changes_ids_and_name() -> None:
    """A rejection event names every field change, the ids, the name and the detection time."""
    (event,) = run(baseline(ad()), [ad(updated_time=150, **REJECTED)]).events
    assert event.changes["review_status"].old == "APPROVED"
    assert event.changes["review_status"].new == "REJECTED"
    assert event.changes["rejected_reasons"].old == []
    assert event.changes["rejected_reasons"].new == ["HASHTAGS", "LANDING_PAGE_BROKEN"]
    assert "status" not in event.changes
    assert (event.ad_id, event.campaign_id, event.ad_group_id, event.pin_id) == (
        "1",
        "626735565838",
        "2680059592705",
        "394205773611545468",
    )
    assert event.name == "Ad 1"
    assert event.updated_time == 150
    assert event.detected_at == 1_700_000_000.0
    assert event.state["summary_status"] == "REJECTED"


def test_same_change_gets_the_same_id_across_runs() -> None:
    """Re-running a cycle from the same stored state (a restart) reproduces the event ids."""
    stored = baseline(ad())
    first = run(stored, [ad(**REJECTED)]).events
    again = run(stored, [ad(**REJECTED)]).events
    assert [e.id for e in first] == [e.id for e in again]


def test_flip_back_and_forth_gets_new_ids() -> None:
    """Rejected, approved, rejected again: the second rejection is a new event with a new id."""
    stored = baseline(ad())
    r1 = run(stored, [ad(**REJECTED)])
    stored = {**stored, **{r.entity_id: r.stored for r in r1.rows}}
    r2 = run(stored, [ad()])
    stored = {**stored, **{r.entity_id: r.stored for r in r2.rows}}
    r3 = run(stored, [ad(**REJECTED)])
    assert [e.type for e in (*r1.events, *r2.events, *r3.events)] == [
        "ad.rejected",
        "ad.approved",
        "ad.rejected",
    ]
    assert r1.events[0].id != r3.events[0].id


def test_removed_then_back_is_created_with_a_fresh_id() -> None:
    """An ad that leaves and comes back is reported created again, under a new id."""
    stored = baseline(ad("1"), ad("2"))
    gone = run(stored, [ad("1")])
    stored = {**stored, **{r.entity_id: r.stored for r in gone.rows}}
    back = run(stored, [ad("1"), ad("2")])
    assert [e.type for e in back.events] == ["ad.created"]
    assert back.events[0].id not in {e.id for e in gone.events}
    # A tombstone stays a tombstone while absent: no second "removed".
    assert run(stored, [ad("1")]).events == []


def test_removed_event_keeps_last_known_ids_and_name() -> None:
    """A removed event reports the campaign, ad group and name it had when last seen."""
    (event,) = run(baseline(ad("1"), ad("2")), [ad("1")]).events
    assert (event.type, event.entity_id, event.name, event.campaign_id) == (
        "ad.removed",
        "2",
        "Ad 2",
        "626735565838",
    )


def test_stale_entry_is_neither_stored_nor_removed() -> None:
    """A stale replica's row neither overwrites the newer stored one nor counts as missing."""
    result = run(baseline(ad(updated_time=200)), [ad(updated_time=100, **PAUSED)])
    assert (result.events, result.rows, result.stale) == ([], [], 1)


def test_updated_time_bump_alone_is_stored_silently() -> None:
    """A newer updated_time with the same watched values updates the stamp, without an event."""
    result = run(baseline(ad()), [ad(updated_time=500)])
    assert result.events == []
    assert [r.stored.updated_time for r in result.rows] == [500]


def test_extra_watched_fields_report_updates() -> None:
    """A configured extra field (name) changing is an ``ad.updated`` event."""
    watched = (*DEFAULT_WATCHED[Kind.AD], "name", "destination_url")
    stored = baseline(ad(row=AD_NAME), watched=watched)
    result = run(stored, [ad(row=AD_NAME, name="Renamed")], watched=watched)
    assert [(e.type, e.changes["name"].new) for e in result.events] == [("ad.updated", "Renamed")]


def test_adding_a_watched_field_rebaselines_silently() -> None:
    """Watching a new field does not report every ad as changed on the next cycle."""
    stored = baseline(ad(row=AD_NAME))
    watched = (*DEFAULT_WATCHED[Kind.AD], "name", "destination_url")
    result = run(stored, [ad(row=AD_NAME)], watched=watched, stored_fields=DEFAULT_WATCHED[Kind.AD])
    assert result.events == []
    assert len(result.rows) == 1


def test_pages_are_fed_incrementally() -> None:
    """Feeding pages one at a time gives the same outcome as a whole listing."""
    stored = baseline(ad("1"), ad("2"), ad("3"))
    ctx = DiffContext("549755885175", Kind.AD, AD_FIELDS, AD_FIELDS, 1.0)
    diff = AccountDiff(ctx, dict(stored))
    diff.feed([ad("1", **REJECTED)])
    diff.feed([ad("3"), ad("4")])
    result = diff.finish(complete=True)
    assert sorted(e.type for e in result.events) == ["ad.created", "ad.rejected", "ad.removed"]


AD_FIELDS = DEFAULT_WATCHED[Kind.AD]


# --- page by page, in id order, against the stored range of each page -------------------

RAW_AD = row_type(Kind.AD, DEFAULT_WATCHED[Kind.AD])


def raw(entity_id: str, **fields: Any) -> msgspec.Raw:
    """An ad as the API sends it (raw JSON bytes)."""
    item = {"id": entity_id, "updated_time": 100, "ad_account_id": "549755885175",
            "name": f"Ad {entity_id}", **APPROVED, **fields}
    return msgspec.Raw(msgspec.json.encode(item))


def stored_range(*items: msgspec.Raw) -> list[tuple[str, Stored]]:
    """What a first (baseline) cycle stores for these items, in id order."""
    ctx = DiffContext("549755885175", Kind.AD, AD_FIELDS, AD_FIELDS, 1.0, baseline=True)
    diff = AccountDiff(ctx, {})
    diff.feed_page(list(items), RAW_AD, [])
    rows = diff.finish(complete=True).rows
    return sorted(((r.entity_id, r.stored) for r in rows), key=lambda kv: (len(kv[0]), kv[0]))


def paged(stored: list[tuple[str, Stored]], pages: list[list[msgspec.Raw]]) -> DiffResult:
    """Feed pages with their stored ranges as the poller does, then the tail."""
    ctx = DiffContext("549755885175", Kind.AD, AD_FIELDS, AD_FIELDS, 1.0)
    diff = AccountDiff(ctx, {})
    after: str | None = None
    for page in pages:
        upto = msgspec.json.decode(page[-1])["id"]
        key = (len(upto), upto)
        in_range = [kv for kv in stored
                    if (after is None or (len(kv[0]), kv[0]) > (len(after), after))
                    and (len(kv[0]), kv[0]) <= key]
        diff.feed_page(page, RAW_AD, [as_row(*kv) for kv in in_range])
        after = upto
    diff.add_stored(kv for kv in stored if after is None or (len(kv[0]), kv[0]) > (len(after), after))
    return diff.finish(complete=True)


def test_unchanged_bytes_are_never_decoded() -> None:
    """An item hashing like its stored entity is skipped unread: garbage there goes unnoticed."""
    stored = stored_range(raw("1"), raw("2"))
    garbage = msgspec.Raw(b'{"id": "2", "status": ["not", "a", "string"]}')
    stored[1] = ("2", msgspec.structs.replace(
        stored[1][1], raw_hash=__import__("xxhash").xxh3_64_intdigest(garbage) >> 1))
    assert paged(stored, [[raw("1"), garbage]]).events == []


def test_pages_find_changes_creations_and_removals_in_between() -> None:
    """Across pages: a rejection, an ad added between two others, one gone, one gone at the end."""
    stored = stored_range(raw("8"), raw("9"), raw("10"), raw("12"), raw("13"), raw("14"))
    result = paged(stored, [[raw("8"), raw("9", **REJECTED)], [raw("11"), raw("12"), raw("13")]])
    assert sorted((e.entity_id, e.type) for e in result.events) == [
        ("10", "ad.removed"), ("11", "ad.created"), ("14", "ad.removed"), ("9", "ad.rejected")
    ]


def test_out_of_order_listing_is_an_order_error() -> None:
    """Ids going backwards mean the listing ignored the order: OrderError, for the fallback."""
    from monitor.differ import OrderError

    stored = stored_range(raw("1"), raw("2"), raw("3"))
    with pytest.raises(OrderError):
        paged(stored, [[raw("1"), raw("3", **PAUSED), raw("2", **PAUSED)]])


def test_an_ad_repeated_across_a_page_boundary_counts_once() -> None:
    """The same ad at the end of one page and the start of the next is diffed once."""
    stored = stored_range(raw("1"), raw("2"), raw("3"))
    result = paged(stored, [[raw("1"), raw("2", **PAUSED)], [raw("2", **PAUSED), raw("3")]])
    assert [e.type for e in result.events] == ["ad.status_changed"]


@pytest.mark.parametrize("seed", range(40))
def test_paged_diff_matches_the_whole_snapshot_diff(seed: int) -> None:
    """Whatever a listing does to the stored ranges (changes, ads added and gone, tombstones
    listed again, unchanged pages, a page boundary shifting), diffing page by page against
    the range rows finds exactly what diffing against the whole snapshot finds."""
    import random

    rng = random.Random(seed)
    ids = sorted(rng.sample(range(100, 400), 60))
    stored = stored_range(*(raw(str(i)) for i in ids))
    for k in rng.sample(range(len(stored)), 5):  # some tombstones among them
        stored[k] = (stored[k][0], msgspec.structs.replace(stored[k][1], removed=True, raw_hash=0))
    listed: list[msgspec.Raw] = []
    for i in range(100, 400):
        roll = rng.random()
        if i in ids and roll < 0.85:
            listed.append(raw(str(i), **(rng.choice([REJECTED, PAUSED]) if roll < 0.1 else {})))
        elif i not in ids and roll < 0.03:
            listed.append(raw(str(i)))  # a new ad between stored ones
    size = rng.choice([5, 10, 25])
    pages = [listed[i : i + size] for i in range(0, len(listed), size)]
    by_pages = paged(stored, pages)
    ctx = DiffContext("549755885175", Kind.AD, AD_FIELDS, AD_FIELDS, 1.0)
    whole = AccountDiff(ctx, dict(stored))
    for page in pages:
        whole.feed_any(page, RAW_AD)
    by_whole = whole.finish(complete=True)

    def summary(result: DiffResult) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
        return (
            sorted((e.entity_id, e.type) for e in result.events),
            sorted((r.entity_id, r.stored.rev) for r in result.rows),
        )

    assert by_pages.events, "the story changes something"
    assert summary(by_pages) == summary(by_whole)
    assert by_pages.seen == by_whole.seen == len(listed)
