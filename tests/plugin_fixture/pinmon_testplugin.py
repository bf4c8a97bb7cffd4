"""A third-party notifier plugin, shaped as a package would ship one, for tests/test_plugins.py.

tests/test_plugins.py registers these objects as ``pinmon.notifiers`` entry points by
writing a ``*.dist-info`` next to nothing but this directory on ``sys.path``: nothing
is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.errors import ConfigError
from monitor.notify import Message, SendResult
from monitor.notify.recording import RecordingNotifier

#: Every notifier the plugin built, newest last: the daemon builds its own, and this is
#: how a test reaches them.
BUILT: list[QueueNotifier] = []


class QueueNotifier(RecordingNotifier):
    """A well-behaved plugin: a class whose constructor is the factory.

    ``fail_status = N`` makes every send answer HTTP N, as the classifier reads it.
    """

    def __init__(self, options: Mapping[str, Any], *, timeout_s: float) -> None:
        super().__init__({"name": str(options.get("topic", "default"))}, timeout_s=timeout_s)
        self.options = dict(options)
        if "fail_status" in options:
            status = int(options["fail_status"])
            self.fail_next(1000, status=status, detail=f"HTTP {status}")
        BUILT.append(self)


class LegacyQueueNotifier(QueueNotifier):
    """A plugin written against the first plugin API: ``SendResult(ok, label, detail,
    permanent=...)``, here refusing every send for good."""

    async def send(self, message: Message) -> SendResult:
        self.messages.append(message)
        return SendResult(False, self.label, "HTTP 404", permanent=True)


def leaky_factory(options: Mapping[str, Any], *, timeout_s: float) -> QueueNotifier:
    """Fails the way careless code does: by quoting the options it was given."""
    raise ValueError(f"cannot reach {options['url']} with token {options['token']}")


def strict_factory(options: Mapping[str, Any], *, timeout_s: float) -> QueueNotifier:
    """Validates like a careful plugin, but still quotes a value in its reason."""
    raise ConfigError([f"token {options['token']!r} is not a queue token"])


def not_a_notifier(options: Mapping[str, Any], *, timeout_s: float) -> object:
    """Returns something without the Notifier attributes."""
    return {"key": "queue"}


def wrong_signature(options: Mapping[str, Any]) -> QueueNotifier:
    """Forgets the keyword-only ``timeout_s`` of the contract."""
    return QueueNotifier(options, timeout_s=1.0)
