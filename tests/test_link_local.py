"""Webhook and HTTP apprise targets cannot be pointed at link-local or cloud metadata addresses.

At load, a literal host (in any spelling the resolver would accept) is refused with the
file and key; at send, a DNS name is resolved through a resolver the test controls, so a
name that maps to 169.254.169.254 is refused without any real network.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.addresses import PLAIN_URL, host_refused, parse_ipv4_loose, url_refused
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.events import Event
from monitor.notify import Message
from monitor.notify.guard import guarded_session
from monitor.notify.webhook import WebhookNotifier
from tests.harness import ACCOUNT, ADS
from tests.sink import HttpSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SECRET = "whsec_" + base64.b64encode(b"link-local-test-key-0123456789ab").decode()
PASSWORD = "pw-secret-5566"

BASE = f"""
[pinterest]
access_token = "pina_secret_token_123456"
ad_accounts = ["{ACCOUNT}"]

[monitor]
state = "state.db"

[[routes]]
name = "hooks"
"""

METADATA_SPELLINGS = [
    "169.254.169.254",
    "169.254.0.1",
    "2852039166",  # decimal
    "0xa9fea9fe",  # hex
    "0xA9.0xFE.0xA9.0xFE",
    "0251.0376.0251.0376",  # octal
    "169.254.43518",  # a short form: the last part fills the remaining bytes
    "[::ffff:169.254.169.254]",  # IPv4-mapped
    "[::169.254.169.254]",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]",  # NAT64
    "[2002:a9fe:a9fe::1]",  # 6to4
    "[fe80::1]",
    "[fe80::1%25eth0]",
    "[fd00:ec2::254]",  # AWS's IPv6 metadata endpoint
    "100.100.100.200",  # Alibaba Cloud's metadata endpoint
    "metadata.google.internal",
    "METADATA.google.internal.",
    "metadata.goog",
]

ALLOWED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "10.1.2.3",
    "172.16.0.9",
    "192.168.1.20",
    "[fd12:3456::1]",
    "hooks.example.com",
    "169.254.example.com",
    "100.100.100.201",
]


def write(tmp_path: Path, route: str) -> Path:
    path = tmp_path / "pinmon.toml"
    path.write_text(BASE + route)
    return path


def webhook(host: str, extra: str = "") -> str:
    url = f"http://pinmon:{PASSWORD}@{host}:8080/hooks"
    return f'webhooks = [{{ url = "{url}", secret = "{SECRET}"{extra} }}]\n'


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value.problems


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_a_webhook_to_a_metadata_address_is_refused_at_load(tmp_path: Path, host: str) -> None:
    """Every spelling of a link-local/metadata host is one error naming file and key."""
    path = write(tmp_path, webhook(host))
    (line,) = problems(path)
    assert line.startswith(f"{path}: routes[0].webhooks[0].url: ")
    assert "link-local/metadata address" in line
    assert "allow_link_local = true" in line
    assert PASSWORD not in line


@pytest.mark.parametrize("scheme", ["json", "jsons", "form", "forms", "xml", "xmls"])
@pytest.mark.parametrize("host", ["169.254.169.254", "2852039166", "[fe80::1]", "metadata.goog"])
def test_an_http_apprise_url_to_a_metadata_address_is_refused(
    tmp_path: Path, scheme: str, host: str
) -> None:
    """apprise's generic HTTP schemes get the same check, without echoing the URL."""
    path = write(tmp_path, f'apprise = ["{scheme}://user:{PASSWORD}@{host}/notify"]\n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: routes[0].apprise[0]: ")
    assert "link-local/metadata address" in line
    assert PASSWORD not in line


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_loopback_private_and_public_hosts_stay_allowed(tmp_path: Path, host: str) -> None:
    """Tests and on-premises receivers use loopback and private ranges: they load."""
    route = webhook(host) + f'apprise = ["json://{host}/notify"]\n'
    config = load_config(write(tmp_path, route), env={})
    assert config.routes[0].webhooks[0].allow_link_local is False


def test_a_webhook_can_opt_in_to_link_local(tmp_path: Path) -> None:
    """`allow_link_local = true` on the webhook's table lets it load, for that webhook only."""
    route = (
        f'webhooks = [{{ url = "http://169.254.10.20/in", secret = "{SECRET}", '
        f'allow_link_local = true }}, {{ url = "http://169.254.10.21/in", secret = "{SECRET}" }}]\n'
    )
    path = write(tmp_path, route)
    (line,) = problems(path)
    assert line.startswith(f"{path}: routes[0].webhooks[1].url: 169.254.10.21 is a link-local")
    first_only = route.split("}, {")[0] + "}]\n"
    config = load_config(write(tmp_path, first_only), env={})
    assert config.routes[0].webhooks[0].allow_link_local is True


def test_a_route_can_opt_in_for_all_its_targets(tmp_path: Path) -> None:
    """`allow_link_local = true` on the route covers its apprise URLs and its webhooks."""
    route = (
        "allow_link_local = true\n"
        'apprise = ["json://169.254.10.20/notify"]\n' + webhook("169.254.10.21")
    )
    config = load_config(write(tmp_path, route), env={})
    assert config.routes[0].allow_link_local is True
    assert config.routes[0].webhooks[0].allow_link_local is True


def test_the_opt_in_must_be_a_boolean(tmp_path: Path) -> None:
    """`allow_link_local = "yes"` is a type error, not a silent opt-in."""
    path = write(tmp_path, webhook("127.0.0.1", ', allow_link_local = "yes"'))
    assert any(
        line.startswith(f"{path}: routes[0].webhooks: item 0: allow_link_local: expected true")
        for line in problems(path)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("169.16689662", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("08.1.1.1", None),  # 8 is not an octal digit
        ("1.2.3.256", None),
        ("4294967296", None),
        ("hooks.example.com", None),
        ("", None),
    ],
)
def test_loose_ipv4_reads_what_inet_aton_reads(text: str, expected: str | None) -> None:
    """Decimal, hex, octal and short forms map to the address the C resolver would use."""
    parsed = parse_ipv4_loose(text)
    assert parsed == (None if expected is None else ipaddress.IPv4Address(expected))


def test_a_url_is_refused_if_either_parser_reads_a_metadata_host() -> None:
    """Where the stdlib and yarl could read a URL differently, both readings are checked."""
    assert url_refused("http://a@b@169.254.169.254/") is not None
    assert url_refused("http://169.254.169.254:80@hooks.example.com/") is None
    assert host_refused("hooks.example.com") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in?x=1#top",
        "http://169.254.169.254/latest/meta-data/",
        "HTTP://Metadata.Google.Internal:80/computeMetadata/v1/",
        "json://127.0.0.1:9/",
        "https://2852039166/x@y/z",
        "http://0xa9fea9fe./",
    ],
)
def test_a_plain_url_reads_alike_in_both_parsers(url: str) -> None:
    """What PLAIN_URL lets through without yarl's reading, yarl reads to the same host."""
    import yarl

    assert PLAIN_URL.fullmatch(url) is not None
    assert (yarl.URL(url).host or "").rstrip(".") == (urlsplit(url).hostname or "").rstrip(".")


@pytest.mark.parametrize(
    "url",
    ["http://a@b@169.254.169.254/", "http://[fe80::1]/", "http://h\\@169.254.169.254/",
     "http://ho st/", "http://h%41/", "http://hóst/", "http://h/\\x"],
)  # fmt: skip
def test_any_other_url_is_read_by_yarl_too(url: str) -> None:
    """Userinfo, brackets, escapes, spaces, backslashes, non-ASCII: never the fast path."""
    assert PLAIN_URL.fullmatch(url) is None


# -- at send time ------------------------------------------------------------------------


class MapResolver(AbstractResolver):
    """A resolver answering from a table: names the test controls, no DNS involved."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.names[host]
        ]

    async def close(self) -> None:
        return None


def _message() -> Message:
    event = Event(
        id="evt_" + "0" * 24,
        type="ad.rejected",
        entity="ad",
        entity_id=ADS[0],
        ad_account_id=ACCOUNT,
        detected_at=1764326712.0,
    )
    return Message("Ad rejected", "body", "failure", (event.id,), (event,))


@pytest.mark.parametrize(
    "answer",
    [["169.254.169.254"], ["fe80::1"], ["127.0.0.1", "169.254.169.254"], ["::ffff:169.254.1.1"]],
    ids=["metadata", "ipv6 link-local", "one of several", "ipv4-mapped"],
)
async def test_a_name_resolving_to_link_local_is_refused_at_send(answer: list[str]) -> None:
    """DNS rebinding: a name that resolves to a link-local address is never connected to."""
    async with HttpSink() as sink:
        resolver = MapResolver({"hooks.example.test": answer})
        url = f"http://hooks.example.test:{sink.port}/in"
        async with guarded_session(resolver=resolver) as session:
            result = await WebhookNotifier(url, [SECRET], session=session).send(_message())
        assert resolver.asked == ["hooks.example.test"]
        assert not result.ok
        assert result.detail.startswith("refused: the name resolves to ")
        assert "link-local/metadata address" in result.detail
        # Retried like a failed lookup: the next answer is checked again.
        assert result.permanent is False
        assert sink.requests == []


async def test_a_name_resolving_to_loopback_is_delivered() -> None:
    """The same guarded session delivers when the name maps to an allowed address."""
    async with HttpSink() as sink:
        resolver = MapResolver({"hooks.example.test": ["127.0.0.1"]})
        url = f"http://hooks.example.test:{sink.port}/in"
        async with guarded_session(resolver=resolver) as session:
            result = await WebhookNotifier(url, [SECRET], session=session).send(_message())
        assert result.ok, result.detail
        (request,) = sink.requests
        assert request.path == "/in"


async def test_a_literal_metadata_address_is_refused_before_connecting() -> None:
    """A notifier built around the config (a plugin, a test) still refuses a literal address."""
    notifier = WebhookNotifier(f"http://pinmon:{PASSWORD}@[::ffff:169.254.169.254]/in", [SECRET])
    result = await notifier.send(_message())
    assert not result.ok
    assert result.permanent is True  # the URL itself names it: no retry can help
    assert result.detail == (
        "refused: ::ffff:169.254.169.254 embeds 169.254.169.254, a link-local/metadata address"
    )
    assert PASSWORD not in result.detail


async def test_an_opted_in_notifier_is_not_refused() -> None:
    """With allow_link_local the send is attempted (here to a link-local address on `lo`)."""
    url = "http://[fe80::1%25lo]:9/in"  # scoped to the loopback interface: nothing leaves
    refused = await WebhookNotifier(url, [SECRET], timeout_s=2).send(_message())
    attempted = await WebhookNotifier(url, [SECRET], timeout_s=2, allow_link_local=True).send(
        _message()
    )
    assert refused.detail.startswith("refused: fe80::1 is a link-local")
    assert not attempted.ok
    assert not attempted.detail.startswith("refused")
