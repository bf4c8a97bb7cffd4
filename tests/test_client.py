"""The Pinterest client against a scripted API on loopback: paging, retries, errors, secrecy."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from fakeapi import FakeApi, Reply, error, page

from monitor import __version__
from monitor.errors import (
    AccessLostError,
    AuthError,
    ListingError,
    PinterestError,
    RateLimitedError,
)
from monitor.models import DEFAULT_WATCHED, Kind, Row, row_type
from monitor.pinterest import PinterestClient, RateLimit, RetryPolicy, StaticToken
from monitor.pinterest.params import ENTITY_STATUSES, PAGE_SIZE_MAX, PAGE_SIZE_MIN

TOKEN = "pina_SECRET-token-0123456789"
NEW_TOKEN = "pina_SECRET-fresh-9876543210"
ACCOUNT = "549755885175"
ADS = f"/ad_accounts/{ACCOUNT}/ads"
AD_ROW = row_type(Kind.AD, DEFAULT_WATCHED[Kind.AD])
FAST = RetryPolicy(attempts=4, backoff_initial_s=1.0, backoff_max_s=30.0)

pytestmark = pytest.mark.anyio


class Waits:
    """A fake sleep that records every wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Rotating:
    """A TokenSource whose refresh hands out a new token once, recording what it was given."""

    def __init__(self) -> None:
        self.current = TOKEN
        self.refreshed: list[str] = []

    async def token(self) -> str:
        return self.current

    async def refresh(self, rejected: str) -> str:
        self.refreshed.append(rejected)
        self.current = NEW_TOKEN
        return NEW_TOKEN


def ad(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": str(n), "ad_account_id": ACCOUNT, "status": "ACTIVE", **fields}


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    async with FakeApi().serve() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def make(api: FakeApi, session: aiohttp.ClientSession, waits: Waits) -> Any:
    def make_client(**options: Any) -> PinterestClient:
        options.setdefault("tokens", StaticToken(TOKEN))
        options.setdefault("retry", FAST)
        return PinterestClient(session, base_url=api.base_url, sleep=waits, **options)

    return make_client


async def ads(client: PinterestClient, **options: Any) -> list[list[Row]]:
    return [p async for p in client.list_entities(Kind.AD, ACCOUNT, row=AD_ROW, **options)]


async def collect(pages: AsyncIterator[list[Row]], into: list[list[Row]]) -> None:
    async for rows in pages:
        into.append(rows)


def ids(pages: list[list[Row]]) -> list[list[str]]:
    return [[row.id for row in rows] for rows in pages]


# --- what is sent -------------------------------------------------------------------------


def test_id_filters_match_the_spec(openapi: dict[str, Any]) -> None:
    """Lookups by id use each list endpoint's own filter, with the spec's 250-id maximum."""
    from monitor.pinterest.params import ID_FILTERS, MAX_FILTER_IDS

    params = openapi["components"]["parameters"]
    for kind, name in ID_FILTERS.items():
        operation = openapi["paths"][f"/ad_accounts/{{ad_account_id}}/{kind}"]["get"]
        refs = {p.get("$ref", "").rsplit("/", 1)[-1] for p in operation["parameters"]}
        assert f"query_{name}" in refs, (kind, name)
        schema = params[f"query_{name}"]["schema"]
        assert (schema["maxItems"], schema["items"]["pattern"]) == (MAX_FILTER_IDS, "^\\d+$")


def test_params_match_the_spec(openapi: dict[str, Any]) -> None:
    """The status enum, page size bounds and array style the client uses are the spec's."""
    spec = openapi
    statuses = spec["components"]["parameters"]["query_entity_statuses"]
    assert statuses["in"] == "query"
    # No style/explode: OpenAPI's query default, form + explode, i.e. one key per value.
    assert statuses.get("style", "form") == "form"
    assert statuses.get("explode", True) is True
    assert set(statuses["schema"]["items"]["enum"]) == ENTITY_STATUSES
    assert set(spec["components"]["schemas"]["EntityStatus"]["enum"]) == ENTITY_STATUSES
    for name in ("query_page_size", "Pinterest.Lib.BookmarkParams.page_size"):
        schema = spec["components"]["parameters"][name]["schema"]
        assert (schema["minimum"], schema["maximum"]) == (PAGE_SIZE_MIN, PAGE_SIZE_MAX)


async def test_listing_streams_pages_in_order_with_spec_query(api: FakeApi, make: Any) -> None:
    """Pages arrive one request at a time, in order, asking for 250 items of every live status."""
    api.queue(ADS, page([ad(1), ad(2)], "b1"), page([ad(3)], "b2"), page([ad(4)], None))
    client = make()
    got = []
    async for rows in client.list_entities(Kind.AD, ACCOUNT, row=AD_ROW):
        got.append([row.id for row in rows])
        assert len(api.seen) == len(got), "a page is yielded before the next is requested"
    assert got == [["1", "2"], ["3"], ["4"]]
    base = [
        ("entity_statuses", "ACTIVE"),
        ("entity_statuses", "PAUSED"),
        ("entity_statuses", "ARCHIVED"),
        ("page_size", "250"),
    ]
    assert [s.query for s in api.seen] == [
        base,
        [*base, ("bookmark", "b1")],
        [*base, ("bookmark", "b2")],
    ]
    headers = api.seen[0].headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == f"pinmon/{__version__}"


async def test_listing_decodes_rows_of_each_kind(api: FakeApi, make: Any) -> None:
    """Campaigns and ad groups are listed from their own paths into the given row type."""
    for kind in (Kind.CAMPAIGN, Kind.AD_GROUP):
        api.queue(f"/ad_accounts/{ACCOUNT}/{kind.plural}", page([ad(7, summary_status="RUNNING")]))
        row = row_type(kind, DEFAULT_WATCHED[kind])
        pages = [p async for p in make().list_entities(kind, ACCOUNT, row=row, page_size=10)]
        assert isinstance(pages[0][0], row)
        assert pages[0][0].summary_status == "RUNNING"  # type: ignore[attr-defined]
    assert [dict(s.query)["page_size"] for s in api.seen] == ["10", "10"]


@pytest.mark.parametrize(
    ("account_id", "options", "message"),
    [
        (ACCOUNT, {"page_size": 0}, "page_size must be in 1..250"),
        (ACCOUNT, {"page_size": 251}, "page_size must be in 1..250"),
        (ACCOUNT, {"entity_statuses": ("ACTIVE", "DELETED")}, r"\['DELETED'\] not in"),
        (ACCOUNT, {"entity_statuses": ()}, "at least one status"),
        (ACCOUNT, {"entity_statuses": "ACTIVE"}, "not a string"),
        ("12ab", {}, "1 to 18 digits"),
        ("1" * 19, {}, "1 to 18 digits"),
    ],
)
async def test_values_the_spec_forbids_raise_before_sending(
    api: FakeApi, make: Any, account_id: str, options: dict[str, Any], message: str
) -> None:
    """Out-of-spec ids, page sizes and statuses raise ValueError at call time, sending nothing."""
    with pytest.raises(ValueError, match=message):
        make().list_entities(Kind.AD, account_id, row=AD_ROW, **options)
    with pytest.raises(ValueError, match=r"page_size must be in 1\.\.250"):
        make(page_size=300)
    assert api.seen == []


async def test_ad_accounts_listing(api: FakeApi, make: Any) -> None:
    """GET /ad_accounts pages through accounts with page_size=250 and nothing else."""
    api.queue("/ad_accounts", page([{"id": "1", "name": "A"}], "x"), page([{"id": "2"}]))
    pages = [p async for p in make().list_ad_accounts()]
    assert [[a.id for a in p] for p in pages] == [["1"], ["2"]]
    assert pages[0][0].name == "A"
    assert [s.query for s in api.seen] == [
        [("page_size", "250")],
        [("page_size", "250"), ("bookmark", "x")],
    ]


async def test_get_ad_account(api: FakeApi, make: Any) -> None:
    """GET /ad_accounts/{id} decodes one account."""
    api.queue(f"/ad_accounts/{ACCOUNT}", Reply(body=json.dumps({"id": ACCOUNT}).encode()))
    account = await make().get_ad_account(ACCOUNT)
    assert account.id == ACCOUNT
    assert api.seen[0].query == []


# --- bookmark chains ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "last", [b'{"items": []}', b'{"items": [], "bookmark": null}', b'{"items": [], "bookmark": ""}']
)
async def test_absent_null_or_empty_bookmark_ends_listing(
    api: FakeApi, make: Any, last: bytes
) -> None:
    """A listing ends normally on an absent, null or empty bookmark."""
    api.queue(ADS, page([ad(1)], "b1"), Reply(body=last))
    assert ids(await ads(make())) == [["1"], []]


async def test_repeated_bookmark_fails_listing(api: FakeApi, make: Any) -> None:
    """A bookmark seen earlier in the same listing raises ListingError instead of looping."""
    api.queue(ADS, page([ad(1)], "b1"), page([ad(2)], "b2"), page([ad(3)], "b1"))
    got: list[list[Row]] = []
    with pytest.raises(ListingError, match="repeats an earlier bookmark"):
        await collect(make().list_entities(Kind.AD, ACCOUNT, row=AD_ROW), got)
    assert ids(got) == [["1"], ["2"]], "pages before the break were streamed"
    assert len(api.seen) == 3


async def test_empty_page_with_looping_bookmark_fails(api: FakeApi, make: Any) -> None:
    """Empty pages that keep handing back the same bookmark fail the listing."""
    api.queue(ADS, page([], "same"), page([], "same"), page([], "same"))
    with pytest.raises(ListingError):
        await ads(make())
    assert len(api.seen) == 2


async def test_endless_bookmarks_fail_after_max_pages(api: FakeApi, make: Any) -> None:
    """A chain that never ends fails once it passes max_pages."""
    api.queue(ADS, *(page([ad(n)], f"b{n}") for n in range(5)))
    with pytest.raises(ListingError, match="after 3 pages"):
        await ads(make(max_pages=3))
    assert len(api.seen) == 3


# --- retries ------------------------------------------------------------------------------


async def test_500_twice_then_ok(api: FakeApi, make: Any, waits: Waits) -> None:
    """Two 500s are retried after full-jitter waits within the doubling ceilings."""
    oops = error(500, 12, "Something went wrong on our end")
    api.queue(ADS, oops, oops, page([ad(1)]))
    assert ids(await ads(make())) == [["1"]]
    assert len(waits.waits) == 2
    assert 0 <= waits.waits[0] <= 1.0
    assert 0 <= waits.waits[1] <= 2.0


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    """Backoff draws from [0, min(max, initial * 2**(n-1))]."""
    policy = RetryPolicy(backoff_initial_s=1.0, backoff_max_s=5.0)
    rng = random.Random(1)
    for failures, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (40, 5.0)]:
        draws = [policy.backoff_s(failures, rng) for _ in range(200)]
        assert min(draws) >= 0
        assert max(draws) <= cap
        assert max(draws) > cap * 0.8, "draws spread over the whole range"


async def test_persistent_500_fails_after_attempts(api: FakeApi, make: Any, waits: Waits) -> None:
    """A 500 on every try raises a PinterestError carrying status, code and request id."""
    oops = error(500, 12, "Something went wrong", {"x-pinterest-rid": "rid-500"})
    api.queue(ADS, *[oops] * 4)
    with pytest.raises(PinterestError) as caught:
        await ads(make())
    assert isinstance(caught.value, ListingError)
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (500, 12, "rid-500")
    assert "after 4 tries" in str(caught.value)
    assert len(api.seen) == 4
    assert len(waits.waits) == 3


async def test_408_is_retried(api: FakeApi, make: Any) -> None:
    """A 408 request timeout is transient like a 5xx."""
    api.queue(ADS, error(408, 0, "timeout"), page([ad(1)]))
    assert ids(await ads(make())) == [["1"]]


async def test_truncated_body_is_retried(api: FakeApi, make: Any) -> None:
    """A body cut short of its Content-Length is retried."""
    api.queue(ADS, Reply(body=b'{"items": [{"id": "1"', action="truncate"), page([ad(1)]))
    assert ids(await ads(make())) == [["1"]]
    assert len(api.seen) == 2


async def test_html_page_is_retried_then_fails(api: FakeApi, make: Any, waits: Waits) -> None:
    """An HTML error page with status 200 is retried, then fails the listing."""
    html = Reply(body=b"<html><body>Bad gateway</body></html>", content_type="text/html")
    api.queue(ADS, html, html)
    with pytest.raises(ListingError, match="not JSON"):
        await ads(make(retry=RetryPolicy(attempts=2)))
    assert len(api.seen) == 2
    assert len(waits.waits) == 1


async def test_items_not_a_list_fails(api: FakeApi, make: Any) -> None:
    """JSON whose items is not a list is retried, then fails with the decode reason."""
    garbage = Reply(body=b'{"items": {"id": "1"}, "bookmark": null}')
    api.queue(ADS, *[garbage] * 4)
    with pytest.raises(ListingError, match=r"unexpected body.*items"):
        await ads(make())
    assert len(api.seen) == 4


async def test_connection_reset_is_retried(api: FakeApi, make: Any) -> None:
    """A connection dropped before any answer is retried."""
    api.queue(ADS, Reply(action="reset"), page([ad(1)]))
    assert ids(await ads(make())) == [["1"]]
    assert len(api.seen) == 2


async def test_slow_response_times_out_and_fails(api: FakeApi, make: Any, waits: Waits) -> None:
    """A reply slower than total_timeout_s is abandoned, retried, then fails the listing."""
    slow = Reply(body=page([ad(1)]).body, delay_s=10)
    api.queue(ADS, slow, slow)
    with pytest.raises(ListingError, match="timed out"):
        await ads(make(retry=RetryPolicy(attempts=2, total_timeout_s=0.1)))
    assert len(api.seen) == 2
    assert len(waits.waits) == 1


async def test_connect_refused_is_retried_then_fails(
    session: aiohttp.ClientSession, waits: Waits
) -> None:
    """An API that refuses connections is retried, then fails with a PinterestError."""
    async with FakeApi().serve() as gone:
        dead_url = gone.base_url  # nothing listens on this port once the server stops
    client = PinterestClient(
        session,
        base_url=dead_url,
        tokens=StaticToken(TOKEN),
        sleep=waits,
        retry=RetryPolicy(attempts=3),
    )
    with pytest.raises(PinterestError, match="after 3 tries"):
        await client.get_ad_account(ACCOUNT)
    assert len(waits.waits) == 2


# --- rate limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-reset": "7"}, 7.0),
        ({"x-ratelimit-reset": "67000"}, 120.0),
        ({"Retry-After": "3"}, 3.0),
    ],
)
async def test_429_waits_for_the_announced_reset(
    api: FakeApi, make: Any, waits: Waits, headers: dict[str, str], expected: float
) -> None:
    """A quota 429 waits for x-ratelimit-reset (or Retry-After), capped, then retries."""
    api.queue(ADS, error(429, 8, "Max rate limit exceeded", headers), page([ad(1)]))
    assert ids(await ads(make())) == [["1"]]
    assert waits.waits == [expected]


async def test_429_without_hint_backs_off(api: FakeApi, make: Any, waits: Waits) -> None:
    """A 429 with no reset header falls back to jittered exponential backoff."""
    api.queue(ADS, error(429, 8, "Max rate limit exceeded"), page([ad(1)]))
    await ads(make())
    assert len(waits.waits) == 1
    assert 0 <= waits.waits[0] <= 1.0


async def test_429_until_retries_run_out(api: FakeApi, make: Any, waits: Waits) -> None:
    """Persistent 429s raise RateLimitedError with the server's retry-after hint."""
    limited = error(429, 8, "Max rate limit exceeded", {"x-ratelimit-reset": "600"})
    api.queue(ADS, *[limited] * 4)
    with pytest.raises(RateLimitedError) as caught:
        await ads(make())
    assert caught.value.retry_after_s == 600.0
    assert caught.value.status == 429
    assert waits.waits == [120.0] * 3


async def test_spam_429_is_not_retried(api: FakeApi, make: Any, waits: Waits) -> None:
    """A 429 that names spam is a block: raised at once, never retried."""
    api.queue(ADS, error(429, 8, "Your application is blocked for spam"), page([ad(1)]))
    with pytest.raises(RateLimitedError, match="spam"):
        await ads(make())
    assert len(api.seen) == 1
    assert waits.waits == []


async def test_rate_limit_headers_and_response_hook(api: FakeApi, make: Any) -> None:
    """Every response updates client.rate_limit and reaches on_response with the path template."""
    limits = {
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": "998",
        "x-ratelimit-reset": "41",
    }
    api.queue(ADS, error(500, 12, "oops"), page([ad(1)], **limits))
    seen: list[tuple[str, int]] = []
    client = make(on_response=lambda endpoint, status, duration_s: seen.append((endpoint, status)))
    assert client.rate_limit is None
    await ads(client)
    assert seen == [("/ad_accounts/{id}/ads", 500), ("/ad_accounts/{id}/ads", 200)]
    assert client.rate_limit == RateLimit(limit=1000, remaining=998, reset_s=41.0)


# --- auth and access ----------------------------------------------------------------------


async def test_401_refreshes_once_and_retries(api: FakeApi, make: Any, waits: Waits) -> None:
    """A 401 refreshes the refused token once and retries at once with the new one."""
    tokens = Rotating()
    api.queue(ADS, error(401, 2, "Authentication failed."), page([ad(1)]))
    assert ids(await ads(make(tokens=tokens))) == [["1"]]
    assert tokens.refreshed == [TOKEN]
    assert [s.token for s in api.seen] == [TOKEN, NEW_TOKEN]
    assert waits.waits == []


async def test_second_401_is_auth_error(api: FakeApi, make: Any) -> None:
    """A 401 after a refresh raises AuthError without a second refresh."""
    tokens = Rotating()
    refused = error(401, 2, "Authentication failed.", {"x-pinterest-rid": "rid-401"})
    api.queue(ADS, refused, refused, page([ad(1)]))
    with pytest.raises(AuthError) as caught:
        await ads(make(tokens=tokens))
    assert tokens.refreshed == [TOKEN]
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (401, 2, "rid-401")
    assert len(api.seen) == 2


async def test_static_token_401_is_auth_error(api: FakeApi, make: Any) -> None:
    """A refused plain access token raises AuthError after one request."""
    api.queue(ADS, error(401, 2, "Authentication failed."))
    with pytest.raises(AuthError, match="cannot be refreshed"):
        await ads(make())
    assert len(api.seen) == 1


async def test_403_is_access_lost_without_retry(api: FakeApi, make: Any, waits: Waits) -> None:
    """A 403 raises AccessLostError at once."""
    api.queue(
        ADS, error(403, 29, "You are not permitted", {"x-pinterest-rid": "r3"}), page([ad(1)])
    )
    with pytest.raises(AccessLostError) as caught:
        await ads(make())
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (403, 29, "r3")
    assert len(api.seen) == 1
    assert waits.waits == []


async def test_other_4xx_fails_at_once(api: FakeApi, make: Any, waits: Waits) -> None:
    """A 400 raises PinterestError with Pinterest's code and message, not retried."""
    api.queue(ADS, error(400, 1, "Invalid ad account ads parameters.", {"x-pinterest-rid": "r4"}))
    with pytest.raises(PinterestError, match="Invalid ad account ads parameters") as caught:
        await ads(make())
    assert not isinstance(caught.value, ListingError)
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (400, 1, "r4")
    assert waits.waits == []


# --- secrecy ------------------------------------------------------------------------------


async def test_token_never_in_errors_or_logs(api: FakeApi, make: Any) -> None:
    """No error message, error attribute or log line carries the token, even when echoed."""
    scripts = [
        [error(401, 2, f"token {TOKEN} refused"), error(401, 2, f"token {NEW_TOKEN} refused")],
        [error(403, 29, f"Bearer {TOKEN}")],
        [error(400, 1, f"bad {TOKEN}")],
        [error(429, 8, f"spam from {TOKEN}")],
        [Reply(body=b"<html>" + TOKEN.encode() + b"</html>")] * 4,
        [Reply(body=json.dumps({"items": TOKEN}).encode())] * 4,
        [error(500, 12, TOKEN)] * 4,
        [Reply(action="reset")] * 4,
    ]
    texts: list[str] = []
    with structlog.testing.capture_logs() as logs:
        for script in scripts:
            api.queue(ADS, *script)
            with pytest.raises(PinterestError) as caught:
                await ads(make(tokens=Rotating()))
            texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    assert {entry["event"] for entry in logs} >= {
        "api.request",
        "api.retry",
        "api.token_refreshing",
    }
    request_logs = [entry for entry in logs if entry["event"] == "api.request"]
    assert {entry["endpoint"] for entry in request_logs} == {"/ad_accounts/{id}/ads"}
    texts += [repr(entry) for entry in logs]
    for text in texts:
        assert "SECRET" not in text  # part of both tokens
    assert "SECRET" not in repr(StaticToken(TOKEN))
