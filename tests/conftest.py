"""Shared fixtures: anyio on asyncio, and where the shared Pinterest material lives."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_SPEC = REPO.parent / "shared" / "pinterest" / "openapi-v5.json"


@pytest.fixture
def anyio_backend() -> str:
    """Run every async test on asyncio, the backend pinmon ships on."""
    return "asyncio"
