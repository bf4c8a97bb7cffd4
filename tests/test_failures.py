"""The failure model: the delivery classifier as a table, the outbox's and the client's retry policies."""

from __future__ import annotations

import random
from dataclasses import replace

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.errors import (
    ListingError,
    PinterestError,
    RateLimitedError,
    TransientError,
    UnauthorizedError,
)
from monitor.events import Event
from monitor.metrics import Metrics
from monitor.notify import Fault, Message, Outcome, SendResult, classify
from monitor.notify.apprise import AppriseNotifier
from monitor.notify.webhook import WebhookNotifier
from monitor.pinterest.retry import Answer, RetryPolicy, Step, classify_status, exhausted
from monitor.schedule import DELIVERY_RETRY, MAX_WAIT_S, RETRY_DELAYS_S, DeliveryRetry
from monitor.store import Delivery
from tests.sink import HttpSink

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="

# --- the delivery classifier ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after_s", "outcome", "honoured_s"),
    [
        (200, None, Outcome.SENT, None),
        (204, 5.0, Outcome.SENT, None),
        (410, 30.0, Outcome.DISABLE, None),
        (408, None, Outcome.RETRY, None),
        (425, None, Outcome.RETRY, None),
        (429, 7.0, Outcome.RETRY, 7.0),
        (429, None, Outcome.RETRY, None),
        (503, 12.0, Outcome.RETRY, 12.0),
        (500, 9.0, Outcome.RETRY, None),
        (502, 9.0, Outcome.RETRY, None),
        (599, None, Outcome.RETRY, None),
        (400, None, Outcome.PERMANENT, None),
        (401, None, Outcome.PERMANENT, None),
        (403, None, Outcome.PERMANENT, None),
        (404, None, Outcome.PERMANENT, None),
        (409, None, Outcome.PERMANENT, None),
        (413, None, Outcome.PERMANENT, None),
        (422, 5.0, Outcome.PERMANENT, None),
        (301, None, Outcome.PERMANENT, None),
        (302, None, Outcome.PERMANENT, None),
    ],
)
def test_classify_by_status(
    status: int, retry_after_s: float | None, outcome: Outcome, honoured_s: float | None
) -> None:
    """2xx sent, 410 disables, 408/425/429/5xx retried (Retry-After on 429/503), the rest given up."""
    assert classify(status, retry_after_s=retry_after_s) == (outcome, honoured_s)


@pytest.mark.parametrize(
    ("fault", "retry_after_s", "outcome", "honoured_s"),
    [
        (Fault.TIMEOUT, None, Outcome.RETRY, None),
        (Fault.UNREACHABLE, None, Outcome.RETRY, None),
        (Fault.BROKEN, None, Outcome.RETRY, None),
        (None, None, Outcome.RETRY, None),
        (None, 4.0, Outcome.RETRY, 4.0),
        (Fault.UNSENDABLE, None, Outcome.PERMANENT, None),
    ],
)
def test_classify_by_fault(
    fault: Fault | None, retry_after_s: float | None, outcome: Outcome, honoured_s: float | None
) -> None:
    """Without an answer only an unsendable URL or message is permanent; a known wait is kept."""
    assert classify(fault=fault, retry_after_s=retry_after_s) == (outcome, honoured_s)


def test_an_answer_decides_over_the_fault() -> None:
    """A status is what the target said: it outranks the kind of failure the caller saw."""
    assert classify(503, fault=Fault.UNSENDABLE).outcome is Outcome.RETRY
    assert classify(404, fault=Fault.TIMEOUT).outcome is Outcome.PERMANENT


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (SendResult(True, "t"), Outcome.SENT),
        (SendResult(False, "t", "HTTP 500"), Outcome.RETRY),
        (SendResult(False, "t", "HTTP 404", permanent=True), Outcome.PERMANENT),
        (SendResult(ok=False, target="t", detail="gone", status=410), Outcome.DISABLE),
        (SendResult(ok=False, target="t", status=404), Outcome.RETRY),
        (SendResult(False, "t", permanent=True, status=410), Outcome.DISABLE),
    ],
)
def test_the_first_plugin_api_keeps_its_meaning(result: SendResult, outcome: Outcome) -> None:
    """``SendResult(ok, target, detail, permanent=...)``: the plugin's flag decides, and 410 disables."""
    assert result.outcome is outcome
    assert result.ok is (outcome is Outcome.SENT)
    assert result.permanent is (outcome in (Outcome.PERMANENT, Outcome.DISABLE))


def test_send_result_failed_asks_the_classifier() -> None:
    """The preferred form keeps the status and only the Retry-After the classifier honours."""
    limited = SendResult.failed("t", "HTTP 429", status=429, retry_after_s=7.0)
    assert (limited.outcome, limited.status, limited.retry_after_s) == (Outcome.RETRY, 429, 7.0)
    busy = SendResult.failed("t", "HTTP 502", status=502, retry_after_s=7.0)
    assert (busy.outcome, busy.retry_after_s) == (Outcome.RETRY, None)
    assert SendResult.failed("t", "invalid URL", fault=Fault.UNSENDABLE).permanent
    assert SendResult.sent("t") == SendResult(ok=True, target="t")


def test_a_failed_2xx_is_retried_never_sent() -> None:
    """A target that refused in a 200's body (Slack's ok=false) is not reported as delivered."""
    result = SendResult.failed("t", "HTTP 200: invalid_blocks", status=200)
    assert (result.ok, result.outcome, result.status) == (False, Outcome.RETRY, 200)


def test_contradictory_results_are_refused() -> None:
    """A result cannot be both sent and not, nor permanent and retried."""
    with pytest.raises(ValueError, match="contradict"):
        SendResult(True, "t", outcome=Outcome.RETRY)
    with pytest.raises(ValueError, match="contradict"):
        SendResult(target="t", outcome=Outcome.RETRY, permanent=True)
    with pytest.raises(TypeError, match="target"):
        SendResult(False)
    with pytest.raises(TypeError, match="ok or an outcome"):
        SendResult(target="t")
    result = SendResult.failed("t", "HTTP 500", status=500)
    assert replace(result, detail="HTTP 500: later").outcome is Outcome.RETRY


MESSAGE_EVENT = Event(
    id="evt_" + "0" * 24,
    type="ad.rejected",
    entity="ad",
    entity_id="1",
    ad_account_id="2",
    detected_at=0.0,
)
MESSAGE = Message("Ad rejected", "body", "failure", (MESSAGE_EVENT.id,), (MESSAGE_EVENT,))


@pytest.mark.anyio
@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [409, 418, 425, 410, 400, 503])
async def test_apprise_and_webhooks_read_an_answer_alike(status: int) -> None:
    """Both built-in notifiers hand the same answer to the same classifier: one outcome."""
    async with HttpSink() as sink:
        sink.respond("/apprise", status=status)
        sink.respond("/hook", status=status)
        apprise = AppriseNotifier(sink.url("/apprise", scheme="json"))
        webhook = WebhookNotifier(sink.url("/hook"), [SECRET])
        with anyio.fail_after(20):
            results = [await apprise.send(MESSAGE), await webhook.send(MESSAGE)]
    assert [r.status for r in results] == [status, status]
    assert {r.outcome for r in results} == {classify(status).outcome}


# --- the outbox's retry policy ---------------------------------------------------------------


@pytest.mark.parametrize("attempts", range(1, len(RETRY_DELAYS_S) + 1))
def test_delivery_retry_spreads_each_slot_by_ten_percent(attempts: int) -> None:
    """Every slot moves at most ±10 % with the injected jitter, and 0.5 is the slot itself."""
    slot = RETRY_DELAYS_S[attempts - 1]
    at = [DELIVERY_RETRY.retry_at(attempts, 0.0, jitter=j) for j in (0.0, 0.5, 0.999)]
    assert at[0] == pytest.approx(slot * 0.9)
    assert at[1] == pytest.approx(slot)
    assert slot < (at[2] or 0) <= slot * 1.1
    assert not DELIVERY_RETRY.exhausted(attempts)


def test_delivery_retry_honours_retry_after_up_to_the_longest_wait() -> None:
    """A shorter Retry-After leaves the slot; a longer one wins, capped at max_wait_s."""
    assert DELIVERY_RETRY.retry_at(2, 0.0, retry_after_s=10.0) == pytest.approx(300.0)
    assert DELIVERY_RETRY.retry_at(2, 0.0, retry_after_s=900.0) == pytest.approx(900.0)
    assert DELIVERY_RETRY.retry_at(1, 0.0, retry_after_s=1e9) == pytest.approx(MAX_WAIT_S)
    assert MAX_WAIT_S == DELIVERY_RETRY.max_wait_s == pytest.approx(36000.0 * 1.1)


def test_delivery_retry_is_dead_after_the_last_slot() -> None:
    """The attempt after the last slot has no retry: the delivery is dead."""
    last = len(RETRY_DELAYS_S)
    assert DELIVERY_RETRY.retry_at(last + 1, 0.0, retry_after_s=5.0) is None
    assert DELIVERY_RETRY.exhausted(last + 1)
    assert DELIVERY_RETRY.exhausted(0)


def test_a_delivery_retry_policy_can_be_shaped_and_is_checked() -> None:
    """Another schedule follows the same rules; an empty or negative one is refused."""
    quick = DeliveryRetry(delays_s=(1.0, 2.0), spread=0.0)
    assert [quick.retry_at(n, 100.0, jitter=0.9) for n in (1, 2, 3)] == [101.0, 102.0, None]
    assert quick.max_wait_s == 2.0
    for bad in ({"delays_s": ()}, {"delays_s": (5.0, -1.0)}, {"spread": 1.0}):
        with pytest.raises(ValueError, match=r"positive delay|spread"):
            DeliveryRetry(**bad)  # type: ignore[arg-type]


def _delivery(attempts: int) -> Delivery:
    return Delivery(attempts, MESSAGE_EVENT, "r", "t", attempts, "pending", 0.0, None, 0.0)


def _deliveries(metrics: Metrics) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "pinmon_deliveries_total"
    }


@pytest.mark.parametrize(
    ("result", "counts"),
    [
        (SendResult.sent("t"), {"sent": 3}),
        (SendResult.failed("t", "HTTP 404", status=404), {"rejected": 3}),
        (SendResult.failed("t", "HTTP 410", status=410), {"rejected": 3}),
        (SendResult.failed("t", "HTTP 503", status=503), {"failed": 2, "dead": 1}),
    ],
)
def test_metrics_count_the_outcome_of_the_result(
    result: SendResult, counts: dict[str, float]
) -> None:
    """sent, rejected (permanent or disabled), or per delivery failed / dead by the policy."""
    metrics = Metrics(process=False)
    metrics.send_result([_delivery(1), _delivery(3), _delivery(len(RETRY_DELAYS_S))], result)
    assert _deliveries(metrics) == counts


# --- the client's retry policy ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "answer"),
    [
        (401, None, Answer.UNAUTHORIZED),
        (403, "no access", Answer.ACCESS_LOST),
        (429, "Max rate limit exceeded", Answer.RATE_LIMITED),
        (429, None, Answer.RATE_LIMITED),
        (429, "Your application is blocked for SPAM", Answer.SPAM_BLOCKED),
        (408, None, Answer.SERVER_ERROR),
        (500, None, Answer.SERVER_ERROR),
        (503, "maintenance", Answer.SERVER_ERROR),
        (400, "bad bookmark", Answer.REFUSED),
        (404, None, Answer.REFUSED),
        (409, None, Answer.REFUSED),
    ],
)
def test_classify_status_says_what_another_try_can_change(
    status: int, message: str | None, answer: Answer
) -> None:
    """401 refreshes, 403 and spam blocks are final, quota 429s and 408/5xx are transient."""
    assert classify_status(status, message) is answer


POLICY = RetryPolicy(attempts=3, backoff_initial_s=1.0, backoff_max_s=30.0)


def _transient(status: int | None, hint_s: float | None = None) -> TransientError:
    reason = "rate_limited" if status == 429 else "server_error"
    return TransientError(reason, f"HTTP {status}", status=status, hint_s=hint_s)


def test_client_policy_backs_off_on_server_errors_without_pausing_the_token() -> None:
    """A 5xx waits a full-jitter backoff under the doubling ceiling; the budget is untouched."""
    rng = random.Random(7)
    steps = [POLICY.after(_transient(503), n, rng) for n in (1, 2)]
    assert [s.pause_s for s in steps] == [None, None]
    assert 0 <= (steps[0].wait_s or 0) <= 1.0
    assert 0 <= (steps[1].wait_s or 0) <= 2.0
    assert POLICY.after(_transient(503), 3, rng).wait_s is None  # the third failure is the last


def test_client_policy_honours_a_rate_limit_hint_capped_and_pauses_the_token() -> None:
    """A 429 waits for its hint up to the cap, and pauses every request of the token as long."""
    assert POLICY.after(_transient(429, 7.0), 1) == Step(7.0, 7.0)
    assert POLICY.after(_transient(429, 67_000.0), 1) == Step(120.0, 120.0)


def test_client_policy_pauses_the_token_even_when_giving_up() -> None:
    """The last 429 ends this request, but the quota is still spent for the others."""
    step = POLICY.after(_transient(429, 600.0), POLICY.attempts)
    assert (step.wait_s, step.pause_s) == (None, 120.0)


def test_a_429_without_a_hint_pauses_as_long_as_it_waits() -> None:
    """One backoff draw serves both the sleep and the pause: the two never disagree."""
    step = POLICY.after(_transient(429), 2, random.Random(3))
    assert step.wait_s is not None
    assert step.pause_s == step.wait_s
    assert 0 <= step.wait_s <= 2.0


def test_exhausted_retries_become_the_final_error() -> None:
    """429s end as RateLimitedError with the hint; anything else as the caller's error type."""
    limited = exhausted("/x", _transient(429, 600.0), 4, ListingError)
    assert isinstance(limited, RateLimitedError)
    assert (limited.status, limited.retry_after_s) == (429, 600.0)
    failed = exhausted("/x", _transient(503), 4, ListingError)
    assert type(failed) is ListingError
    assert failed.status == 503
    assert "after 4 tries" in str(failed)
    # Both in-loop errors are part of the one hierarchy, so nothing escapes it untyped.
    assert issubclass(TransientError, PinterestError)
    assert issubclass(UnauthorizedError, PinterestError)
