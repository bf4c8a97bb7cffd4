"""Third-party notifier kinds, found through the ``pinmon.notifiers`` entry-point group.

The plugin contract: a package registers an entry point in group ``pinmon.notifiers``
whose name is the route key it answers to (``myqueue = [{...}]``) and whose object is a
callable ``factory(options: Mapping[str, Any], *, timeout_s: float) -> Notifier`` — a
class with that constructor works. It is called once per configured target, with that
target's table of options, and must return an object with ``key``, ``label``, ``batch``
and ``async def send(message) -> SendResult`` (see :class:`monitor.notify.Notifier`).
A plugin reports a failure with ``SendResult.failed(label, detail, status=...)`` (or
``fault=``), so the classifier the built-in notifiers share decides what it means
(:func:`monitor.notify.classify`); the first form, ``SendResult(False, label, detail,
permanent=...)``, keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final, cast

from monitor.errors import ConfigError
from monitor.notify import Message, Notifier, SendResult
from monitor.redact import Redactor, mask_url
from monitor.render.escape import MARKDOWN, Dialect

__all__ = ["BUILTIN", "GROUP", "load_notifier", "plugin_names"]

GROUP: Final = "pinmon.notifiers"

#: Kinds built into pinmon; a plugin cannot take these names.
BUILTIN = frozenset({"apprise", "webhooks"})

# Values this short are too likely to be ordinary words in an error message to scrub,
# and too short to be a credential worth the name.
_MIN_SCRUB = 4
_MAX_REASON = 300


def plugin_names() -> frozenset[str]:
    """The notifier kinds installed plugins provide."""
    return frozenset(ep.name for ep in entry_points(group=GROUP)) - BUILTIN


def load_notifier(kind: str, options: Mapping[str, Any], *, timeout_s: float) -> Notifier:
    """Build one target of plugin kind ``kind`` from its route options.

    Args:
        kind: The entry point's name, which is also the route key.
        options: The target's table from the config, passed to the factory as is.
        timeout_s: The send timeout the daemon applies, for the plugin's own requests.

    Returns:
        What the factory built, checked to have the shape of a :class:`Notifier`.

    Raises:
        ConfigError: no such plugin, it cannot be imported, its factory raised, or it
            built something that is not a notifier. The reason never quotes an option
            value: any of them may be a credential.
    """
    where = f"routes: {kind}"
    entry = _entry_point(kind)
    try:
        factory = entry.load()
    except Exception as exc:  # a broken plugin package: any import-time error
        raise ConfigError(
            [f"{where}: cannot load plugin {entry.value}: {_describe(exc)}"]
        ) from None
    try:
        notifier = factory(options, timeout_s=timeout_s)
    except ConfigError as exc:
        # A plugin's own validation: keep its reasons, minus anything it quoted from us.
        raise ConfigError(
            [f"{where}: {_scrub(p, options)}" for p in exc.problems] or [f"{where}: invalid"]
        ) from None
    except Exception as exc:
        # `from None`: a chained traceback would print the factory's locals' reprs.
        reason = _scrub(_describe(exc), options)
        raise ConfigError([f"{where}: {entry.value} rejected its options: {reason}"]) from None
    problem = _shape_problem(notifier)
    if problem is not None:
        raise ConfigError([f"{where}: {entry.value} returned {problem}"])
    # The attributes a plugin may leave out, given their defaults on the instance.
    for name, default in (("body_limit", None), ("dialect", MARKDOWN), ("sends_text", True)):
        if not hasattr(notifier, name):
            try:
                setattr(notifier, name, default)
            except AttributeError:  # __slots__ without them: wrap instead
                return _Defaults(notifier)
    return cast(Notifier, notifier)


class _Defaults:
    """A plugin notifier that cannot take the optional attributes, with their defaults."""

    body_limit: int | None = None
    dialect: Dialect = MARKDOWN
    sends_text: bool = True

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.key: str = inner.key
        self.label: str = inner.label
        self.batch: bool = inner.batch
        self.body_limit = getattr(inner, "body_limit", None)
        self.dialect = getattr(inner, "dialect", MARKDOWN)
        self.sends_text = bool(getattr(inner, "sends_text", True))

    async def send(self, message: Message) -> SendResult:
        """Deliver through the plugin."""
        result: SendResult = await self._inner.send(message)
        return result


def _entry_point(kind: str) -> EntryPoint:
    where = f"routes: {kind}"
    if kind in BUILTIN:
        raise ConfigError([f"{where}: built-in kind, not a plugin"])
    found = {ep.value: ep for ep in entry_points(group=GROUP, name=kind)}
    if not found:
        raise ConfigError([f"{where}: no installed package provides notifier kind {kind!r}"])
    if len(found) > 1:
        # Picking one silently would make which code receives the events an accident of
        # sys.path order.
        raise ConfigError([f"{where}: several packages provide it: {', '.join(sorted(found))}"])
    return next(iter(found.values()))


def _shape_problem(obj: object) -> str | None:
    """What keeps ``obj`` from being a Notifier, or None."""
    kind = type(obj).__name__
    missing = [a for a in ("key", "label", "batch", "send") if not hasattr(obj, a)]
    if missing:
        return f"a {kind} without {', '.join(missing)}: not a notifier"
    key, label, batch = (getattr(obj, a) for a in ("key", "label", "batch"))
    if not isinstance(key, str) or not key:
        return f"a {kind} whose key is not a non-empty string"
    if not isinstance(label, str):
        return f"a {kind} whose label is not a string"
    if not isinstance(batch, bool):
        return f"a {kind} whose batch is not a bool"
    if not callable(getattr(obj, "send", None)):
        return f"a {kind} whose send is not callable"
    return None


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scrub(text: str, options: Mapping[str, Any]) -> str:
    """``text`` with every option value (and each URL's credential parts) masked."""
    redactor = Redactor(min_len=_MIN_SCRUB)
    for value in _leaves(options):
        redactor.add(value)
        if "://" in value:
            redactor.add_url(value, mask_url(value))
    text = redactor.redact(text)
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _leaves(value: Any) -> Iterator[str]:
    """Every scalar inside ``value`` as text: strings, and numbers (a PIN is a secret too)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield str(value)
