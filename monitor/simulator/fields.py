"""Checking the entity fields a scenario or a step sets, against the entity shapes and enums."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from monitor.simulator import vocab
from monitor.simulator.entities import SETTABLE, Ad, AdAccount, AdGroup, Campaign
from monitor.simulator.tables import Problems, join

#: The kinds as scenarios and URLs spell them.
KINDS: Final = ("accounts", "campaigns", "ad_groups", "ads")


def _patch_type(cls: type[msgspec.Struct], kind: str) -> type[msgspec.Struct]:
    """A Struct with every settable field of ``cls`` optional: msgspec then type-checks a
    partial mapping for us and names the offending field."""
    fields = [
        (f.name, f.type | msgspec.UnsetType, msgspec.UNSET)
        for f in msgspec.structs.fields(cls)
        if f.name in SETTABLE[kind]
    ]
    return msgspec.defstruct(
        f"{cls.__name__}Fields", fields, kw_only=True, forbid_unknown_fields=True
    )


_PATCHES: Final[dict[str, type[msgspec.Struct]]] = {
    "accounts": _patch_type(AdAccount, "accounts"),
    "campaigns": _patch_type(Campaign, "campaigns"),
    "ad_groups": _patch_type(AdGroup, "ad_groups"),
    "ads": _patch_type(Ad, "ads"),
}

_ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "status": vocab.ENTITY_STATUSES,
    "review_status": vocab.REVIEW_STATUSES,
    "creative_type": vocab.CREATIVE_TYPES,
    "objective_type": vocab.OBJECTIVE_TYPES,
}


def check_fields(kind: str, fields: Mapping[str, Any], where: str, p: Problems) -> dict[str, Any]:
    """Validate ``fields`` to set on an entity of ``kind``; return the ones that passed.

    Args:
        kind: One of :data:`KINDS`.
        fields: Field name to value, e.g. ``{"name": "Winter Boots", "status": "PAUSED"}``.
        where: The key path of ``fields`` for problem lines.
        p: Where problems go.
    """
    unknown = [k for k in fields if k not in SETTABLE[kind]]
    for key in unknown:
        p.add(join(where, key), f"not a settable field of {kind}")
    known = {k: v for k, v in fields.items() if k not in unknown}
    try:
        patch = msgspec.convert(known, type=_PATCHES[kind])
    except msgspec.ValidationError as exc:
        reason, _, path = str(exc).partition(" - at `$")
        p.add(where + path.rstrip("`"), reason)
        return {}
    out = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
    for key, value in out.items():
        choices = _ENUMS.get(key)
        if key == "summary_status":
            choices = vocab.AD_SUMMARY_STATUSES if kind == "ads" else vocab.GROUP_SUMMARY_STATUSES
        if choices is not None and value not in choices:
            p.add(join(where, key), f"{value!r} is not one of: {', '.join(choices)}")
    reasons = out.get("rejected_reasons") or []
    bad = [r for r in reasons if r not in vocab.REJECTED_REASONS]
    if bad:
        p.add(join(where, "rejected_reasons"), f"unknown reason(s) {', '.join(map(repr, bad))}")
    return out
