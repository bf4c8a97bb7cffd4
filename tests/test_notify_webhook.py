"""Signed webhooks: real POSTs to a local sink, each verified the way a receiver would.

Verification uses the ``standardwebhooks`` reference library, never our own signer, so a
test passes only if an independent implementation of the spec accepts the delivery.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from structlog.testing import capture_logs

from monitor import __version__
from monitor.config import load_config
from monitor.daemon import EXIT_OK, run_once
from monitor.errors import ConfigError
from monitor.events import Event, FieldChange, to_json
from monitor.notify import Message, SendResult
from monitor.notify.webhook import WebhookNotifier, mask_webhook_url, parse_retry_after
from monitor.render.fixes import guidance
from tests.harness import ACCOUNT, ADS, rig
from tests.sink import HttpSink, Recorded

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

OLD = "whsec_" + base64.b64encode(b"pinmon-test-key-old-0123456789ab").decode()
NEW = "whsec_" + base64.b64encode(b"pinmon-test-key-new-0123456789ab").decode()
STRANGER = "whsec_" + base64.b64encode(b"someone-elses-key-0123456789abcd").decode()
PATH_TOKEN = "Tk9f3aQ7xYz2LmN8pR4s"
QUERY_TOKEN = "qs-secret-value-123"
PASSWORD = "pw-secret-9876"
PATH = f"/hooks/{PATH_TOKEN}"


@pytest.fixture
def now() -> int:
    """A fixed clock near real time: receivers reject timestamps more than 5 minutes off."""
    return int(time.time())


def _url(sink: HttpSink) -> str:
    return f"http://pinmon:{PASSWORD}@127.0.0.1:{sink.port}{PATH}?token={QUERY_TOKEN}"


def _event(n: int = 0) -> Event:
    return Event(
        id=f"evt_{n:024x}",
        type="ad.rejected",
        entity="ad",
        entity_id=ADS[n],
        ad_account_id=ACCOUNT,
        ad_id=ADS[n],
        name=f"Holiday Ad {n} — ünïcode",
        detected_at=1764326712.41,
        changes={"review_status": FieldChange("APPROVED", "REJECTED")},
        state={"review_status": "REJECTED", "rejected_reasons": ["HASHTAGS"]},
    )


def _message(*events: Event) -> Message:
    return Message("Ad rejected", "body", "failure", tuple(e.id for e in events), events)


def _notifier(sink: HttpSink, now: int, *secrets: str, **kw: float) -> WebhookNotifier:
    return WebhookNotifier(_url(sink), list(secrets or (NEW,)), clock=lambda: now, **kw)


def _verify(request: Recorded, secret: str) -> Any:
    return Webhook(secret).verify(request.body, request.headers)


def _leaks(*texts: str) -> list[str]:
    blob = "\n".join(texts)
    secrets = (OLD, NEW, OLD[6:], NEW[6:], PATH_TOKEN, QUERY_TOKEN, PASSWORD)
    return [s for s in secrets if s in blob]


async def test_each_event_is_one_signed_post_of_its_documented_json(now: int) -> None:
    """Body, id, timestamp and headers follow the spec, and the reference library verifies it."""
    async with HttpSink() as sink:
        events = (_event(0), _event(1))
        result = await _notifier(sink, now).send(_message(*events))
        assert result == SendResult(ok=True, target=mask_webhook_url(_url(sink)))
        assert len(sink.requests) == 2
        for request, event in zip(sink.requests, events, strict=True):
            assert (request.method, request.path) == ("POST", PATH)
            # The documented event, every field kept, plus the additive guidance fields.
            documented = json.loads(to_json(event))
            assert {k: v for k, v in request.json.items() if k in documented} == documented
            assert set(request.json) - set(documented) == {"guidance", "ads_manager_url"}
            hashtags = guidance("HASHTAGS")
            assert request.json["guidance"] == [
                {
                    "reason": "HASHTAGS",
                    "title": "Hashtags in the Pin description",
                    "meaning": hashtags.meaning,
                    "fix": hashtags.fix,
                    "policy_url": None,
                }
            ]
            assert request.json["ads_manager_url"] == (
                f"https://ads.pinterest.com/advertiser/{ACCOUNT}/reporting/ads/"
            )
            assert request.headers["Content-Type"] == "application/json"
            assert request.headers["User-Agent"] == f"pinmon/{__version__}"
            assert request.headers["webhook-id"] == event.id
            assert request.headers["webhook-timestamp"] == str(now)
            assert _verify(request, NEW) == request.json
            with pytest.raises(WebhookVerificationError):
                _verify(request, STRANGER)


async def test_rotation_signs_with_every_secret(now: int) -> None:
    """During a rotation each secret adds a signature, so receivers on either one verify."""
    async with HttpSink() as sink:
        assert (await _notifier(sink, now, OLD, NEW).send(_message(_event()))).ok
        (request,) = sink.requests
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        assert _verify(request, OLD) == _verify(request, NEW) == request.json
        with pytest.raises(WebhookVerificationError):
            _verify(request, STRANGER)


async def test_a_tampered_body_does_not_verify(now: int) -> None:
    """The signature covers the body: a receiver detects any change to it."""
    async with HttpSink() as sink:
        await _notifier(sink, now).send(_message(_event()))
        (request,) = sink.requests
        with pytest.raises(WebhookVerificationError):
            Webhook(NEW).verify(request.body.replace(b"REJECTED", b"APPROVED"), request.headers)


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after_s", "detail"),
    [
        (500, {}, False, None, "HTTP 500 Internal Server Error: scripted failure"),
        (502, {"Retry-After": "9"}, False, None, "HTTP 502"),
        (503, {"Retry-After": "12"}, False, 12.0, "HTTP 503"),
        (408, {}, False, None, "HTTP 408"),
        (429, {"Retry-After": "7"}, False, 7.0, "HTTP 429 Too Many Requests"),
        (429, {}, False, None, "HTTP 429"),
        (400, {}, True, None, "HTTP 400 Bad Request: scripted failure"),
        (401, {}, True, None, "HTTP 401"),
        (404, {}, True, None, "HTTP 404"),
        (410, {}, True, None, "410 Gone"),
        (302, {"Location": f"http://127.0.0.1:1/x?token={QUERY_TOKEN}"}, True, None, "HTTP 302"),
        (301, {"Location": "https://elsewhere.example/"}, True, None, "HTTP 301"),
    ],
)
async def test_status_codes_map_to_typed_results(
    now: int,
    status: int,
    headers: dict[str, str],
    permanent: bool,
    retry_after_s: float | None,
    detail: str,
) -> None:
    """2xx succeeds; 408/429/5xx are retried (Retry-After on 429/503); 3xx and other 4xx are not."""
    async with HttpSink() as sink:
        sink.fail_next(PATH, status=status, headers=headers)
        result = await _notifier(sink, now).send(_message(_event()))
        assert not result.ok
        assert (result.permanent, result.retry_after_s) == (permanent, retry_after_s)
        assert result.detail.startswith(detail)
        assert len(sink.requests) == 1, "a redirect must not be followed"
        assert _leaks(result.detail, result.target) == []


async def test_retry_after_as_an_http_date_counts_from_the_injected_clock(now: int) -> None:
    """A Retry-After date is turned into seconds from our clock, not the wall clock."""
    async with HttpSink() as sink:
        sink.fail_next(PATH, status=429, headers={"Retry-After": formatdate(now + 90, usegmt=True)})
        result = await _notifier(sink, now).send(_message(_event()))
        assert result.retry_after_s == 90.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delay-seconds and HTTP-dates are honoured; anything else is ignored, never negative."""
    assert parse_retry_after(value, now=1445412480.0) == expected  # 07:28:00 GMT


async def test_first_failure_ends_the_send(now: int) -> None:
    """A message's later events wait for the retry once an earlier one fails."""
    async with HttpSink() as sink:
        sink.fail_next(PATH, status=503)
        result = await _notifier(sink, now).send(_message(_event(0), _event(1)))
        assert not result.ok
        assert [r.headers["webhook-id"] for r in sink.requests] == [_event(0).id]


async def test_connection_refused_is_retryable(now: int) -> None:
    """Nobody listening is a transient failure, reported without the host's URL."""
    async with HttpSink() as gone:
        notifier = _notifier(gone, now)
    result = await notifier.send(_message(_event()))
    assert (result.ok, result.permanent) == (False, False)
    assert result.detail.startswith("cannot connect")
    assert _leaks(result.detail) == []


async def test_a_hanging_receiver_times_out_as_retryable(now: int) -> None:
    """No answer within timeout_s is a retryable failure whose delivery is unknown."""
    async with HttpSink() as sink:
        sink.respond(PATH, delay_s=10)
        result = await _notifier(sink, now, timeout_s=0.2).send(_message(_event()))
        assert (result.ok, result.permanent) == (False, False)
        assert result.detail == "no answer within 0.2s (delivery unknown)"


def test_label_key_and_repr_hide_every_credential() -> None:
    """The password, query values and token-like path segments are masked; the key is a hash."""
    url = f"https://pinmon:{PASSWORD}@hooks.example.com{PATH}?token={QUERY_TOKEN}"
    notifier = WebhookNotifier(url, [OLD, NEW])
    assert notifier.label == "https://pinmon:****@hooks.example.com/hooks/****?token=****"
    assert notifier.key.startswith("webhook:")
    assert len(notifier.key) == len("webhook:") + 16
    assert notifier.batch is False
    assert _leaks(notifier.label, notifier.key, repr(notifier)) == []


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ([], "at least one whsec_ secret is needed"),
        (["not-prefixed-" + PATH_TOKEN], "secret 1: must start with whsec_"),
        (
            [NEW, "whsec_***not*base64***" + PATH_TOKEN],
            "secret 2: the part after whsec_ is not base64",
        ),
        (["whsec_"], "secret 1: empty key after whsec_"),
    ],
)
def test_bad_secrets_are_config_errors_that_quote_neither_secret_nor_url(
    secrets: list[str], reason: str
) -> None:
    """A malformed secret is reported by position, never by value."""
    url = f"https://hooks.example.com{PATH}"
    with pytest.raises(ConfigError) as caught:
        WebhookNotifier(url, secrets)
    assert reason in str(caught.value)
    assert _leaks(str(caught.value)) == []


async def test_nothing_secret_reaches_a_log_line(
    now: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Across success, refusal, redirect and timeout, neither structlog nor stdlib logs a secret."""
    caplog.set_level(logging.DEBUG)
    async with HttpSink() as sink:
        sink.fail_next(PATH, status=400, body=f"bad token {PATH_TOKEN}".encode())
        sink.fail_next(PATH, status=302, headers={"Location": _url(sink)})
        notifier = _notifier(sink, now, OLD, NEW, timeout_s=0.2)
        with capture_logs() as logs:
            results = [await notifier.send(_message(_event())) for _ in range(3)]
            sink.respond(PATH, delay_s=10)
            results.append(await notifier.send(_message(_event())))
    assert [r.ok for r in results] == [False, False, True, False]
    assert "bad token ****" in results[0].detail, "the receiver's reason is kept, scrubbed"
    texts = [repr(logs), caplog.text, *(r.detail for r in results), *(r.target for r in results)]
    assert _leaks(*texts) == []


@pytest.mark.timeout(60)
async def test_daemon_sends_one_signed_post_per_event(tmp_path: Path) -> None:
    """Through the real daemon and outbox, each change arrives as its own verifiable POST."""
    async with rig(tmp_path) as r:
        # The harness's config (an apprise route to the sink) plus a webhook route.
        with r.path.open("a") as config:
            config.write(
                f'[[routes]]\nname = "hooks"\nevents = ["ad.*"]\n'
                f'webhooks = [{{ url = "{_url(r.sink)}", secret = ["{OLD}", "{NEW}"] }}]\n'
            )
        with capture_logs() as logs:
            assert await run_once(load_config(r.path)) == EXIT_OK
            assert r.sink.on(PATH) == []
            r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
            r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
            assert await run_once(load_config(r.path)) == EXIT_OK
        posts = r.sink.on(PATH)
        assert len(posts) == 2
        bodies = [_verify(p, NEW) for p in posts]
        assert [_verify(p, OLD) for p in posts] == bodies
        assert sorted((b["type"], b["ad_id"]) for b in bodies) == [
            ("ad.rejected", ADS[0]),
            ("ad.rejected", ADS[1]),
        ]
        assert [p.headers["webhook-id"] for p in posts] == [b["id"] for b in bodies]
        assert _leaks(repr(logs)) == []
