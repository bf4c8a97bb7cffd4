"""The Pinterest API v5 client: typed listings with retries, backoff and token refresh."""

from __future__ import annotations

from monitor.pinterest.auth import StaticToken, TokenSource
from monitor.pinterest.client import PinterestClient
from monitor.pinterest.retry import RateLimit, RetryPolicy
from monitor.pinterest.transport import USER_AGENT, OnResponse
from monitor.vocab import DEFAULT_BASE_URL

__all__ = [
    "DEFAULT_BASE_URL",
    "USER_AGENT",
    "OnResponse",
    "PinterestClient",
    "RateLimit",
    "RetryPolicy",
    "StaticToken",
    "TokenSource",
]
