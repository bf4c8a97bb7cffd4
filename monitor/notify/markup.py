"""Which markup dialect an apprise plugin reads pinmon's Markdown message in.

pinmon hands every plugin a CommonMark body and a one-line title with
``body_format=MARKDOWN``. What happens next depends on the plugin (apprise 2.3):

- ``resolve_format(MARKDOWN)`` picks the format the plugin renders: Markdown where the
  plugin declares it, else its default (e-mail: HTML, converted with Python-Markdown), or
  the ``?format=`` of the URL.
- A plugin with ``title_maxlen == 0`` (Telegram, Mattermost, ...) has no title field:
  apprise puts the title into the body as a ``# heading``, so it is read as Markdown too.
- Slack converts Markdown to mrkdwn (``dialect_convert``) and sends the title as a plain
  attachment title with ``&<>`` escaped. Discord sends title and body, unconverted, as the
  message ``content``, which Discord renders as Markdown whatever the format. Telegram
  converts to its legacy Markdown unless the URL asks for ``mdv=v2``.

:mod:`monitor.render.escape` holds what each dialect needs; this module only says which
one a plugin gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.render.escape import Dialect, Markup

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

__all__ = ["dialect_for"]


def dialect_for(plugin: NotifyBase) -> Dialect:
    """The dialect ``plugin`` reads a message in (see the module docstring)."""
    from apprise import NotifyFormat
    from apprise.plugins.discord import NotifyDiscord
    from apprise.plugins.slack import NotifySlack
    from apprise.plugins.telegram import NotifyTelegram, TelegramMarkdownVersion

    if isinstance(plugin, NotifyDiscord):
        return Dialect(body=Markup.DISCORD, title=Markup.DISCORD)
    in_body = plugin.title_maxlen <= 0
    if plugin.resolve_format(NotifyFormat.MARKDOWN) == NotifyFormat.MARKDOWN:
        if isinstance(plugin, NotifySlack):
            return Dialect(body=Markup.SLACK, title=Markup.PLAIN)
        legacy = getattr(plugin, "markdown_ver", None) == TelegramMarkdownVersion.ONE
        if isinstance(plugin, NotifyTelegram) and legacy:
            return Dialect(body=Markup.TELEGRAM_V1, title=Markup.TELEGRAM_V1)
    return Dialect(body=Markup.COMMONMARK, title=Markup.COMMONMARK if in_body else Markup.PLAIN)
