"""pinmon: watch Pinterest ads and alert the moment one is rejected, paused or approved."""

from __future__ import annotations

__version__ = "0.1.0"
