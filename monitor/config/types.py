"""The parsed configuration: frozen typed objects, secrets wrapped so they never print."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from monitor import vocab
from monitor.models import DEFAULT_WATCHED, Kind

DEFAULT_BASE_URL: Final = vocab.DEFAULT_BASE_URL
ENTITY_STATUSES: Final = vocab.ENTITY_STATUSES


class Secret:
    """A string that never shows itself in a repr, a log line or an error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class PinterestConfig:
    """The ``[pinterest]`` table."""

    base_url: str = DEFAULT_BASE_URL
    access_token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    ad_accounts: tuple[str, ...] = ()
    entity_statuses: tuple[str, ...] = vocab.DEFAULT_ENTITY_STATUSES
    page_size: int = 250
    timeout_s: float = 60.0
    retries: int = 4
    requests_per_minute: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """The ``[monitor]`` table."""

    interval_s: float = 300.0
    jitter_s: float = 0.0
    state: Path | str = Path("pinmon-state.db")  # a SQLite file, or a postgresql:// URL
    entities: tuple[Kind, ...] = (Kind.AD,)
    watch: Mapping[Kind, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_WATCHED))
    concurrency: int = 4
    shutdown_grace_s: float = 10.0
    send_timeout_s: float = 30.0
    retention_s: float = 30 * 86400.0
    failing_after: int = 3
    listen: tuple[str, int] | None = None
    report_on_start: bool = False
    stream_above: int = 2000
    #: The review fast lane: ads under review looked up by id this often (0: off)...
    fast_interval_s: float = 30.0
    #: ...created or edited ads stay in it this long without showing PENDING...
    fast_window_s: float = 86_400.0
    #: ...and it spends at most this share of ``requests_per_minute``.
    fast_share: float = 0.05
    #: ``ad.review_stuck`` once an ad has been in review this long (0: never).
    review_stuck_after_s: float = 86_400.0


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """One ``webhooks = [{ url = ..., secret = ... }]`` entry of a route.

    Attributes:
        url: Where events are POSTed (a Secret: such URLs often carry a token).
        secrets: ``whsec_...`` signing secrets; several during a rotation, each signs.
        allow_link_local: May reach link-local and metadata addresses (refused otherwise,
            at load for a literal host and at send for what a name resolves to).
    """

    url: Secret
    secrets: tuple[Secret, ...]
    allow_link_local: bool = False


@dataclass(frozen=True, slots=True)
class SlackBotTarget:
    """One ``slack-bot = [{ token = ..., channel = ... }]`` entry of a route.

    Attributes:
        token: The bot token (``xoxb-...``), needing the ``chat:write`` scope.
        channel: Where roots are posted: a channel id or ``#name`` the bot is in.
        base_url: Slack's Web API (``https://slack.com/api/`` unless set).
    """

    token: Secret
    channel: str
    base_url: str


@dataclass(frozen=True, slots=True)
class PluginTarget:
    """A target of a third-party notifier kind, registered as a ``pinmon.notifiers``
    entry point and configured from a route key of its name: ``myqueue = [{...}]``."""

    kind: str
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Template:
    """A route's own message template (``string.Template``: ``$name``, ``${reasons}``...)."""

    title: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One ``[[routes]]`` entry: which events go to which targets, and how they read.

    Matching: every criterion set must hold (type globs, accounts, campaigns, changed
    fields, new values). Routes are tried in order; every matching route receives the
    event, unless a matching route says ``continue = false``, which stops the search
    (Alertmanager's semantics, inverted default). ``fallback`` routes receive only what
    no other route took.
    """

    name: str
    events: tuple[str, ...] = ("*",)
    apprise: tuple[Secret, ...] = ()
    accounts: tuple[str, ...] = ()
    webhooks: tuple[WebhookTarget, ...] = ()
    slack_bots: tuple[SlackBotTarget, ...] = ()
    plugins: tuple[PluginTarget, ...] = ()
    campaigns: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    continue_: bool = True
    fallback: bool = False
    template: Template | None = None
    repeat_after_s: float | None = None
    group_interval_s: float = 30.0
    #: A daily recap at this local time: (hour, minute, IANA zone name).
    recap: tuple[int, int, str] | None = None
    max_items: int = 20
    allow_link_local: bool = False


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The ``[web]`` table: the board's access token (see docs/web.md).

    Attributes:
        token: Required on any request to the board when set; the board refuses to serve
            a non-loopback address without one.
    """

    token: Secret | None = None


@dataclass(frozen=True, slots=True)
class LandingConfig:
    """The ``[landing_pages]`` table: pinmon fetching ads' landing pages (opt-in).

    Attributes:
        on_rejection: Check the page of an ad rejected for a landing-page reason, and
            say in the alert what it answered.
        check_every_s: Check every active ad's ``destination_url`` this often, and emit
            ``ad.landing_page_down`` when one does not answer (0: never). Needs
            ``destination_url`` among the watched ad fields.
        timeout_s: The longest one page may take, redirects included.
        max_redirects: Redirects followed before giving up.
        concurrency: Pages fetched at the same time.
    """

    on_rejection: bool = False
    check_every_s: float = 0.0
    timeout_s: float = 5.0
    max_redirects: int = 5
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    """The ``[analytics]`` table: what a rejection costs (monitor.analytics).

    Attributes:
        enabled: Fetch rejected ads' spend, impressions and clicks of the last 7 days.
            On by default: it costs one request per 250 rejected ads (and per reminder
            whose figures are older than ``cache_for_s``), in a quota apart from polling's.
        requests_per_minute: The budget of the ``ads_analytics`` category (its own).
        wait_s: The longest an alert waits for figures before it is committed without
            them (0: never wait; the stored figures are shown, if any).
        cache_for_s: Stored figures younger than this are used without asking again.
    """

    enabled: bool = True
    requests_per_minute: int = 300
    wait_s: float = 2.0
    cache_for_s: float = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole parsed configuration.

    Attributes:
        warnings: ``file: key: reason`` lines for settings that are valid but can never
            match (see :mod:`monitor.config.unreachable`); callers decide how to show them.
    """

    path: Path
    pinterest: PinterestConfig
    monitor: MonitorConfig
    routes: tuple[Route, ...]
    warnings: tuple[str, ...] = ()
    web: WebConfig = field(default_factory=WebConfig)
    landing: LandingConfig = field(default_factory=LandingConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
