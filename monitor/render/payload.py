"""The JSON a signed webhook receives: the documented event plus pinmon's guidance.

Additive to the event format (docs/events.md: consumers ignore fields they do not know),
so receivers written against version 1 keep working. The stored event (outbox, history,
``pinmon events``) stays the bare :func:`monitor.events.to_json`: guidance is derived at
send time from the table in :mod:`monitor.render.fixes`, never persisted.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from monitor.events import Event, to_json
from monitor.render.fixes import guidance
from monitor.render.words import ads_manager_url, reason_text

_encoder: Final = msgspec.json.Encoder()


def guidance_fields(event: Event) -> dict[str, Any]:
    """``guidance`` (one object per ``rejected_reasons`` value) and ``ads_manager_url``."""
    items = []
    for code in (str(x) for x in event.state.get("rejected_reasons") or ()):
        fix = guidance(code)
        items.append(
            {
                "reason": code,
                "title": reason_text(code),
                "meaning": fix.meaning,
                "fix": fix.fix,
                # null says "no page specific to this reason is known", not "no policy".
                "policy_url": fix.policy,
            }
        )
    return {"guidance": items, "ads_manager_url": ads_manager_url(event)}


def webhook_json(event: Event) -> bytes:
    """The body of a webhook request for ``event``."""
    if event.is_report:
        return to_json(event)
    data: dict[str, Any] = msgspec.to_builtins(event)
    data.update(guidance_fields(event))
    return _encoder.encode(data)
