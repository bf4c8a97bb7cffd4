"""Build the runtime's parts from the config: targets, the token source, the API client.

Each is built once at start-up by ``daemon.open_runtime`` (and by `check` and
`notify-test`, which need the same parts without the loop).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp

from monitor.analytics import CountingBudget, SpendFigures
from monitor.config import Config, Route
from monitor.notify import Notifier
from monitor.pinterest import PinterestClient, RetryPolicy, StaticToken, TokenSource
from monitor.pinterest.budget import Budget, RateBudget
from monitor.pinterest.oauth import RefreshingToken, TokenState, origin_of
from monitor.redact import DEFAULT, Redactor
from monitor.replicas import ReplicaCoordinator, SharedBudget
from monitor.store import Credentials, StateStore
from monitor.targets import distinguish

if TYPE_CHECKING:
    from monitor.notify.slack import ThreadStore


def build_notifiers(
    config: Config,
    *,
    session: aiohttp.ClientSession | None = None,
    redactor: Redactor = DEFAULT,
    threads: ThreadStore | None = None,
    now: Callable[[], float] = time.time,
) -> tuple[dict[str, Notifier], dict[str, list[Notifier]]]:
    """One notifier per target, shared by the routes that name it.

    Each notifier registers its URL's secrets with ``redactor`` as it is built; targets
    whose masked URLs coincide get distinct labels (:func:`monitor.targets.distinguish`).

    Args:
        session: Reused by the webhooks: a ``guarded_session`` (see WebhookNotifier).
        redactor: Learns every target's secrets.
        threads: Where slack-bot targets keep each ad's thread (the state store); None
            posts every event alone (``notify-test``).
        now: Unix time, for slack-bot threads.

    Returns:
        Notifiers by their outbox key, and the notifiers of each route by route name.

    Raises:
        ConfigError: a plugin kind cannot be loaded or built.
    """
    timeout_s = config.monitor.send_timeout_s
    by_key: dict[str, Notifier] = {}
    by_route: dict[str, list[Notifier]] = {}
    for route in config.routes:
        built: list[Notifier] = [
            *_apprise(route, timeout_s=timeout_s, redactor=redactor),
            *_webhooks(route, session=session, timeout_s=timeout_s, redactor=redactor),
            *_slack_bots(route, threads=threads, timeout_s=timeout_s, now=now, redactor=redactor),
            *_plugins(route, timeout_s=timeout_s),
        ]
        by_route[route.name] = [by_key.setdefault(n.key, n) for n in built]
    distinguish(by_key.values())
    return by_key, by_route


# Each kind's module is imported only for a route that has targets of that kind: slack_sdk
# and the plugins' entry-point scan (importlib.metadata) cost a daemon without them
# ~60-70 ms of start-up (issue #13).


def _apprise(route: Route, *, timeout_s: float, redactor: Redactor) -> list[Notifier]:
    if not route.apprise:
        return []
    from monitor.notify.apprise import AppriseNotifier

    return [
        AppriseNotifier(url.reveal(), timeout_s=timeout_s, redactor=redactor)
        for url in route.apprise
    ]


def _webhooks(
    route: Route,
    *,
    session: aiohttp.ClientSession | None,
    timeout_s: float,
    redactor: Redactor,
) -> list[Notifier]:
    if not route.webhooks:
        return []
    from monitor.notify.webhook import WebhookNotifier

    return [
        WebhookNotifier(
            hook.url.reveal(),
            [s.reveal() for s in hook.secrets],
            timeout_s=timeout_s,
            # An opted-in hook skips the guarded session: it opens its own.
            session=None if hook.allow_link_local else session,
            allow_link_local=hook.allow_link_local,
            redactor=redactor,
        )
        for hook in route.webhooks
    ]


def _slack_bots(
    route: Route,
    *,
    threads: ThreadStore | None,
    timeout_s: float,
    now: Callable[[], float],
    redactor: Redactor,
) -> list[Notifier]:
    if not route.slack_bots:
        return []
    from monitor.notify.slack import SlackBotNotifier

    return [
        SlackBotNotifier(
            bot.token.reveal(),
            bot.channel,
            base_url=bot.base_url,
            threads=threads,
            timeout_s=timeout_s,
            now=now,
            redactor=redactor,
        )
        for bot in route.slack_bots
    ]


def _plugins(route: Route, *, timeout_s: float) -> list[Notifier]:
    if not route.plugins:
        return []
    from monitor.notify.plugins import load_notifier

    return [load_notifier(p.kind, p.options, timeout_s=timeout_s) for p in route.plugins]


async def token_source(
    config: Config,
    session: aiohttp.ClientSession,
    store: StateStore,
    *,
    now: Callable[[], float] = time.time,
) -> TokenSource:
    """A plain token, or an OAuth refresher resuming from the newest persisted rotation."""
    p = config.pinterest
    if p.refresh_token is None or p.client_id is None or p.client_secret is None:
        assert p.access_token is not None  # the config guarantees one or the other
        return StaticToken(p.access_token.reveal())
    origin = origin_of(p.refresh_token.reveal())
    saved = await store.credentials()
    if saved is not None and saved.origin == origin and saved.refresh_token:
        state = TokenState(
            access_token=saved.access_token,
            access_expires_at=saved.access_expires_at,
            refresh_token=saved.refresh_token,
            refresh_expires_at=saved.refresh_expires_at,
        )
    else:
        state = TokenState(
            access_token=p.access_token.reveal() if p.access_token else None,
            access_expires_at=None,
            refresh_token=p.refresh_token.reveal(),
        )

    async def persist(new: TokenState) -> None:
        rotated = Credentials(
            origin=origin,
            access_token=new.access_token,
            access_expires_at=new.access_expires_at,
            refresh_token=new.refresh_token,
            refresh_expires_at=new.refresh_expires_at,
        )
        await store.save_credentials(rotated)

    return RefreshingToken(
        session,
        base_url=p.base_url,
        client_id=p.client_id,
        client_secret=p.client_secret.reveal(),
        state=state,
        persist=persist,
        now=now,
    )


async def make_client(
    config: Config,
    session: aiohttp.ClientSession,
    store: StateStore,
    *,
    now: Callable[[], float] = time.time,
    on_response: Callable[[str, int, float], None] | None = None,
) -> PinterestClient:
    """The Pinterest client the config describes."""
    p = config.pinterest
    # One budget for the token's user, shared by every account it polls, and by every
    # replica polling with the same token when they share a PostgreSQL database.
    budget: Budget = RateBudget(p.requests_per_minute, 60.0)
    if isinstance(store, ReplicaCoordinator):
        budget = SharedBudget(
            store, _budget_key(config), limit=p.requests_per_minute, local=budget, now=now
        )
    return PinterestClient(
        session,
        base_url=p.base_url,
        tokens=await token_source(config, session, store, now=now),
        page_size=p.page_size,
        retry=RetryPolicy(attempts=p.retries, total_timeout_s=p.timeout_s),
        budget=budget,
        on_response=on_response,
        max_body_bytes=p.max_body_bytes,
    )


def make_spend(
    config: Config,
    client: PinterestClient,
    store: StateStore,
    *,
    now: Callable[[], float] = time.time,
) -> SpendFigures | None:
    """What attaches spend figures to alerts (monitor.analytics), None when off: its
    client shares the token with polling, and has the ``ads_analytics`` budget."""
    a = config.analytics
    if not a.enabled:
        return None
    budget = CountingBudget(RateBudget(a.requests_per_minute, 60.0))

    async def currency(account_id: str) -> str | None:
        return (await client.get_ad_account(account_id)).currency

    return SpendFigures(
        a, client.analytics(budget), store, currency=currency, budget=budget, now=now
    )


def _budget_key(config: Config) -> str:
    """Names the token's budget without revealing the token: a hash of what identifies it."""
    p = config.pinterest
    source = p.refresh_token or p.access_token
    secret = source.reveal() if source is not None else p.base_url
    return "budget:" + hashlib.sha256(secret.encode()).hexdigest()[:24]
