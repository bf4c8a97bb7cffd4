"""The health listener and the metrics it serves: verdicts over real HTTP, metrics parsed back."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.events import Event
from monitor.health import Health, HealthServer, parse_listen, serve_health
from monitor.metrics import CONTENT_TYPE, Metrics
from monitor.notify import SendResult
from monitor.redact import Redactor
from monitor.schedule import RETRY_DELAYS_S
from monitor.simulator import ManualClock
from monitor.store import Delivery

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

INTERVAL_S = 300.0
FAMILIES = {
    "pinmon_cycles",
    "pinmon_cycle_duration_seconds",
    "pinmon_api_requests",
    "pinmon_rate_limit_remaining",
    "pinmon_watched_entities",
    "pinmon_events",
    "pinmon_deliveries",
    "pinmon_outbox_pending",
    "pinmon_outbox_oldest_pending_age_seconds",
    "pinmon_last_successful_cycle_timestamp_seconds",
}


@dataclass
class Served:
    """A running listener, its state, and a session to ask it."""

    clock: ManualClock
    health: Health
    metrics: Metrics
    server: HealthServer
    session: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.session.get(f"http://127.0.0.1:{self.server.port}{path}") as resp:
            body = await (resp.json() if path != "/metrics" else resp.text())
            return resp.status, body, resp


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """The listener on an ephemeral loopback port, with a manual clock."""
    clock = ManualClock(start=10_000.0)
    health = Health(interval_s=INTERVAL_S, now=clock)
    metrics = Metrics(now=clock)
    async with (
        serve_health(health, metrics, port=0) as server,
        aiohttp.ClientSession() as session,
    ):
        yield Served(clock, health, metrics, server, session)


async def test_healthz_fails_once_three_intervals_pass_without_success(served: Served) -> None:
    """/healthz is 200 while the last success is younger than 3 intervals, then 503 with reasons."""
    status, body, _ = await served.get("/healthz")
    assert status == 200
    assert body["status"] == "ok"
    assert body["reason"].startswith("starting")
    assert body["last_success_age_s"] is None
    assert body["interval_s"] == INTERVAL_S

    served.clock.advance(3 * INTERVAL_S)
    status, body, _ = await served.get("/healthz")
    assert status == 503
    assert body["status"] == "failing"
    assert "no successful cycle since start 900s ago" in body["reason"]

    served.health.cycle_finished(ok=True)
    served.clock.advance(2.9 * INTERVAL_S)
    status, body, _ = await served.get("/healthz")
    assert status == 200
    assert body["last_success_age_s"] == pytest.approx(870.0)

    served.health.cycle_finished(ok=False, error="GET /ad_accounts/{id}/ads: HTTP 500")
    served.clock.advance(0.2 * INTERVAL_S)
    status, body, resp = await served.get("/healthz")
    assert status == 503
    assert body["reason"] == "no successful cycle for 930s (limit 900s)"
    assert body["last_error"] == "GET /ad_accounts/{id}/ads: HTTP 500"
    assert resp.headers["Cache-Control"] == "no-store"


async def test_readyz_follows_store_and_first_cycle(served: Served) -> None:
    """/readyz is 503 until the store is open and one cycle (even a failed one) completed."""
    status, body, _ = await served.get("/readyz")
    assert (status, body["reason"]) == (503, "state store not open")
    served.health.store_opened()
    status, body, _ = await served.get("/readyz")
    assert (status, body["reason"]) == (503, "first cycle not completed yet")
    served.health.cycle_finished(ok=False, error="boom")
    status, body, _ = await served.get("/readyz")
    assert (status, body["status"]) == (200, "ready")
    served.health.store_closed()
    status, body, _ = await served.get("/readyz")
    assert (status, body["reason"]) == (503, "shutting down")


def _delivery(attempts: int) -> Delivery:
    event = Event(
        id="evt_1",
        type="ad.rejected",
        entity="ad",
        entity_id="1",
        ad_account_id="2",
        detected_at=0.0,
    )
    return Delivery(
        id=attempts,
        event=event,
        route="r",
        target="apprise:abc",
        attempts=attempts,
        status="pending",
        next_attempt_at=0.0,
        last_error=None,
        created_at=0.0,
    )


def _exercise(metrics: Metrics) -> None:
    metrics.cycle_completed(1.5, ok=True)
    metrics.cycle_completed(700.0, ok=False)
    metrics.api_response("/ad_accounts/{id}/ads", 200, 0.2)
    metrics.api_response("/ad_accounts/549755885175/ads", 429, 0.1)
    metrics.rate_limit_remaining(917)
    metrics.entities("ad", {"APPROVED": 3, "REJECTED": 1})
    metrics.event("ad.rejected")
    metrics.event("ad.something_new")
    metrics.event("monitor.account_failing")
    metrics.delivery("slack://T...2/****/****/#ads-alerts", "sent")
    metrics.send_result(
        [_delivery(1), _delivery(len(RETRY_DELAYS_S))],
        SendResult(ok=False, target="json://127.0.0.1:9/alerts", detail="HTTP 500"),
    )
    metrics.outbox(4, 42.5)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_endpoint_serves_every_family(served: Served) -> None:
    """/metrics has each pinmon family in a format Prometheus' own parser reads back."""
    _exercise(served.metrics)
    status, text, resp = await served.get("/metrics")
    assert status == 200
    assert resp.headers["Content-Type"] == CONTENT_TYPE
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families >= FAMILIES
    samples = _samples(text)
    assert samples[("pinmon_cycles_total", frozenset({("outcome", "ok")}))] == 1
    assert samples[("pinmon_cycles_total", frozenset({("outcome", "failed")}))] == 1
    assert samples[("pinmon_cycle_duration_seconds_count", frozenset())] == 2
    assert samples[("pinmon_cycle_duration_seconds_bucket", frozenset({("le", "600.0")}))] == 1
    api = frozenset({("endpoint", "/ad_accounts/{id}/ads"), ("status", "429")})
    assert samples[("pinmon_api_requests_total", api)] == 1
    assert samples[("pinmon_rate_limit_remaining", frozenset())] == 917
    assert samples[("pinmon_events_total", frozenset({("type", "other")}))] == 1
    ops = frozenset({("type", "monitor.account_failing")})
    assert samples[("pinmon_events_total", ops)] == 1
    # Exactly as given: a label holds no secret, so the redactor leaves it alone.
    target = "json://127.0.0.1:9/alerts"
    dead = frozenset({("target", target), ("outcome", "dead")})
    failed = frozenset({("target", target), ("outcome", "failed")})
    assert (
        samples[("pinmon_deliveries_total", dead)],
        samples[("pinmon_deliveries_total", failed)],
    ) == (1, 1)
    assert samples[("pinmon_outbox_oldest_pending_age_seconds", frozenset())] == 42.5
    assert samples[("pinmon_last_successful_cycle_timestamp_seconds", frozenset())] == 10_000.0


def test_endpoint_labels_stay_templates_and_statuses_do_not_linger() -> None:
    """Filled-in paths collapse to their template; a summary_status no entity has is dropped."""
    metrics = Metrics(process=False)
    metrics.api_response("/ad_accounts/549755885175/ads", 200, 0.1)
    metrics.api_response("/ad_accounts/{id}/ads", 200, 0.1)
    metrics.entities("ad", {"APPROVED": 3, "REJECTED": 1})
    metrics.entities("ad", {"APPROVED": 4})
    samples = _samples(metrics.render().decode())
    api = [k for k in samples if k[0] == "pinmon_api_requests_total"]
    assert api == [
        (
            "pinmon_api_requests_total",
            frozenset({("endpoint", "/ad_accounts/{id}/ads"), ("status", "200")}),
        )
    ]
    assert samples[api[0]] == 2
    entities = {
        dict(k[1])["summary_status"]: v
        for k, v in samples.items()
        if k[0] == "pinmon_watched_entities"
    }
    assert entities == {"APPROVED": 4}


def test_labels_never_carry_secrets() -> None:
    """A masked target label is exported exactly as given; a secret that slips into one is masked."""
    secret = "xoxb-test-only-Secret-4242"
    slack = "slack://TokA1b2c3/TokB4d5e6/TokC7f8g9h0/#ads-alerts"
    redactor = Redactor()
    redactor.add(secret)
    redactor.add_url(slack, "slack://T...3/T...6/T...0/#ads-alerts")
    metrics = Metrics(process=False, redactor=redactor)
    metrics.delivery("slack://T...3/T...6/T...0/#ads-alerts", "sent")
    metrics.delivery(f"json://user:{secret}@127.0.0.1/alerts", "failed")
    text = metrics.render().decode()
    assert secret not in text
    targets = {dict(k[1])["target"] for k in _samples(text) if k[0] == "pinmon_deliveries_total"}
    assert targets == {"slack://T...3/T...6/T...0/#ads-alerts", "json://user:****@127.0.0.1/alerts"}


def test_registries_are_private_and_unknowns_explicit() -> None:
    """Two Metrics coexist; an unknown rate limit is NaN, not 0; outcomes are a closed set."""
    first, second = Metrics(), Metrics()
    first.cycle_completed(1.0, ok=True)
    assert ("pinmon_cycles_total", frozenset({("outcome", "ok")})) not in _samples(
        second.render().decode()
    )
    assert math.isnan(
        _samples(first.render().decode())[("pinmon_rate_limit_remaining", frozenset())]
    )
    with pytest.raises(ValueError, match="unknown delivery outcome"):
        first.delivery("t", "lost")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:9464", ("::1", 9464)),
        (":9464", ("127.0.0.1", 9464)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    """`listen` values parse to (host, port), an empty host meaning loopback."""
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9464", "localhost:http", "127.0.0.1:70000", 9464])
def test_parse_listen_rejects(text: object) -> None:
    """Anything but HOST:PORT with a port in range is refused with the expected form."""
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(text)


async def test_scrape_refreshes_gauges_and_survives_a_failing_refresh() -> None:
    """on_scrape runs before each /metrics render; when it fails, the scrape still answers."""
    metrics = Metrics(process=False)
    depth = iter([3, None])

    async def refresh() -> None:
        value = next(depth)
        if value is None:
            raise RuntimeError("store busy")
        metrics.outbox(value, 12.0)

    health = Health(interval_s=INTERVAL_S, now=ManualClock())
    async with (
        serve_health(health, metrics, port=0, on_scrape=refresh) as server,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(2):
            async with session.get(f"http://127.0.0.1:{server.port}/metrics") as resp:
                assert resp.status == 200
                samples = _samples(await resp.text())
            assert samples[("pinmon_outbox_pending", frozenset())] == 3
