"""Notifier plugins: found as real ``pinmon.notifiers`` entry points, built, and fed by the daemon.

Nothing is installed: each test writes a ``*.dist-info`` (METADATA and entry_points.txt)
into its tmp dir and puts that, and the directory holding the plugin module, on
``sys.path`` — exactly what an installed package looks like to ``importlib.metadata``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from structlog.testing import capture_logs

from monitor.config import load_config
from monitor.daemon import EXIT_DELIVERY_FAILED, EXIT_OK, run_once
from monitor.errors import ConfigError
from monitor.events import Event
from monitor.notify import Message
from monitor.notify.plugins import BUILTIN, load_notifier, plugin_names
from monitor.notify.recording import RecordingNotifier
from tests.harness import ACCOUNT, ADS, rig

FIXTURE = Path(__file__).resolve().parent / "plugin_fixture"

ENTRIES = {
    "testqueue": "pinmon_testplugin:QueueNotifier",
    "legacyqueue": "pinmon_testplugin:LegacyQueueNotifier",
    "leaky": "pinmon_testplugin:leaky_factory",
    "strict": "pinmon_testplugin:strict_factory",
    "notanotifier": "pinmon_testplugin:not_a_notifier",
    "wrongsig": "pinmon_testplugin:wrong_signature",
    "unimportable": "pinmon_testplugin_gone:Factory",
    "webhooks": "pinmon_testplugin:QueueNotifier",
}

SECRET_URL = "https://queue-user:Qp4ss-w0rd-77@queue.example.com/v1/topics?key=k3y-0f-the-queue"
SECRET_TOKEN = "qtok_9f3aQ7xYz2LmN8pR4s"

PLUGIN_ROUTE = """
[[routes]]
name = "to-queue"
events = ["ad.*"]
testqueue = [{ topic = "ads", url = "${QUEUE_URL}" }]
"""


def _dist(site: Path, name: str, entries: dict[str, str]) -> None:
    dist = site / f"{name.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entries.items())
    (dist / "entry_points.txt").write_text(f"[pinmon.notifiers]\n{lines}")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Register ENTRIES as the entry points of a ``pinmon-testplugin`` distribution."""
    site = tmp_path / "site"
    _dist(site, "pinmon-testplugin", ENTRIES)
    monkeypatch.syspath_prepend(str(FIXTURE))
    monkeypatch.syspath_prepend(str(site))
    module = importlib.import_module("pinmon_testplugin")
    module.BUILT.clear()
    return module


def test_plugin_names_lists_installed_kinds_but_never_builtins(plugin: ModuleType) -> None:
    """Every registered entry point is a kind, except names pinmon keeps for itself."""
    names = plugin_names()
    assert {"testqueue", "leaky", "strict"} <= names
    assert not names & BUILTIN


def test_load_notifier_calls_the_factory_with_options_and_timeout(plugin: ModuleType) -> None:
    """The entry point is called with the route's options and the send timeout."""
    notifier = load_notifier("testqueue", {"topic": "ads", "url": SECRET_URL}, timeout_s=7.5)
    assert isinstance(notifier, plugin.QueueNotifier)
    assert (notifier.key, notifier.label, notifier.batch) == (
        "recording:ads",
        "recording://ads",
        True,
    )
    assert notifier.options == {"topic": "ads", "url": SECRET_URL}
    assert notifier.timeout_s == 7.5


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("leaky", "pinmon_testplugin:leaky_factory rejected its options: ValueError"),
        ("strict", "is not a queue token"),
        ("notanotifier", "returned a dict without key, label, batch, send: not a notifier"),
        ("wrongsig", "rejected its options: TypeError"),
        ("unimportable", "cannot load plugin pinmon_testplugin_gone:Factory"),
        ("webhooks", "built-in kind, not a plugin"),
        ("nosuchkind", "no installed package provides notifier kind 'nosuchkind'"),
    ],
)
def test_a_broken_plugin_is_a_config_error_that_quotes_no_option_value(
    plugin: ModuleType, kind: str, reason: str
) -> None:
    """Every way a plugin can fail becomes one ConfigError line naming the kind, never a value."""
    options = {"url": SECRET_URL, "token": SECRET_TOKEN, "retries": 31337}
    with pytest.raises(ConfigError) as caught:
        load_notifier(kind, options, timeout_s=5.0)
    (problem,) = caught.value.problems
    assert problem.startswith(f"routes: {kind}: ")
    assert reason in problem
    text = "\n".join([str(caught.value), repr(caught.value), problem])
    for leaked in (SECRET_URL, SECRET_TOKEN, "Qp4ss-w0rd-77", "k3y-0f-the-queue", "31337"):
        assert leaked not in text
    # `from None`: no chained exception whose frames could print the options.
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_two_packages_claiming_one_kind_is_a_config_error(
    plugin: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which code receives the events must not depend on sys.path order."""
    other = tmp_path / "other-site"
    _dist(other, "pinmon-otherqueue", {"testqueue": "pinmon_testplugin:wrong_signature"})
    monkeypatch.syspath_prepend(str(other))
    with pytest.raises(ConfigError, match="several packages provide it"):
        load_notifier("testqueue", {}, timeout_s=5.0)


def _event(n: int) -> Event:
    return Event(
        id=f"evt_{n:024x}",
        type="ad.rejected",
        entity="ad",
        entity_id=ADS[0],
        ad_account_id=ACCOUNT,
        ad_id=ADS[0],
        detected_at=1764326712.5,
    )


def _message(*events: Event) -> Message:
    return Message("Ad rejected", "body", "failure", tuple(e.id for e in events), events)


@pytest.mark.anyio
async def test_recording_notifier_records_and_fails_as_scripted() -> None:
    """Scripted failures come back as typed results, in order, then sends succeed again."""
    notifier = RecordingNotifier({"name": "demo", "batch": False})
    notifier.fail_next(1, retry_after_s=3.0)
    notifier.fail_next(1, permanent=True, detail="queue deleted")
    results = [await notifier.send(_message(_event(i))) for i in range(3)]
    assert [(r.ok, r.permanent, r.retry_after_s) for r in results] == [
        (False, False, 3.0),
        (False, True, None),
        (True, False, None),
    ]
    assert results[1].detail == "queue deleted"
    assert {r.target for r in results} == {"recording://demo"}
    assert [e.id for e in notifier.events] == [_event(i).id for i in range(3)]
    assert notifier.delivered == notifier.messages[2:]
    assert (notifier.key, notifier.batch) == ("recording:demo", False)


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_daemon_delivers_through_a_plugin_target(plugin: ModuleType, tmp_path: Path) -> None:
    """A route key naming an installed plugin becomes a target the outbox delivers to."""
    async with rig(tmp_path) as r:
        # The harness's config (an apprise route to the sink) plus a route to the plugin.
        with r.path.open("a") as config:
            config.write(PLUGIN_ROUTE)
        env = {"QUEUE_URL": SECRET_URL}
        with capture_logs() as logs:
            assert await run_once(load_config(r.path, env=env)) == EXIT_OK
            r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
            assert await run_once(load_config(r.path, env=env)) == EXIT_OK
        # One notifier per run: the baseline run's received nothing.
        assert plugin.BUILT, "the daemon never built the plugin's notifier"
        assert all(n.options == {"topic": "ads", "url": SECRET_URL} for n in plugin.BUILT)
        events = [e for n in plugin.BUILT for e in n.events]
        assert [(e.type, e.ad_id) for e in events] == [("ad.rejected", ADS[0])]
        assert events[0].state["rejected_reasons"] == ["HASHTAGS"]
        assert SECRET_URL not in repr(logs)


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_plugin_answering_410_is_disabled_like_any_target(
    plugin: ModuleType, tmp_path: Path
) -> None:
    """A plugin's 410, read by the shared classifier, disables its target and says so."""
    async with rig(tmp_path) as r:
        with r.path.open("a") as config:
            config.write(PLUGIN_ROUTE.replace('topic = "ads"', 'topic = "ads", fail_status = 410'))
        env = {"QUEUE_URL": SECRET_URL}
        assert await run_once(load_config(r.path, env=env)) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(load_config(r.path, env=env)) == EXIT_DELIVERY_FAILED
        r.sim.world.reject_ad(ADS[1], reasons=["HASHTAGS"])
        await run_once(load_config(r.path, env=env))
        titles = [m["title"] for m in r.messages()]
        assert sum("disabled a notification target" in t for t in titles) == 1, titles
        assert not any("gave up delivering" in t for t in titles), titles
        # Tried once; the second rejection was never offered to the retired target.
        assert [e.ad_id for n in plugin.BUILT for e in n.events] == [ADS[0]]


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_plugin_on_the_first_api_keeps_its_meaning(
    plugin: ModuleType, tmp_path: Path
) -> None:
    """``SendResult(False, label, detail, permanent=True)`` is still given up at once, reported."""
    async with rig(tmp_path) as r:
        with r.path.open("a") as config:
            config.write(PLUGIN_ROUTE.replace("testqueue", "legacyqueue"))
        env = {"QUEUE_URL": SECRET_URL}
        assert await run_once(load_config(r.path, env=env)) == EXIT_OK
        r.sim.world.reject_ad(ADS[0], reasons=["HASHTAGS"])
        assert await run_once(load_config(r.path, env=env)) == EXIT_DELIVERY_FAILED
        assert await run_once(load_config(r.path, env=env)) == EXIT_OK  # nothing left to retry
        dead = [m for m in r.messages() if "gave up delivering" in m["title"]]
        assert len(dead) == 1, r.messages()
        assert "HTTP 404" in dead[0]["message"]
        assert len([m for n in plugin.BUILT for m in n.messages]) == 1
