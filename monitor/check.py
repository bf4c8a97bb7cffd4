"""`pinmon check`: validate the token with one cheap call and say what would be watched."""

from __future__ import annotations

import aiohttp

from monitor import __version__
from monitor.config import Config
from monitor.errors import PinterestError
from monitor.pinterest import PinterestClient
from monitor.redact import Redactor, mask_url, register_config_secrets
from monitor.store.factory import open_state
from monitor.targets import save_labels
from monitor.wiring import build_notifiers, make_client


async def check(config: Config) -> int:
    """Print what the config watches and whether the token works; 0 when it does."""
    redactor = register_config_secrets(config)
    p, m = config.pinterest, config.monitor
    print(f"config:    {config.path}")
    print(f"api:       {p.base_url}")
    # A PostgreSQL URL may carry a password: shown masked, like a target.
    print(f"state:     {mask_url(m.state) if isinstance(m.state, str) else m.state}")
    print(
        f"interval:  {m.interval_s:g}s"
        + (f" (+ up to {m.jitter_s:g}s jitter)" if m.jitter_s else "")
    )
    for kind in m.entities:
        print(f"watching:  {kind.plural}: {', '.join(m.watch[kind])}")
    print(f"statuses:  {', '.join(p.entity_statuses)}")
    notifiers, by_route = build_notifiers(config, redactor=redactor)
    for route in config.routes:
        targets = ", ".join(n.label for n in by_route[route.name])
        accounts = f" accounts {', '.join(route.accounts)}" if route.accounts else ""
        print(f"route:     {route.name}: {', '.join(route.events)}{accounts} -> {targets}")
    for warning in config.warnings:
        print(f"warning:   {warning}")
    # The store is opened even to check: a refresh here rotates the refresh token, and the
    # daemon must find the rotated one, or its next start holds a dead token.
    store = await open_state(config.monitor.state)
    try:
        await save_labels(store, notifiers)
        async with aiohttp.ClientSession(
            headers={"User-Agent": f"pinmon/{__version__}"}
        ) as session:
            return await _probe(config, await make_client(config, session, store), redactor)
    finally:
        await store.close()


async def _probe(config: Config, client: PinterestClient, redactor: Redactor) -> int:
    configured = config.pinterest.ad_accounts
    try:
        if configured:
            # One call per configured account: it also proves the token reaches each.
            for account_id in configured:
                account = await client.get_ad_account(account_id)
                print(f"account:   {account.id} {account.name or ''}".rstrip())
        else:
            seen = 0
            async for page in client.list_ad_accounts():
                for account in page:
                    seen += 1
                    print(f"account:   {account.id} {account.name or ''}".rstrip())
            if not seen:
                print("account:   none: the token sees no ad accounts")
                return 1
    except PinterestError as exc:
        print(f"token:     FAILED: {redactor.redact(str(exc))}")
        return 1
    print("token:     ok")
    return 0
