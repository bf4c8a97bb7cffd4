"""The web board: what is rejected right now, each ad's history, deliveries and mutes.

Server-rendered HTML (Jinja2, autoescaped) over aiohttp, read from the state store through
its public methods. The daemon mounts it beside /healthz and /metrics when ``listen`` is
set (:func:`mount_board`); `pinmon web` serves it alone (:func:`serve_board`). Nothing is
loaded from outside: the stylesheet and the one small script are served from here, so the
board works offline under a strict Content-Security-Policy. See docs/web.md.

Nothing is imported here: `pinmon events --ad` reads :mod:`monitor.web.queries` without
paying for Jinja2 and the aiohttp server.
"""
