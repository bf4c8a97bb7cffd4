"""`pinmon status`: each account's health, its ads by status, what is rejected now, the outbox.

Reading (:func:`status_report`, from the store) and formatting (:func:`format_status`, pure)
are separate: ``--json`` prints the report itself, whose shape is versioned.
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

from monitor.models import Kind
from monitor.normal import decode_state
from monitor.store import AccountState, StateStore
from monitor.summary import (
    OUTBOX_STATUSES,
    outbox_summary,
    summary_counts_of,
)
from monitor.targets import label_of, load_labels

if TYPE_CHECKING:
    from monitor.config import Config

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


async def _account(
    store: StateStore, state: AccountState, *, now: float, watched: Sequence[Kind]
) -> dict[str, Any]:
    entities: dict[str, dict[str, int]] = {}
    rejected: list[dict[str, Any]] = []
    for kind in watched:
        # Counted in the database by distinct stored state: each state is decoded once,
        # however many entities share it, and only the rejected entities' rows are read.
        states = await store.state_groups(state.account_id, kind)
        fields = states.fields or ()
        counts = summary_counts_of(states.groups, fields)
        entities[kind.value] = dict(sorted(counts.items()))
        if kind is not Kind.AD:
            continue
        reasons_of = {
            blob: reasons
            for blob, _ in states.groups
            if (reasons := _rejection(decode_state(fields, blob))) is not None
        }
        found = await store.entities_in_states(state.account_id, kind, list(reasons_of))
        for entity_id, blob, meta in found:
            ids = [*(_decode_list(meta) if meta else []), None, None, None, None]
            row = {"ad_id": entity_id, "name": ids[3], **dict(zip(_ID_KEYS, ids, strict=False))}
            rejected.append({**row, "reasons": list(reasons_of[blob])})
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
    }


async def status_report(
    store: StateStore, *, now: float, watched: Sequence[Kind] = (Kind.AD,)
) -> dict[str, Any]:
    """Read everything `pinmon status` shows, as a JSON-able dict (see ``REPORT_VERSION``).

    Args:
        store: The state store (read only).
        now: Wall-clock Unix seconds the ages are measured from.
        watched: The entity kinds to count (the config's ``monitor.entities``); rejected
            ads are listed when ads are among them.
    """
    accounts = [
        await _account(store, state, now=now, watched=watched) for state in await store.accounts()
    ]
    outbox = await outbox_summary(store, now=now)
    oldest = outbox.oldest_pending
    return {
        "version": REPORT_VERSION,
        "generated_at": now,
        "accounts": accounts,
        "deliveries": {
            **{status: outbox.counts.get(status, 0) for status in OUTBOX_STATUSES},
            "capped": sorted(outbox.capped),
            "oldest_pending": None
            if oldest is None
            else {
                "event_id": oldest.event.id,
                "type": oldest.event.type,
                "route": oldest.route,
                "target": oldest.target,
                "target_label": label_of(await load_labels(store), oldest.target),
                "created_at": oldest.created_at,
                "age_s": round(outbox.oldest_pending_age_s or 0.0, 3),
                "attempts": oldest.attempts,
                "last_error": oldest.last_error,
            },
        },
        "mutes": [
            {"scope": m.scope, "id": m.entity_id, "until": m.until, "reason": m.reason}
            for m in sorted(await store.mutes(now=now), key=lambda m: m.until)
        ],
    }


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


async def show_status(config: Config, *, as_json: bool, now: float | None = None) -> int:
    """`pinmon status`: print the report as text or JSON; 1 when there is no state yet."""
    from monitor.redact import register_config_secrets
    from monitor.store.factory import open_state

    # Secrets first: an error opening a database may quote its URL.
    register_config_secrets(config)
    path = config.monitor.state
    if isinstance(path, Path) and not path.exists():
        # Opening would create an empty database; say plainly that nothing ran yet.
        print(f"pinmon: no state at {path}: the daemon has not completed a cycle", file=sys.stderr)
        return 1
    store = await open_state(path)
    try:
        report = await status_report(
            store, now=time.time() if now is None else now, watched=config.monitor.entities
        )
    finally:
        await store.close()
    print(json.dumps(report, indent=2) if as_json else format_status(report))
    return 0
