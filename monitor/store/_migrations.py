"""Schema version 4, for both backends: real tables for what the key/value table held.

Reminders, mutes, target labels and disabled targets, and the OAuth credentials were
JSON or flat strings under key prefixes of ``kv``; each now has a table with typed
columns. The tables are written once here, with the column types each backend spells
its own way, and :func:`move_kv_rows` moves the existing rows (in the migration's
transaction). An entry that no pinmon could have read (bad JSON, an unknown scope) is
dropped, as reading it would have skipped it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from monitor.store._db import Db

_PREFIXES: Final = ("remind:", "mute:", "target:", "disabled:", "oauth.")
_SCOPES: Final = ("ad", "campaign", "account")


@dataclass(frozen=True, slots=True)
class Types:
    """How a backend spells the column types and table options of the new tables."""

    key: str  # compared and sorted text
    real: str
    blob: str
    table: str = ""  # after each CREATE TABLE's closing parenthesis


def tables(t: Types) -> tuple[str, ...]:
    """The CREATE TABLE statements of version 4."""
    return (
        f"""CREATE TABLE reminders (
            route      {t.key} NOT NULL,
            account_id {t.key} NOT NULL,
            ad_id      {t.key} NOT NULL,
            event      {t.blob} NOT NULL,
            next_at    {t.real} NOT NULL,
            count      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (route, account_id, ad_id)
        ){t.table}""",
        f"""CREATE TABLE mutes (
            scope      {t.key} NOT NULL CHECK (scope IN ('ad', 'campaign', 'account')),
            entity_id  {t.key} NOT NULL,
            until      {t.real} NOT NULL,
            created_at {t.real} NOT NULL,
            reason     TEXT,
            PRIMARY KEY (scope, entity_id)
        ){t.table}""",
        # One row per delivery target, by outbox key: its masked label (what outputs
        # name it by) and, after a 410 Gone, why and since when it is disabled.
        f"""CREATE TABLE targets (
            key             {t.key} PRIMARY KEY,
            label           TEXT,
            disabled_reason TEXT,
            disabled_at     {t.real}
        ){t.table}""",
        # `origin` ties the tokens to the configured refresh token they descend from.
        f"""CREATE TABLE credentials (
            name               {t.key} PRIMARY KEY,
            origin             TEXT NOT NULL,
            access_token       TEXT,
            access_expires_at  {t.real},
            refresh_token      TEXT NOT NULL,
            refresh_expires_at {t.real}
        ){t.table}""",
    )


def review_tables(t: Types) -> tuple[str, ...]:
    """SQLite version 6, PostgreSQL 5: the review clock's table (per ad, since when it is
    in review and whether that stretch was reported stuck, and when it was last rejected
    and approved, so that a rejection after an approval reads as "rejected again"), and
    the landing pages found down (monitor.landing)."""
    return (
        f"""CREATE TABLE ad_reviews (
            account_id    {t.key} NOT NULL,
            ad_id         {t.key} NOT NULL,
            pending_since {t.real},
            stuck_at      {t.real},
            rejected_at   {t.real},
            approved_at   {t.real},
            PRIMARY KEY (account_id, ad_id)
        ){t.table}""",
        "CREATE INDEX ad_reviews_pending ON ad_reviews (pending_since)",
        # The landing pages found down (monitor.landing): one report per stretch.
        f"""CREATE TABLE landing_pages (
            url        {t.key} PRIMARY KEY,
            down_since {t.real} NOT NULL,
            status     INTEGER,
            error      TEXT
        ){t.table}""",
    )


def spend_table(key: str, real: str, table: str) -> str:
    """SQLite version 8, PostgreSQL 7: the ``ad_spend`` table, per (account, ad)."""
    return f"""CREATE TABLE ad_spend (
            account_id  {key} NOT NULL,
            ad_id       {key} NOT NULL,
            spend_micro BIGINT NOT NULL,
            impressions BIGINT NOT NULL,
            clicks      BIGINT NOT NULL,
            currency    TEXT,
            start_date  TEXT NOT NULL,
            end_date    TEXT NOT NULL,
            as_of       {real} NOT NULL,
            PRIMARY KEY (account_id, ad_id)
        ){table}"""


def slack_tables(t: Types) -> tuple[str, ...]:
    """SQLite version 9, PostgreSQL 8: each ad's Slack thread per slack-bot target (its
    root message's ``ts``), so threads survive restarts and are shared by replicas."""
    return (
        f"""CREATE TABLE slack_threads (
            target        {t.key} NOT NULL,
            account_id    {t.key} NOT NULL,
            ad_id         {t.key} NOT NULL,
            channel       TEXT NOT NULL,
            ts            TEXT NOT NULL,
            resolved      INTEGER NOT NULL DEFAULT 0,
            opened_at     {t.real} NOT NULL,
            updated_at    {t.real} NOT NULL,
            last_event_id TEXT NOT NULL,
            PRIMARY KEY (target, account_id, ad_id)
        ){t.table}""",
    )


def hash_index_tables(t: Types) -> tuple[str, ...]:
    """SQLite version 10, PostgreSQL 9: each kind's hash index (:mod:`monitor.hashindex`),
    and the snapshot's version that stamps it (bumped by every write of its entities)."""
    return (
        "ALTER TABLE snapshots ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
        # One value per kind, a few megabytes for a big account: an ordinary table, not
        # clustered on the key (SQLite keeps big values of a WITHOUT ROWID table badly).
        f"""CREATE TABLE hash_index (
            account_id {t.key} NOT NULL,
            kind       {t.key} NOT NULL,
            version    BIGINT NOT NULL,
            ids        {t.blob} NOT NULL,
            hashes     {t.blob} NOT NULL,
            PRIMARY KEY (account_id, kind)
        )""",
    )


def move_kv_rows(db: Db) -> None:
    """Move the reminders, mutes, targets and credentials out of ``kv`` into their tables."""
    rows: dict[str, str] = {}
    for prefix in _PREFIXES:
        rows |= dict(db.all("SELECT key, value FROM kv WHERE substr(key, 1, ?) = ?",
                            (len(prefix), prefix)))  # fmt: skip
    for key, value in rows.items():
        prefix, _, rest = key.partition(":")
        if prefix == "remind":
            _reminder(db, rest, value)
        elif prefix == "mute":
            _mute(db, rest, value)
        elif prefix in ("target", "disabled"):
            column = "label" if prefix == "target" else "disabled_reason"
            db.execute(
                f"INSERT INTO targets (key, {column}) VALUES (?, ?)"
                f" ON CONFLICT (key) DO UPDATE SET {column} = excluded.{column}",
                (rest, value),
            )
    _credentials(db, {k: v for k, v in rows.items() if k.startswith("oauth.")})
    for prefix in _PREFIXES:
        db.execute("DELETE FROM kv WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))


def _json(value: str) -> dict[str, Any] | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _reminder(db: Db, rest: str, value: str) -> None:
    # remind:<route>:<account>:<ad>; route names cannot hold ':' (see the old reader).
    route, _, ids = rest.partition(":")
    account_id, _, ad_id = ids.partition(":")
    data = _json(value)
    if data is None:
        return
    try:
        row = (route, account_id, ad_id, str(data["event"]).encode(), float(data["next_at"]),
               int(data["count"]))  # fmt: skip
    except (TypeError, KeyError, ValueError):
        return
    db.execute(
        "INSERT INTO reminders (route, account_id, ad_id, event, next_at, count)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        row,
    )


def _mute(db: Db, rest: str, value: str) -> None:
    scope, _, entity_id = rest.partition(":")
    data = _json(value)
    if scope not in _SCOPES or not entity_id or data is None:
        return
    try:
        row = (scope, entity_id, float(data["until"]), float(data.get("created_at", 0.0)),
               data.get("reason"))  # fmt: skip
    except (TypeError, KeyError, ValueError):
        return
    db.execute(
        "INSERT INTO mutes (scope, entity_id, until, created_at, reason)"
        " VALUES (?, ?, ?, ?, CAST(? AS TEXT)) ON CONFLICT DO NOTHING",
        row,
    )


def _credentials(db: Db, values: dict[str, str]) -> None:
    refresh = values.get("oauth.refresh_token")
    if not refresh:
        return  # nothing usable was persisted: the configured token is used, as before

    def number(name: str) -> float | None:
        try:
            return float(values.get(f"oauth.{name}") or "")
        except ValueError:
            return None  # empty (unknown), as the old reader took it

    db.execute(
        "INSERT INTO credentials (name, origin, access_token, access_expires_at,"
        " refresh_token, refresh_expires_at) VALUES ('pinterest', ?, CAST(? AS TEXT),"
        " CAST(? AS DOUBLE PRECISION), ?, CAST(? AS DOUBLE PRECISION))",
        (values.get("oauth.origin", ""), values.get("oauth.access_token") or None,
         number("access_expires_at"), refresh, number("refresh_expires_at")),
    )  # fmt: skip
