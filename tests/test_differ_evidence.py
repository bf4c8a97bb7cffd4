"""The differ treats what Pinterest sends as evidence: future stamps, nulls, bad items, absence."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from monitor.differ import AccountDiff, DiffContext, DiffResult
from monitor.models import DEFAULT_WATCHED, Kind, Stored, row_type
from monitor.normal import MAX_TEXT, decode_meta

FIELDS = DEFAULT_WATCHED[Kind.AD]
ROW = row_type(Kind.AD, FIELDS)
NOW = 1_700_000_000.0
YEAR_2100 = 4_102_444_800

APPROVED: dict[str, Any] = {
    "status": "ACTIVE",
    "review_status": "APPROVED",
    "summary_status": "APPROVED",
    "rejected_reasons": [],
    "rejection_labels": [],
    "is_pin_deleted": False,
}
REJECTED = {
    **APPROVED,
    "review_status": "REJECTED",
    "summary_status": "REJECTED",
    "rejected_reasons": ["HASHTAGS"],
    "rejection_labels": ["Too many hashtags"],
}


def item(entity_id: Any, *, updated_time: int = 1_600_000_000, **fields: Any) -> msgspec.Raw:
    """One ad as the API would send it; ``entity_id`` may be garbage on purpose."""
    body: dict[str, Any] = {"updated_time": updated_time, "name": f"Ad {entity_id}", **APPROVED}
    if entity_id is not None:
        body["id"] = entity_id
    body.update(fields)
    return msgspec.Raw(msgspec.json.encode(body))


def ctx(*, baseline: bool = False) -> DiffContext:
    return DiffContext(
        "549755885175", Kind.AD, FIELDS, FIELDS, NOW, baseline=baseline, trusted_until=NOW + 300
    )


def cycle(
    stored: dict[str, Stored], items: list[msgspec.Raw], *, gone: set[str] | None = None
) -> tuple[DiffResult, dict[str, Stored]]:
    """One cycle against the whole snapshot; returns the result and the snapshot after it."""
    diff = AccountDiff(ctx(baseline=not stored), dict(stored))
    diff.feed_any(items, ROW)
    result = diff.finish(complete=True, gone=gone)
    return result, {**stored, **{r.entity_id: r.stored for r in result.rows}}


def test_a_future_stamp_is_not_trusted_and_never_blocks_a_later_change() -> None:
    """A year-2100 updated_time is stored without a version; the real rejection after it counts."""
    _, stored = cycle({}, [item("1")])
    poisoned, stored = cycle(stored, [item("1", updated_time=YEAR_2100)])
    assert poisoned.untrusted == ["1"]
    assert poisoned.events == []
    assert stored["1"].updated_time is None
    rejected, stored = cycle(stored, [item("1", updated_time=1_600_000_100, **REJECTED)])
    assert [e.type for e in rejected.events] == ["ad.rejected"]
    again, _ = cycle(stored, [item("1", updated_time=1_600_000_100, **REJECTED)])
    assert again.events == []


def test_a_poisoned_stamp_already_stored_proves_nothing() -> None:
    """A future stamp stored by an older pinmon does not make a real change look stale."""
    _, stored = cycle({}, [item("1")])
    stored["1"] = msgspec.structs.replace(stored["1"], updated_time=YEAR_2100)
    result, _ = cycle(stored, [item("1", updated_time=1_600_000_100, **REJECTED)])
    assert [e.type for e in result.events] == ["ad.rejected"]


def test_an_older_trusted_stamp_is_still_a_stale_replica() -> None:
    """The version guard still holds for believable stamps: an older one changes nothing."""
    _, stored = cycle({}, [item("1", updated_time=1_600_000_500)])
    result, _ = cycle(stored, [item("1", updated_time=1_600_000_100, **REJECTED)])
    assert (result.events, result.stale) == ([], 1)


@pytest.mark.parametrize("absent", [False, True], ids=["null", "absent"])
def test_null_status_fields_are_unknown_not_a_transition(absent: bool) -> None:
    """Status fields that come back null (or absent) keep their value: no event, then none again."""
    _, stored = cycle({}, [item("1", **REJECTED)])
    blank = dict.fromkeys(("status", "review_status", "summary_status", "rejected_reasons"))
    raw = item("1", **{**REJECTED, **blank})
    if absent:
        body = {k: v for k, v in msgspec.json.decode(raw).items() if k not in blank}
        raw = msgspec.Raw(msgspec.json.encode(body))
    unknown, stored = cycle(stored, [raw])
    assert unknown.events == []
    assert unknown.unknown == ["1"]
    back, _ = cycle(stored, [item("1", **REJECTED)])
    assert back.events == []  # not a false "approved", nor a second "rejected"


def test_an_explicit_empty_value_is_still_a_change() -> None:
    """Only null/absent is unknown: reasons cleared to [] while approved is a real change."""
    _, stored = cycle({}, [item("1", **REJECTED)])
    result, _ = cycle(stored, [item("1", **APPROVED)])
    assert [e.type for e in result.events] == ["ad.approved"]


@pytest.mark.parametrize(
    "bad",
    [
        item(None),
        item(687195134316),
        item("not-a-number"),
        item(""),
        item("1" * 40),
        msgspec.Raw(b'{"id": "3", "status": {"nested": true}}'),
        msgspec.Raw(b"[1, 2, 3]"),
    ],
    ids=["no id", "integer id", "word id", "empty id", "40 digits", "wrong type", "not an object"],
)
def test_a_bad_item_is_skipped_and_the_others_still_alert(bad: msgspec.Raw) -> None:
    """One unusable item is reported and skipped; the rejection beside it is still an event."""
    _, stored = cycle({}, [item("1"), item("2"), item("3")])
    result, _ = cycle(stored, [item("1"), bad, item("2", **REJECTED)])
    assert [(e.entity_id, e.type) for e in result.events] == [("2", "ad.rejected")]
    (skipped,) = result.bad
    assert skipped.page == 1
    assert len(skipped.excerpt) <= 130
    # Ad 3 is not listed, but with a skipped item around absence proves nothing.
    assert not result.complete
    assert all(not r.stored.removed for r in result.rows)


def test_only_ids_confirmed_gone_are_removed() -> None:
    """Missing from a complete listing is a candidate; only what the lookup confirms is removed."""
    _, stored = cycle({}, [item("1"), item("2"), item("3")])
    diff = AccountDiff(ctx(), dict(stored))
    diff.feed_any([item("1")], ROW)
    assert sorted(diff.missing()) == ["2", "3"]
    diff.feed_found([item("3"), item("9")], ROW)  # 3 exists after all; 9 was never asked for
    assert diff.missing() == ["2"]
    result = diff.finish(complete=True, gone={"2"})
    assert [(e.entity_id, e.type) for e in result.events] == [("2", "ad.removed")]
    assert {r.entity_id for r in result.rows} == {"2"}


def test_an_unconfirmed_candidate_is_left_as_it_was() -> None:
    """A candidate the lookup could not settle is neither removed nor rewritten."""
    _, stored = cycle({}, [item("1"), item("2")])
    result, after = cycle(stored, [item("1")], gone=set())
    assert result.events == []
    assert after["2"] == stored["2"]


def test_long_strings_are_cut_before_they_are_stored() -> None:
    """A 1 MB name and 1,000 reasons are cut to sane sizes in the stored state and the event."""
    reasons = [f"REASON_{i}" for i in range(1000)]
    huge = "x" * 1_000_000
    _, stored = cycle({}, [item("1")])
    result, after = cycle(
        stored, [item("1", name=huge, **{**REJECTED, "rejected_reasons": reasons})]
    )
    (event,) = result.events
    assert event.name is not None
    assert len(event.name) == MAX_TEXT
    assert len(event.state["rejected_reasons"]) == 100
    assert len(decode_meta(after["1"].meta)[3]) == MAX_TEXT
    assert len(after["1"].blob) < 5_000
