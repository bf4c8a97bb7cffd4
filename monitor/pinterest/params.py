"""What the OpenAPI spec allows in the query and path of the requests pinmon sends.

The values below are copied from Pinterest's ``openapi-v5.json`` (5.23.0) and checked
against it by the tests: the client refuses anything else up front, because Pinterest
answers an out-of-range value with a 400 that would fail every cycle the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from monitor import vocab
from monitor.vocab import DEFAULT_ENTITY_STATUSES

__all__ = ["DEFAULT_ENTITY_STATUSES", "ENTITY_STATUSES", "ID_FILTERS", "MAX_FILTER_IDS"]

#: ``components.schemas.EntityStatus`` (also the item enum of ``query_entity_statuses``).
ENTITY_STATUSES: Final[frozenset[str]] = frozenset(vocab.ENTITY_STATUSES)

#: ``query_page_size``: integer, minimum 1, maximum 250 (a larger value is a 400).
PAGE_SIZE_MIN: Final = 1
PAGE_SIZE_MAX: Final = 250

_AD_ACCOUNT_ID: Final = vocab.AD_ACCOUNT_ID

#: The id filter of each list endpoint (``query_ad_ids``, ``query_campaign_ids``,
#: ``query_ad_group_ids``): arrays of digit strings, 1 to 250 items.
ID_FILTERS: Final[dict[str, str]] = {
    "ads": "ad_ids",
    "campaigns": "campaign_ids",
    "ad_groups": "ad_group_ids",
}
MAX_FILTER_IDS: Final = 250
#: ``^\d+$``; the spec caps campaign ids at 18 characters, and no 64-bit id has more than 20.
_ENTITY_ID: Final = {"ad_ids": re.compile(r"\d{1,20}", re.ASCII),
                     "ad_group_ids": re.compile(r"\d{1,20}", re.ASCII),
                     "campaign_ids": re.compile(r"\d{1,18}", re.ASCII)}  # fmt: skip


def check_page_size(page_size: int) -> int:
    """Return *page_size* if the spec allows it.

    Raises:
        ValueError: It is not an integer in 1..250.
    """
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError(f"page_size must be an integer, not {type(page_size).__name__}")
    if not PAGE_SIZE_MIN <= page_size <= PAGE_SIZE_MAX:
        raise ValueError(f"page_size must be in {PAGE_SIZE_MIN}..{PAGE_SIZE_MAX}, not {page_size}")
    return page_size


def check_entity_statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    """Return *statuses* as a tuple, without duplicates, if every one is an EntityStatus.

    Raises:
        ValueError: It is empty (the API would apply its own default), a bare string, or
            holds a value outside the spec's enum.
    """
    if isinstance(statuses, str):
        raise ValueError("entity_statuses must be a sequence of statuses, not a string")
    unique = tuple(dict.fromkeys(statuses))
    if not unique:
        raise ValueError("entity_statuses must name at least one status")
    unknown = [status for status in unique if status not in ENTITY_STATUSES]
    if unknown:
        raise ValueError(
            f"entity_statuses {unknown} not in {sorted(ENTITY_STATUSES)} (EntityStatus)"
        )
    return unique


def check_ad_account_id(account_id: str) -> str:
    """Return *account_id* if it is the digit string the path parameter requires.

    Raises:
        ValueError: It is not 1 to 18 ASCII digits.
    """
    if not isinstance(account_id, str) or not _AD_ACCOUNT_ID.fullmatch(account_id):
        raise ValueError(f"ad account id must be 1 to 18 digits, not {account_id!r}")
    return account_id


def check_entity_ids(param: str, entity_ids: Sequence[str]) -> tuple[str, ...]:
    """Return *entity_ids* as a tuple without duplicates if each may go in *param*.

    Raises:
        ValueError: A bare string, or an id that does not match the filter's ``pattern``
            and ``maxLength``.
    """
    if isinstance(entity_ids, str):
        raise ValueError("entity ids must be a sequence of ids, not a string")
    pattern = _ENTITY_ID[param]
    unique = tuple(dict.fromkeys(entity_ids))
    bad = [i for i in unique if not isinstance(i, str) or not pattern.fullmatch(i)]
    if bad:
        raise ValueError(f"{param}: {bad[0]!r} is not an id the spec allows")
    return unique
