"""The last spend figures fetched per ad (monitor.analytics), with when they were fetched.

Kept so that a restart, or a still-rejected reminder days later, has the ad's last
figures and their age without asking again. Synchronous functions of a
:class:`~monitor.store._db.Db`; see :class:`monitor.store.core.Store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from monitor.store._db import Column, Db
from monitor.store.records import AdSpend

_FIELDS: Final = (
    "account_id, ad_id, spend_micro, impressions, clicks, currency, start_date, end_date, as_of"
)
_COLUMNS: Final[tuple[Column, ...]] = (
    ("account_id", "text"),
    ("ad_id", "text"),
    ("spend_micro", "bigint"),
    ("impressions", "bigint"),
    ("clicks", "bigint"),
    ("currency", "text"),
    ("start_date", "text"),
    ("end_date", "text"),
    ("as_of", "double precision"),
)


def ad_spend(db: Db, account_id: str, ad_ids: Sequence[str]) -> dict[str, AdSpend]:
    """The stored figures of these ads of one account, those there are."""
    rows = db.any_of(
        f"SELECT {_FIELDS} FROM ad_spend WHERE account_id = ? AND ad_id IN ({{marks}})",
        ad_ids,
        (account_id,),
    )
    return {str(row[1]): AdSpend(*row) for row in rows}


def save_ad_spend(db: Db, rows: Sequence[AdSpend]) -> None:
    """Write these figures whole (insert or replace), in one transaction."""
    with db.transaction():
        db.insert_many(
            "ad_spend",
            _COLUMNS,
            [(r.account_id, r.ad_id, r.spend_micro, r.impressions, r.clicks, r.currency,
              r.start_date, r.end_date, r.as_of) for r in rows],
            "ON CONFLICT (account_id, ad_id) DO UPDATE SET spend_micro = excluded.spend_micro,"
            " impressions = excluded.impressions, clicks = excluded.clicks,"
            " currency = excluded.currency, start_date = excluded.start_date,"
            " end_date = excluded.end_date, as_of = excluded.as_of",
        )  # fmt: skip
