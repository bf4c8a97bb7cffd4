"""`pinmon demo`: the whole story plays end to end against the built-in simulator."""

from __future__ import annotations

import io

import pytest

from monitor.demo import run_demo

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_demo_story_is_delivered() -> None:
    """Every change of the story arrives as a notification, in order, and the demo exits 0."""
    out = io.StringIO()
    assert await run_demo(interval_s=0.3, out=out) == 0
    text = out.getvalue()
    order = [
        "🚫 Ad rejected: Holiday Sale — Carousel",
        "2 changes in Acme Home & Living",
        "🆕 New ad: Trail Running — Quiz",
        "✅ Ad approved: Trail Running — Quiz",
    ]
    positions = [text.index(title) for title in order]
    assert positions == sorted(positions)
    assert "Landing page" in text  # the reasons, in words
    assert "notifications delivered" in text
