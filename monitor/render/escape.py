"""Show text from Pinterest as text, in whichever markup a target reads: pure, no I/O.

Ad, campaign, ad group and account names, rejection labels and changed values are data
typed by whoever runs an ad account. Rendered raw, ``@everyone`` pings a Discord server,
``<!channel>`` a Slack channel, ``[click](https://evil)`` becomes a link and a newline forges
a second line in a digest. Every such piece goes through :func:`escape` for the markup its
target reads (:class:`Markup`), chosen per target by a :class:`Dialect`.

What each markup needs was read from the apprise 2.3 plugins pinmon sends through (the
notifier's side of this is :mod:`monitor.notify.markup`):

- Slack: apprise converts the CommonMark body to mrkdwn. It turns ``\\<``/``\\>`` into
  ``&lt;``/``&gt;``, drops the backslash of ``\\[``/``\\]``, entity-escapes ``&`` itself,
  but keeps the backslash of ``\\*``, ``\\_`` and of a backtick. Slack has no backslash
  escapes (it shows them), so those become look-alike characters, as jsx-slack's
  ``<Escape>`` does; an underscore inside a word (``review_status``) is literal in Slack
  and stays.
- Discord: apprise posts the body (and the title, as its first line) as ``content``,
  unconverted, without ``allowed_mentions``: Discord renders it as Markdown, honours a
  backslash before any punctuation, and pings every mention it finds.
- Telegram: apprise converts CommonMark to Telegram Markdown, legacy v1 by default, and
  makes the title a bold heading. v1 has no escapes inside bold: a literal ``*`` there
  ends the bold early and can leave an entity Telegram refuses to parse. So ``*``,
  word-boundary ``_`` and backticks become look-alikes, and a zero-width space splits
  ``](`` so that no link forms (apprise escapes a lone ``[`` itself, where v1 allows it).
- Slack's native mrkdwn (the slack-bot target, no apprise in between): ``&``, ``<`` and
  ``>`` become entities, as Slack's formatting guide asks, and the emphasis characters
  look-alikes, as above; its text objects are also sent ``verbatim`` (no auto-linking).
- E-mail (and Telegram ``format=html``): apprise converts the body with Python-Markdown,
  made to honour a backslash before any ASCII punctuation, so ``\\<script>`` arrives as
  ``&lt;script&gt;``.

Everywhere, control characters and line breaks collapse to one space (a name stays on its
line), a zero-width space follows every ``@`` (discord.py's ``escape_mentions`` does the
same) so no mention parser sees one, and each piece is cut to :data:`MAX_TEXT_CHARS`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "MARKDOWN",
    "MAX_ITEMS",
    "MAX_TEXT_CHARS",
    "Dialect",
    "Markup",
    "clean",
    "escape",
    "escape_items",
]

#: The longest piece of Pinterest text a message shows (a name, a label, a changed
#: value); a longer one is cut and ends in "…". A few hundred characters is plenty for
#: a name, and a 100 KB name must not make a 100 KB message.
MAX_TEXT_CHARS: Final = 256
#: The most entries of one list a message shows (rejection labels), then "…and N more".
MAX_ITEMS: Final = 10

_ZWSP: Final = "\u200b"
# C0/C1 controls, line and paragraph separators, and bidi overrides and isolates (which
# would reorder the text around a name): none of them belongs inside one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
# "1. Sale" or "2) Sale" at the start of a line would be an ordered list item.
_ORDERED = re.compile(r"[0-9]{1,9}(?=[.)])")


class Markup(enum.Enum):
    """The markup one part of a message (its body or its title) is read in."""

    #: No markup: Slack attachment titles (apprise escapes ``&<>`` itself), e-mail
    #: subjects, the ``title`` of json:// and form:// targets.
    PLAIN = "plain"
    #: CommonMark that a target converts or renders as such: json:// bodies, e-mail
    #: (Python-Markdown), Telegram MarkdownV2 or HTML, and most other apprise services.
    COMMONMARK = "commonmark"
    #: CommonMark that apprise converts to Slack mrkdwn.
    SLACK = "slack"
    #: Discord's Markdown, which apprise passes through.
    DISCORD = "discord"
    #: CommonMark that apprise converts to Telegram's legacy Markdown (v1).
    TELEGRAM_V1 = "telegram_v1"
    #: Slack's own mrkdwn, sent as is (the slack-bot target's Block Kit text objects).
    MRKDWN = "mrkdwn"


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one target reads a message: the markup of its body and of its title.

    Attributes:
        body: The body's markup. Pinmon's own layout is CommonMark either way.
        title: The title's markup: PLAIN where the title is a field of its own, the
            body's where the service shows the title inside the Markdown (Discord,
            Telegram, Mattermost, ...).
    """

    body: Markup = Markup.COMMONMARK
    title: Markup = Markup.PLAIN

    def text(self, value: object) -> str:
        """``value`` as safe text for this dialect's body."""
        return escape(value, self.body)

    def title_text(self, value: object) -> str:
        """``value`` as safe text for this dialect's title."""
        return escape(value, self.title)


#: The dialect a message is rendered in unless its target says otherwise: a
#: CommonMark body under a plain-text title (:class:`monitor.notify.Message`).
MARKDOWN: Final = Dialect()


@dataclass(frozen=True, slots=True)
class _Rules:
    always: Mapping[str, str]
    # Applied unless the character sits between two letters or digits (inside a word,
    # where CommonMark, Slack and Telegram read ``_`` literally).
    word_edge: Mapping[str, str] = field(default_factory=dict)
    # Applied to the first character only, where it would open a block (a heading,
    # a list item, a quote) if a template put the value at the start of a line.
    leading: Mapping[str, str] = field(default_factory=dict)
    ordered_lists: bool = False
    # Break an ``&`` that starts an HTML entity, which Python-Markdown would decode (and
    # whose backslash escape it mangles): a zero-width space after it.
    entities: bool = False
    # Two characters that together open markup: the first is replaced by the value.
    pairs: Mapping[str, str] = field(default_factory=dict)


def _backslashed(chars: str) -> dict[str, str]:
    return {c: "\\" + c for c in chars}


_MENTION: Final = {"@": "@" + _ZWSP}
_MARKDOWN_LEADING: Final = _backslashed("#-+=")
_RULES: Final[Mapping[Markup, _Rules]] = {
    # <!channel> stays inert wherever a plain title ends up.
    Markup.PLAIN: _Rules(always=_MENTION, pairs={"<!": "<" + _ZWSP, "<#": "<" + _ZWSP}),
    # Telegram's MarkdownV2 (apprise converts to it) hides ||x|| as a spoiler.
    Markup.COMMONMARK: _Rules(
        always={**_backslashed("\\`*[]<>~|"), **_MENTION},
        word_edge=_backslashed("_"),
        leading=_MARKDOWN_LEADING,
        ordered_lists=True,
        entities=True,
    ),
    # Discord also underlines __x__ inside a word and hides ||x|| as a spoiler.
    Markup.DISCORD: _Rules(
        always={**_backslashed("\\`*_[]<>~|"), **_MENTION},
        leading=_MARKDOWN_LEADING,
        ordered_lists=True,
    ),
    Markup.SLACK: _Rules(
        always={
            # apprise keeps "\" plus the next character; a zero-width space as that
            # character leaves one visible backslash and escapes nothing after it.
            "\\": "\\" + _ZWSP,
            "*": "\u2217",  # ASTERISK OPERATOR
            "`": "\u02cb",  # MODIFIER LETTER GRAVE ACCENT
            "~": "\u223c",  # TILDE OPERATOR
            **_backslashed("[]<>"),
            **_MENTION,
        },
        word_edge={"_": "\u02cd"},  # MODIFIER LETTER LOW MACRON
        # Slack quotes a line that starts with &gt;; a soft hyphen before it does not
        # (jsx-slack's finding).
        leading={">": "\u00ad\\>", "#": "\\#"},
    ),
    # Native mrkdwn has no backslash escapes: Slack's own rule is to entity-escape "&",
    # "<" and ">" (then no <!channel>, <@U...> or <url|text> can form), and emphasis and
    # code characters become look-alikes, as for apprise's conversion above.
    Markup.MRKDWN: _Rules(
        always={
            "&": "&amp;",
            "<": "&lt;",
            ">": "&gt;",
            "*": "\u2217",
            "`": "\u02cb",
            "~": "\u223c",
            **_MENTION,
        },
        word_edge={"_": "\u02cd"},
        leading={">": "\u00ad&gt;"},
        # pinmon's own [text](url) links are turned into <url|text> for Slack: none
        # may form from a name.
        pairs={"](": "]" + _ZWSP},
    ),
    Markup.TELEGRAM_V1: _Rules(
        always={
            # v1 keeps no backslash before "\" or "<": each arrives as itself, and "\<"
            # stops apprise turning <https://...> into a link.
            "\\": "\\\\",
            "<": "\\<",
            "*": "\u2217",
            "`": "\u02cb",
            **_MENTION,
        },
        word_edge={"_": "\u02cd"},
        leading={"#": "\\#"},
        # A "[" apprise escapes itself, outside bold only (v1 has no escapes inside);
        # with no "](" it can open no link.
        pairs={"](": "]" + _ZWSP},
    ),
}


def clean(value: object) -> str:
    """``value`` as one line: control characters and line breaks collapse to one space,
    and text longer than :data:`MAX_TEXT_CHARS` is cut, ending in "…"."""
    text = _CONTROL.sub(" ", str(value)).strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1].rstrip() + "…"
    return text


def escape(value: object, markup: Markup) -> str:
    """``value`` (text from Pinterest) as text that ``markup`` shows literally.

    The result is :func:`clean`, cannot mention anyone, and forms no link, emphasis,
    code span or block in ``markup``; people read the same characters as before.
    """
    text = clean(value)
    rules = _RULES[markup]
    ordered = _ORDERED.match(text) if rules.ordered_lists else None
    out: list[str] = []
    for i, ch in enumerate(text):
        replacement = rules.always.get(ch)
        if i == 0 and ch in rules.leading:
            replacement = rules.leading[ch]
        elif ch in rules.word_edge and not _inside_word(text, i):
            replacement = rules.word_edge[ch]
        elif ch == "&" and rules.entities and _ENTITY.match(text, i):
            replacement = "&" + _ZWSP
        elif text[i : i + 2] in rules.pairs:
            replacement = rules.pairs[text[i : i + 2]]
        elif ordered is not None and i == ordered.end():
            replacement = "\\" + ch
        out.append(ch if replacement is None else replacement)
    return "".join(out)


def escape_items(items: Sequence[object], markup: Markup) -> list[str]:
    """Each of ``items`` escaped; past :data:`MAX_ITEMS`, one "…and N more" instead."""
    shown = [escape(item, markup) for item in items[:MAX_ITEMS]]
    if len(items) > MAX_ITEMS:
        shown.append(f"…and {len(items) - MAX_ITEMS} more")
    return shown


def _inside_word(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
