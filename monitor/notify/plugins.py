"""Third-party notifier kinds, found through the ``pinmon.notifiers`` entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "pinmon.notifiers"

#: Kinds built into pinmon; a plugin cannot take these names.
BUILTIN = frozenset({"apprise", "webhooks"})


def plugin_names() -> frozenset[str]:
    """The notifier kinds installed plugins provide."""
    return frozenset(ep.name for ep in entry_points(group=GROUP)) - BUILTIN
