"""`pinmon status`: each account's health, its ads by status, what is rejected now, the
review fast lane, the outbox.

Reading (:func:`read_report`, a function of a store connection) and formatting
(:func:`format_status`, pure) are separate: ``--json`` prints the report itself, whose
shape is versioned. The command reads on a connection of its own (``store/direct.py``);
:func:`status_report` runs the same reader on the daemon's async store.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from monitor.lane import in_review, stamped_within
from monitor.models import Kind
from monitor.normal import decode_state
from monitor.store import AccountState, accounts, alerting, outbox, settings, snapshots
from monitor.store._db import Db
from monitor.summary import (
    OUTBOX_SCAN_LIMIT,
    OUTBOX_STATUSES,
    summarize_outbox,
    summary_counts_of,
)
from monitor.targets import label_of

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import StateStore

#: Bumped on any incompatible change of the ``--json`` shape.
REPORT_VERSION: Final = 1

#: Rejected ads listed per account in the text form; ``--json`` lists them all.
SHOWN_REJECTED: Final = 10

_REJECTED: Final = "REJECTED"
#: ``Stored.meta`` is msgpack ``[campaign_id, ad_group_id, pin_id, name]``.
_ID_KEYS: Final = ("campaign_id", "ad_group_id", "pin_id")
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


def _rejection(state: Mapping[str, Any]) -> list[str] | None:
    if _REJECTED not in (state.get("review_status"), state.get("summary_status")):
        return None
    # Labels are Pinterest's human wording; the reason codes are the fallback.
    return list(state.get("rejection_labels") or state.get("rejected_reasons") or [])


def _account(
    db: Db, state: AccountState, *, now: float, watched: Sequence[Kind], lane_s: float | None
) -> dict[str, Any]:
    entities: dict[str, dict[str, int]] = {}
    rejected: list[dict[str, Any]] = []
    lane = None
    for kind in watched:
        # Counted in the database by distinct stored state: each state is decoded once,
        # however many entities share it, and only the rejected entities' rows are read.
        states = snapshots.state_groups(db, state.account_id, kind)
        fields = states.fields or ()
        counts = summary_counts_of(states.groups, fields)
        entities[kind.value] = dict(sorted(counts.items()))
        if kind is not Kind.AD:
            continue
        decoded = {blob: decode_state(fields, blob) for blob, _ in states.groups}
        reasons_of = {
            blob: reasons for blob, s in decoded.items() if (reasons := _rejection(s)) is not None
        }
        found = snapshots.entities_in_states(db, state.account_id, kind, list(reasons_of))
        for entity_id, blob, meta in found:
            ids = [*(_decode_list(meta) if meta else []), None, None, None, None]
            row = {"ad_id": entity_id, "name": ids[3], **dict(zip(_ID_KEYS, ids, strict=False))}
            rejected.append({**row, "reasons": list(reasons_of[blob])})
        if lane_s is not None:
            reviewing = [blob for blob, s in decoded.items() if in_review(s)]
            lane = _lane(db, state.account_id, reviewing, now=now, window_s=lane_s)
    rejected.sort(key=lambda r: (r["name"] or "", r["ad_id"]))
    last = state.last_success_at
    return {
        "account_id": state.account_id,
        "name": state.name,
        "last_success_at": last,
        "last_success_age_s": None if last is None else round(max(0.0, now - last), 3),
        "last_attempt_at": state.last_attempt_at,
        "last_error": state.last_error,
        "consecutive_failures": state.consecutive_failures,
        "entities": entities,
        "rejected": rejected,
        "review_lane": lane,
    }


def _lane(
    db: Db, account_id: str, reviewing: Sequence[bytes], *, now: float, window_s: float
) -> dict[str, Any]:
    """The ads a restarted daemon takes into its review fast lane (``KindPoller._prime``):
    those in review, and those Pinterest stamped within the window. The oldest is aged
    from its stamp (its creation or last edit: when its review began)."""
    candidates = snapshots.stamped_or_in_states(db, account_id, Kind.AD, now - window_s, reviewing)
    pending = set(reviewing)
    stamps = [
        stamp
        for blob, stamp in candidates.values()
        if blob in pending or stamped_within(stamp, now=now, window_s=window_s)
    ]
    known = [float(t) for t in stamps if t is not None]
    oldest = min(known) if known else None
    return {
        "ads": len(stamps),
        "oldest_at": oldest,
        "oldest_age_s": None if oldest is None else round(max(0.0, now - oldest), 3),
    }


def read_report(
    db: Db, now: float, watched: Sequence[Kind], lane_s: float | None
) -> dict[str, Any]:
    """Read everything `pinmon status` shows, as a JSON-able dict (see ``REPORT_VERSION``).

    Args:
        db: A connection to the state (only read).
        now: Wall-clock Unix seconds the ages are measured from.
        watched: The entity kinds to count (the config's ``monitor.entities``); rejected
            ads are listed, and the review lane reported, when ads are among them.
        lane_s: The review lane's window (``fast_window``); None when the lane is off
            (``fast_interval = 0``): each account's ``review_lane`` is then None.
    """
    found = [
        _account(db, state, now=now, watched=watched, lane_s=lane_s)
        for state in accounts.accounts(db)
    ]
    counts = outbox.count_by_status(db, OUTBOX_STATUSES, OUTBOX_SCAN_LIMIT)
    first = outbox.first_pending(db) if counts.get("pending") else None
    summary = summarize_outbox(counts, first, now=now, limit=OUTBOX_SCAN_LIMIT)
    oldest = summary.oldest_pending
    return {
        "version": REPORT_VERSION,
        "generated_at": now,
        "accounts": found,
        "deliveries": {
            **{status: summary.counts.get(status, 0) for status in OUTBOX_STATUSES},
            "capped": sorted(summary.capped),
            "oldest_pending": None
            if oldest is None
            else {
                "event_id": oldest.event.id,
                "type": oldest.event.type,
                "route": oldest.route,
                "target": oldest.target,
                "target_label": label_of(settings.labels(db), oldest.target),
                "created_at": oldest.created_at,
                "age_s": round(summary.oldest_pending_age_s or 0.0, 3),
                "attempts": oldest.attempts,
                "last_error": oldest.last_error,
            },
        },
        "mutes": [
            {"scope": m.scope, "id": m.entity_id, "until": m.until, "reason": m.reason}
            for m in sorted(alerting.mutes(db, now), key=lambda m: m.until)
        ],
    }


async def status_report(
    store: StateStore,
    *,
    now: float,
    watched: Sequence[Kind] = (Kind.AD,),
    lane_s: float | None = None,
) -> dict[str, Any]:
    """:func:`read_report` on the daemon's async store (in its worker thread)."""
    return await store.run("status", read_report, now, tuple(watched), lane_s)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _polled(account: Mapping[str, Any]) -> str:
    age = account["last_success_age_s"]
    last_ok = "never succeeded" if age is None else f"last success {_ago(age)}"
    failures = account["consecutive_failures"]
    if not failures:
        return f"ok, {_ago(age)}" if age is not None else "not polled yet"
    error = account["last_error"] or "unknown error"
    return f"FAILING ({failures} in a row, {last_ok}): {error}"


def _lane_text(lane: Mapping[str, Any] | None) -> str:
    if lane is None:
        return "off (fast_interval = 0)"
    ads = f"{lane['ads']} ad{'' if lane['ads'] == 1 else 's'}"
    age = lane["oldest_age_s"]
    return ads if age is None else f"{ads}, oldest changed {_ago(age)}"


def format_status(report: Mapping[str, Any]) -> str:
    """The report as short aligned text, one block per account, then the outbox and mutes."""
    label = "{:<12}{}".format
    lines = [f"pinmon status at {_when(report['generated_at'])}", ""]
    if not report["accounts"]:
        lines += ["no account polled yet", ""]
    for account in report["accounts"]:
        lines.append(f"{account['account_id']}  {account['name'] or ''}".rstrip())
        lines.append("  " + label("polled", _polled(account)))
        for kind, counts in account["entities"].items():
            text = "  ".join(f"{status} {n}" for status, n in counts.items()) or "none"
            lines.append("  " + label(Kind(kind).plural, text))
        rejected = account["rejected"]
        width = max((len(r["name"] or "") for r in rejected[:SHOWN_REJECTED]), default=0)
        for i, row in enumerate(rejected[:SHOWN_REJECTED]):
            reasons = "; ".join(row["reasons"]) or "no reason given"
            text = f"{row['ad_id']}  {(row['name'] or ''):<{width}}  {reasons}"
            lines.append("  " + label("rejected" if i == 0 else "", text))
        if len(rejected) > SHOWN_REJECTED:
            more = f"... and {len(rejected) - SHOWN_REJECTED} more (--json lists them all)"
            lines.append("  " + label("", more))
        if "ad" in account["entities"]:
            lines.append("  " + label("review lane", _lane_text(account["review_lane"])))
        lines.append("")
    deliveries = report["deliveries"]
    outbox = ", ".join(
        f"{deliveries[s]}{'+' if s in deliveries['capped'] else ''} {s}" for s in OUTBOX_STATUSES
    )
    oldest = deliveries["oldest_pending"]
    if oldest is not None:
        outbox += (
            f"; oldest pending {oldest['type']} to {oldest['target_label']}"
            f" queued {_ago(oldest['age_s'])}"
        )
        if oldest["last_error"]:
            outbox += f" ({oldest['last_error']})"
    # Two wider than `label`, so these values line up with the indented account lines.
    lines.append(f"{'outbox':<14}{outbox}")
    mutes = report["mutes"]
    shown = [
        f"{m['scope']} {m['id']} until {_when(m['until'])}"
        + (f" ({m['reason']})" if m["reason"] else "")
        for m in mutes
    ]
    lines.append(f"{'mutes':<14}{'; '.join(shown) if shown else 'none'}")
    return "\n".join(lines)


def show_status(config: Config, *, as_json: bool, now: float | None = None) -> int:
    """`pinmon status`: print the report as text or JSON; 1 when there is no state yet."""
    from monitor.redact import register_config_secrets
    from monitor.store.direct import open_direct

    # Secrets first: an error opening a database may quote its URL.
    register_config_secrets(config)
    path = config.monitor.state
    if isinstance(path, Path) and not path.exists():
        # Opening would create an empty database; say plainly that nothing ran yet.
        print(f"pinmon: no state at {path}: the daemon has not completed a cycle", file=sys.stderr)
        return 1
    mon = config.monitor
    lane_s = mon.fast_window_s if mon.fast_interval_s else None
    at = time.time() if now is None else now
    with open_direct(path) as state:
        report = state.call("status", read_report, at, tuple(mon.entities), lane_s)
    print(json.dumps(report, indent=2) if as_json else format_status(report))
    return 0
