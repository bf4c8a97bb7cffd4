"""Target labels: distinct for distinct targets, recorded in a real store, read back without apprise."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.redact import Redactor
from monitor.store.sqlite import open_store
from monitor.targets import label_of, load_labels, save_labels
from monitor.wiring import build_notifiers

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGFyZ2V0cy0xMjM0NTY="


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "pinmon.toml"
    path.write_text(
        f"""
[pinterest]
access_token = "pina_targets_test_token"
[monitor]
state = "state.db"
[[routes]]
name = "zaps"
webhooks = [
  {{ url = "https://hooks.zapier.com/hooks/catch/1234567/a1b2c3d/", secret = "{SECRET}" }},
  {{ url = "https://hooks.zapier.com/hooks/catch/1234567/x9y8z7w/", secret = "{SECRET}" }},
  {{ url = "https://hooks.example.com/in/9f3a77c1e2", secret = "{SECRET}" }},
]
"""
    )
    return path


def test_targets_whose_masked_urls_coincide_get_distinct_labels(tmp_path: Path) -> None:
    """Two hooks that differ only in their secret parts are told apart by a piece of their key;
    a target with a label of its own keeps it unchanged."""
    redactor = Redactor()
    notifiers, _ = build_notifiers(load_config(_config(tmp_path)), redactor=redactor)
    labels = {n.label for n in notifiers.values()}
    assert len(labels) == 3
    zaps = sorted(label for label in labels if "zapier" in label)
    base = "https://hooks.zapier.com/hooks/catch/****/****"
    assert [z.partition(" [")[0] for z in zaps] == [base, base]
    for notifier in notifiers.values():
        if "zapier" in notifier.label:
            assert notifier.label == f"{base} [{notifier.key.rpartition(':')[2][:6]}]"
    assert "https://hooks.example.com/in/****" in labels
    for label in labels:
        assert redactor.redact(label) == label, "registering the targets masks no label"
    assert not [s for s in ("a1b2c3d", "x9y8z7w", "9f3a77c1e2") if any(s in x for x in labels)]


async def test_labels_are_recorded_and_read_back_by_key(tmp_path: Path) -> None:
    """What the daemon records is what read-only commands find; an unknown key names itself."""
    notifiers, _ = build_notifiers(load_config(_config(tmp_path)), redactor=Redactor())
    store = await open_store(tmp_path / "state.db")
    try:
        await save_labels(store, notifiers)
        labels = await load_labels(store)
    finally:
        await store.close()
    assert labels == {key: n.label for key, n in notifiers.items()}
    assert label_of(labels, "webhook:0000000000000000") == "webhook:0000000000000000"
