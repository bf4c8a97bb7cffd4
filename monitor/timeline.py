"""`pinmon events --ad ID`: one ad's timeline, the same the board's Ad page shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from monitor.config import Config
from monitor.events import to_json
from monitor.redact import register_config_secrets
from monitor.store.factory import open_state
from monitor.web.queries import AdView, ad_view


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_timeline(view: AdView) -> str:
    """The timeline as text, newest first: each event, its changes, reasons, deliveries."""
    lines = [f"ad {view.ad_id}  {view.name or ''}".rstrip()]
    if view.account_id:
        lines.append(f"  account {view.account_id}")
    if not view.timeline:
        lines.append("  no events (unchanged since pinmon's first look)")
    for entry in view.timeline:
        e = entry.event
        lines.append(f"{_when(e.detected_at)}  {e.type:<26} {entry.headline}")
        for c in entry.changes:
            lines.append(f"    {c.field}: {c.old} -> {c.new}")
        for reason in entry.reasons:
            lines.append(f"    why: {reason}")
        for d in entry.deliveries:
            err = f" ({d.last_error})" if d.last_error else ""
            lines.append(
                f"    -> {d.label} via {d.route}: {d.status}, {d.attempts} attempt"
                f"{'' if d.attempts == 1 else 's'}{err}"
            )
    return "\n".join(lines)


async def show_timeline(config: Config, *, ad_id: str, as_json: bool) -> int:
    """Print one ad's timeline; 1 when the state knows nothing of it."""
    register_config_secrets(config)  # an error opening a database may quote its URL
    store = await open_state(config.monitor.state)
    try:
        view = await ad_view(store, ad_id)
    finally:
        await store.close()
    if view is None:
        print(f"no ad {ad_id} in the state (not watched, or its history was pruned)")
        return 1
    if as_json:
        for entry in view.timeline:
            record = json.loads(to_json(entry.event))
            record["deliveries"] = [
                {
                    "route": d.route,
                    "target_label": d.label,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                }
                for d in entry.deliveries
            ]
            print(json.dumps(record))
        return 0
    print(format_timeline(view))
    return 0
