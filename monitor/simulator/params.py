"""Query-parameter validation for the listing endpoints, as the spec declares the parameters.

Array parameters (``entity_statuses``, ``campaign_ids``, ...) declare no ``style`` or
``explode`` in the spec, so OpenAPI's default for query parameters applies: form style,
exploded, i.e. repeated keys (``entity_statuses=ACTIVE&entity_statuses=PAUSED``). Clients
also commonly send comma-separated values; both are accepted, mixed freely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from multidict import MultiMapping

from monitor.simulator import vocab

_DIGITS: Final = re.compile(r"^\d+$")
MAX_PAGE_SIZE: Final = 250
DEFAULT_PAGE_SIZE: Final = 25
MAX_IDS: Final = 250

#: Per listing kind: the id filters it takes, and the entity field each one filters on.
ID_FILTERS: Final[Mapping[str, Mapping[str, str]]] = {
    "campaigns": {"campaign_ids": "id"},
    "ad_groups": {"campaign_ids": "campaign_id", "ad_group_ids": "id"},
    "ads": {"campaign_ids": "campaign_id", "ad_group_ids": "ad_group_id", "ad_ids": "id"},
}


class ParamError(ValueError):
    """A query parameter the real API would refuse with a 400."""


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated listing request (everything but the account, which is in the path).

    Attributes:
        kind: ``campaigns``, ``ad_groups`` or ``ads`` (or ``ad_accounts``).
        statuses: The ``entity_statuses`` asked for, in the enum's order.
        filter_field: The entity field the id filter applies to, if any.
        filter_ids: The ids it keeps.
        page_size: Items per page.
        descending: ``order=DESCENDING``.
        bookmark: The opaque cursor, if this is not a first page.
        include_shared: For GET /ad_accounts: ``include_shared_accounts``.
    """

    kind: str
    statuses: tuple[str, ...] = vocab.DEFAULT_ENTITY_STATUSES
    filter_field: str | None = None
    filter_ids: frozenset[str] = frozenset()
    page_size: int = DEFAULT_PAGE_SIZE
    descending: bool = False
    bookmark: str | None = None
    include_shared: bool = True

    def listing_key(self, account_id: str) -> str:
        """What identifies the listing regardless of page: bookmarks are tied to it."""
        ids = ",".join(sorted(self.filter_ids))
        order = "D" if self.descending else "A"
        shared = "S" if self.include_shared else "-"
        statuses = ",".join(self.statuses)
        return f"{self.kind}|{account_id}|{statuses}|{self.filter_field}:{ids}|{order}{shared}"


def _values(query: MultiMapping[str], name: str) -> list[str] | None:
    raw = query.getall(name, None)
    if raw is None:
        return None
    values = [v.strip() for item in raw for v in item.split(",")]
    if not values or any(not v for v in values):
        raise ParamError(f"{name} must not contain empty values")
    return values


def _bool(query: MultiMapping[str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ParamError(f"{name} must be true or false, got {value!r}")
    return value.lower() == "true"


def _common(query: MultiMapping[str]) -> tuple[int, str | None]:
    size = query.get("page_size")
    if size is None:
        page_size = DEFAULT_PAGE_SIZE
    elif not _DIGITS.match(size) or not 1 <= int(size) <= MAX_PAGE_SIZE:
        raise ParamError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {size!r}")
    else:
        page_size = int(size)
    bookmark = query.get("bookmark")
    return page_size, (bookmark or None)


def parse_accounts_query(query: MultiMapping[str]) -> ListQuery:
    """Validate GET /ad_accounts parameters.

    Raises:
        ParamError: Where the real API answers 400.
    """
    page_size, bookmark = _common(query)
    include_shared = _bool(query, "include_shared_accounts", True)
    return ListQuery(
        kind="ad_accounts",
        statuses=(),
        page_size=page_size,
        bookmark=bookmark,
        include_shared=include_shared,
    )


def parse_list_query(kind: str, query: MultiMapping[str]) -> ListQuery:
    """Validate the parameters of a campaigns, ad groups or ads listing.

    Raises:
        ParamError: Where the real API answers 400.
    """
    page_size, bookmark = _common(query)
    statuses = _values(query, "entity_statuses")
    if statuses is None:
        statuses = list(vocab.DEFAULT_ENTITY_STATUSES)
    bad = [s for s in statuses if s not in vocab.ENTITY_STATUSES]
    if bad:
        raise ParamError(
            f"entity_statuses: {bad[0]!r} is not one of {', '.join(vocab.ENTITY_STATUSES)}"
        )
    order = query.get("order", "ASCENDING")
    if order not in vocab.ORDERS:
        raise ParamError(f"order must be ASCENDING or DESCENDING, got {order!r}")
    if kind == "ad_groups":
        _bool(query, "translate_interests_to_names", False)
    given = {}
    for name in ID_FILTERS[kind]:
        ids = _values(query, name)
        if ids is None:
            continue
        if len(ids) > MAX_IDS:
            raise ParamError(f"{name} takes at most {MAX_IDS} ids, got {len(ids)}")
        bad = [i for i in ids if not _DIGITS.match(i) or len(i) > 18]
        if bad:
            raise ParamError(f"{name}: {bad[0]!r} is not a valid id")
        given[name] = ids
    if len(given) > 1:
        # Both the ads and the ad groups operations say "Do not provide more than one type".
        raise ParamError(f"only one of {', '.join(ID_FILTERS[kind])} may be given")
    field, ids = next(iter(given.items()), (None, []))
    return ListQuery(
        kind=kind,
        statuses=tuple(s for s in vocab.ENTITY_STATUSES if s in statuses),
        filter_field=ID_FILTERS[kind][field] if field else None,
        filter_ids=frozenset(ids),
        page_size=page_size,
        descending=order == "DESCENDING",
        bookmark=bookmark,
    )
