"""The review clock's rows: per ad, its stretch in review and its last decisions.

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from monitor.store._db import Column, Db
from monitor.store.records import AdReview

_FIELDS: Final = "account_id, ad_id, pending_since, stuck_at, rejected_at, approved_at"
_COLUMNS: Final[tuple[Column, ...]] = (
    ("account_id", "text"),
    ("ad_id", "text"),
    ("pending_since", "double precision"),
    ("stuck_at", "double precision"),
    ("rejected_at", "double precision"),
    ("approved_at", "double precision"),
)


def ad_reviews(db: Db, account_id: str, ad_ids: Sequence[str]) -> dict[str, AdReview]:
    """The rows of these ads of one account, those there are."""
    rows = db.any_of(
        f"SELECT {_FIELDS} FROM ad_reviews WHERE account_id = ? AND ad_id IN ({{marks}})",
        ad_ids,
        (account_id,),
    )
    return {row[1]: AdReview(*row) for row in rows}


def account_reviewed(db: Db, account_id: str) -> bool:
    """Whether any ad of the account has a row (its clock was started)."""
    return (
        db.one("SELECT 1 FROM ad_reviews WHERE account_id = ? LIMIT 1", (account_id,)) is not None
    )


def save_ad_reviews(db: Db, rows: Sequence[AdReview]) -> None:
    """Write these rows whole (insert or replace), in one transaction."""
    with db.transaction():
        db.insert_many(
            "ad_reviews",
            _COLUMNS,
            [(r.account_id, r.ad_id, r.pending_since, r.stuck_at, r.rejected_at, r.approved_at)
             for r in rows],
            "ON CONFLICT (account_id, ad_id) DO UPDATE SET pending_since = excluded.pending_since,"
            " stuck_at = excluded.stuck_at, rejected_at = excluded.rejected_at,"
            " approved_at = excluded.approved_at",
        )  # fmt: skip


def stuck_reviews(db: Db, before: float, limit: int) -> list[AdReview]:
    """Ads in review since before ``before`` whose stretch was not reported, oldest first."""
    rows = db.all(
        f"SELECT {_FIELDS} FROM ad_reviews WHERE pending_since <= ? AND stuck_at IS NULL"
        " ORDER BY pending_since, account_id, ad_id LIMIT ?",
        (before, limit),
    )
    return [AdReview(*row) for row in rows]


def open_reviews(db: Db) -> list[AdReview]:
    """Rows of ads in review, or rejected with no approval since: the candidates for what
    a recap lists (their stored state says which they are now)."""
    rows = db.all(
        f"SELECT {_FIELDS} FROM ad_reviews WHERE pending_since IS NOT NULL"
        " OR (rejected_at IS NOT NULL AND (approved_at IS NULL OR approved_at < rejected_at))"
        " ORDER BY account_id, ad_id"
    )
    return [AdReview(*row) for row in rows]


def landing_down(db: Db) -> dict[str, float]:
    """The landing pages found down, with since when."""
    return {
        str(url): float(since) for url, since in db.all("SELECT url, down_since FROM landing_pages")
    }


def set_landing(
    db: Db, down: Sequence[tuple[str, float, int | None, str | None]], up: Sequence[str]
) -> None:
    """Pages found down (url, since, status, error) and pages up again, in one transaction."""
    with db.transaction():
        db.insert_many(
            "landing_pages",
            (
                ("url", "text"),
                ("down_since", "double precision"),
                ("status", "integer"),
                ("error", "text"),
            ),
            list(down),
            "ON CONFLICT (url) DO UPDATE SET status = excluded.status, error = excluded.error",
        )
        db.execute_many("DELETE FROM landing_pages WHERE url = ?", [(u,) for u in up])
