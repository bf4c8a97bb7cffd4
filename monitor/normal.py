"""Normal form of watched values, and its compact stored encoding: pure.

Absent, null and empty mean the same to Pinterest's API, and reason lists are sets; only
values in normal form are compared and stored, so no change is reported for a difference
that is not one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import msgspec

from monitor.models import BOOL_FIELDS, LIST_FIELDS

_encode = msgspec.msgpack.Encoder().encode
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode

#: Characters kept of any one string from Pinterest (a name, a label, a URL): enough for
#: any real value, while a 10 MB name can neither bloat the state file nor a message.
MAX_TEXT: Final = 1_000
#: Items kept of a list field (reasons, labels): the spec's enum has 48 reasons.
MAX_ITEMS: Final = 100

_T = TypeVar("_T")


def cap_text(value: _T) -> _T:
    """A string cut to :data:`MAX_TEXT` characters (with an ellipsis); anything else as is."""
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[: MAX_TEXT - 1] + "…"  # type: ignore[return-value]
    return value


def _norm_list(value: Any) -> Any:
    # Reason lists compare as sets; sorted so that equal sets encode to equal bytes. The
    # empty form is [] (what the API usually sends), so most rows take the fast path.
    if not value:
        return []
    if len(value) > MAX_ITEMS or any(isinstance(v, str) and len(v) > MAX_TEXT for v in value):
        value = [cap_text(v) for v in value[:MAX_ITEMS]]
    try:
        return sorted(set(value))
    except TypeError:  # unhashable or mixed items of a field we do not type: keep the order
        return list(value)


def _norm_bool(value: Any) -> Any:
    # Absent or null means "not deleted": only an explicit true is a state.
    return value is True


def _norm_scalar(value: Any) -> Any:
    if value is None or value == "" or value == [] or value == {}:
        return None
    return cap_text(value)


def normaliser(field_name: str) -> Callable[[Any], Any]:
    """How one watched field's raw value is normalised before comparison."""
    if field_name in LIST_FIELDS:
        return _norm_list
    if field_name in BOOL_FIELDS:
        return _norm_bool
    return _norm_scalar


def encode_state(values: list[Any]) -> bytes:
    """The stored form of normalised watched values, in the order of the watched fields."""
    return _encode(values)


def decode_state(fields: tuple[str, ...], blob: bytes) -> dict[str, Any]:
    """Stored bytes back to ``{field: value}`` for the fields they were written with."""
    return dict(zip(fields, _decode_list(blob), strict=False)) if blob else {}


def meta_of(row: Any) -> bytes:
    """What a ``removed`` event will report of the entity: its parents, pin and name."""
    return _encode(
        [
            cap_text(getattr(row, "campaign_id", None)),
            cap_text(getattr(row, "ad_group_id", None)),
            cap_text(getattr(row, "pin_id", None)),
            cap_text(getattr(row, "name", None)),
        ]
    )


def decode_meta(meta: bytes) -> list[Any]:
    """``[campaign_id, ad_group_id, pin_id, name]`` back from :func:`meta_of`'s bytes."""
    return _decode_list(meta)
