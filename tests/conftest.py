"""Shared fixtures: anyio on asyncio, and where the shared Pinterest material lives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
_SPEC = Path("shared") / "pinterest" / "openapi-v5.json"
# Beside the checkout (/work/main → /work/shared), or one level up for a git worktree
# (/work/wt/<name> → /work/shared); the first that exists.
SHARED_SPEC = next(
    (p / _SPEC for p in (REPO.parent, REPO.parent.parent) if (p / _SPEC).is_file()),
    REPO.parent / _SPEC,
)


@pytest.fixture
def anyio_backend() -> str:
    """Run every async test on asyncio, the backend pinmon ships on."""
    return "asyncio"


@pytest.fixture(scope="session")
def openapi() -> dict[str, Any]:
    """Pinterest's OpenAPI description from ``../shared``; skips where it is absent."""
    if not SHARED_SPEC.is_file():
        pytest.skip(f"Pinterest OpenAPI spec not found at {SHARED_SPEC} (shared material absent)")
    spec: dict[str, Any] = json.loads(SHARED_SPEC.read_text(encoding="utf-8"))
    return spec
