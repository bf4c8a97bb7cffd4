"""Normal form of watched values, and its compact stored encoding: pure.

Absent, null and empty mean the same to Pinterest's API, and reason lists are sets; only
values in normal form are compared and stored, so no change is reported for a difference
that is not one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from monitor.models import BOOL_FIELDS, LIST_FIELDS

_encode = msgspec.msgpack.Encoder().encode
_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


def _norm_list(value: Any) -> Any:
    # Reason lists compare as sets; sorted so that equal sets encode to equal bytes. The
    # empty form is [] (what the API usually sends), so most rows take the fast path.
    return sorted(set(value)) if value else []


def _norm_bool(value: Any) -> Any:
    # Absent or null means "not deleted": only an explicit true is a state.
    return value is True


def _norm_scalar(value: Any) -> Any:
    if value is None or value == "" or value == [] or value == {}:
        return None
    return value


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
    return _encode(
        [
            getattr(row, "campaign_id", None),
            getattr(row, "ad_group_id", None),
            getattr(row, "pin_id", None),
            getattr(row, "name", None),
        ]
    )


def decode_meta(meta: bytes) -> list[Any]:
    """``[campaign_id, ad_group_id, pin_id, name]`` back from :func:`meta_of`'s bytes."""
    return _decode_list(meta)
