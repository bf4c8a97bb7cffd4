"""The web board over a state the real daemon filled from the simulator: pages, safety, actions."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import anyio
import pytest
from aiohttp import ClientSession, web
from yarl import URL

from monitor.daemon import EXIT_DELIVERY_FAILED, EXIT_OK, board_mount, open_runtime, run_once
from monitor.store.sqlite import open_store
from monitor.web.app import CSP, BoardRefused, mount_board
from monitor.web.guard import COOKIE
from tests.harness import ACCOUNT, ADS, CAMPAIGN, TOKEN
from tests.web_rig import HOSTILE, REJECTED, board, csrf_of, filled

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_now_lists_rejected_and_in_review_with_words_and_links(tmp_path: Path) -> None:
    """Now: the account and its health, the rejected ad with names, reasons and links,
    the ad in review; under the strict CSP, with nothing loaded from elsewhere."""
    async with filled(tmp_path) as f, board(f.store) as client:
        response = await client.get("/")
        html = await response.text()
        assert response.status == 200
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Acme Home &amp; Living" in html
        assert '<span class="ok">ok</span>' in html
        rejected = html.split('id="rejected"')[1].split("</table>")[0]
        assert "Holiday Ad 1" in rejected
        assert "Holiday Sale 2024" in rejected
        assert "Gift Shoppers" in rejected
        assert "Landing page is broken" in rejected
        assert f"https://ads.pinterest.com/advertiser/{ACCOUNT}/reporting/ads/" in rejected
        assert "https://www.pinterest.com/pin/" in rejected
        assert "before pinmon" not in rejected  # its rejection was seen: dated
        review = html.split('id="in-review"')[1].split("</table>")[0]
        assert "Holiday Ad 2" in review
        assert "Holiday Ad 1" not in review
        # Offline and CSP-clean: every asset is ours, no inline script or style.
        assert "http://" not in html.replace(str(client.make_url("")), "")
        assert "<script>" not in html
        assert "style=" not in html


async def test_pinterest_text_is_escaped_everywhere(tmp_path: Path) -> None:
    """A hostile ad name shows as text on Now and on its own page, never as markup."""
    async with filled(tmp_path) as f, board(f.store) as client:
        for path in ("/", f"/ad/{f.hostile_id}"):
            html = await (await client.get(path)).text()
            assert "&lt;script&gt;alert(" in html, path
            assert HOSTILE not in html, path
            assert "<img src=x" not in html, path


async def test_filters_narrow_and_bad_values_get_a_400_page(tmp_path: Path) -> None:
    """Filtering by campaign and account; a malformed value answers 400 with a page."""
    async with filled(tmp_path) as f, board(f.store) as client:
        html = await (await client.get("/", params={"campaign": CAMPAIGN})).text()
        assert "Holiday Ad 1" in html
        html = await (await client.get("/", params={"campaign": "1"})).text()
        assert "No ad is rejected right now." in html
        html = await (await client.get("/", params={"account": "1"})).text()
        assert "No account polled yet" in html
        for params in ({"account": "x'--"}, {"sort": "drop"}, {"campaign": "9" * 40}):
            response = await client.get("/", params=params)
            assert response.status == 400, params
            assert "Bad request" in await response.text()
            assert response.headers["Content-Security-Policy"] == CSP
        assert (await client.get("/ad/abc")).status == 400
        assert (await client.get("/ad/123")).status == 404


async def test_ad_page_shows_timeline_with_changes_reasons_and_deliveries(tmp_path: Path) -> None:
    """The ad's timeline: the rejection, old → new, its reasons, the delivery it caused by
    masked label; no credential anywhere on the page."""
    async with filled(tmp_path) as f, board(f.store) as client:
        html = await (await client.get(f"/ad/{REJECTED}")).text()
        timeline = html.split('id="timeline"')[1]
        assert "ad.rejected" in timeline
        assert "<td>review_status</td><td>APPROVED</td><td>REJECTED</td>" in timeline
        assert "Landing page is broken" in timeline
        assert "delivered" in timeline
        assert "json://" in timeline
        assert TOKEN not in html


async def test_delivery_redelivered_from_the_board_arrives(tmp_path: Path) -> None:
    """A failed send shows on Deliveries; Redeliver queues it now, the next run delivers."""
    async with filled(tmp_path) as f:
        r = f.rig
        await f.store.close()
        r.sim.world.reject_ad(ADS[3], reasons=["HASHTAGS"])
        r.sink.fail_next("/alerts", status=500)
        assert await run_once(r.config) == EXIT_DELIVERY_FAILED
        sent = len(r.messages())
        store = await open_store(tmp_path / "state.db")
        try:
            async with board(store) as client:
                html = await (await client.get("/deliveries")).text()
                table = html.split('id="deliveries"')[1]
                assert "pending" in table
                assert "Holiday Ad 3" in table
                (pending,) = await store.deliveries(statuses=["pending"])
                assert pending.next_attempt_at > time.time()  # a retry, not due yet
                # Without the CSRF token: refused, nothing queued.
                response = await client.post(
                    "/deliveries/redeliver", data={"event_id": pending.event.id}
                )
                assert response.status == 403
                response = await client.post(
                    "/deliveries/redeliver",
                    data={"event_id": pending.event.id, "csrf": csrf_of(html)},
                    allow_redirects=False,
                )
                assert response.status == 303
                (queued,) = await store.deliveries(statuses=["pending"])
                assert queued.next_attempt_at <= time.time()
        finally:
            await store.close()
        assert await run_once(r.config) == EXIT_OK
        assert len(r.messages()) > sent
        assert "Holiday Ad 3" in r.messages()[-1]["title"] + r.messages()[-1]["message"]
        store = await open_store(tmp_path / "state.db")
        try:
            assert await store.deliveries(statuses=["pending", "failed", "dead"]) == []
        finally:
            await store.close()


async def test_mute_created_and_lifted_on_the_board(tmp_path: Path) -> None:
    """A mute made on the board is in the store with its reason; lifting removes it."""
    async with filled(tmp_path) as f, board(f.store, now=1_000_000.0) as client:
        html = await (await client.get("/mutes")).text()
        assert "No mute in force." in html
        token = csrf_of(html)
        form = {
            "scope": "campaign",
            "entity_id": CAMPAIGN,
            "duration": "2h",
            "reason": "<b>sale</b>",
        }
        response = await client.post("/mutes", data={**form, "csrf": token}, allow_redirects=False)
        assert response.status == 303
        (mute,) = await f.store.mutes()
        assert (mute.scope, mute.entity_id, mute.until) == ("campaign", CAMPAIGN, 1_007_200.0)
        html = await (await client.get("/mutes")).text()
        assert "&lt;b&gt;sale&lt;/b&gt;" in html
        for bad in ({"duration": "forever"}, {"entity_id": "abc"}, {"scope": "planet"}):
            response = await client.post("/mutes", data={**form, **bad, "csrf": token})
            assert response.status == 400, bad
        # A form posted from another site is refused even with a token.
        response = await client.post(
            "/mutes/lift",
            data={"scope": "campaign", "entity_id": CAMPAIGN, "csrf": token},
            headers={"Origin": "http://evil.example"},
        )
        assert response.status == 403
        assert len(await f.store.mutes()) == 1
        response = await client.post(
            "/mutes/lift",
            data={"scope": "campaign", "entity_id": CAMPAIGN, "csrf": token},
            allow_redirects=False,
        )
        assert response.status == 303
        assert await f.store.mutes() == []


async def test_loopback_board_refuses_other_host_names(tmp_path: Path) -> None:
    """Without a token the board answers only to loopback Host names (DNS rebinding)."""
    async with filled(tmp_path) as f, board(f.store) as client:
        assert (await client.get("/", headers={"Host": "localhost:9465"})).status == 200
        response = await client.get("/", headers={"Host": "attacker.example:9465"})
        assert response.status == 403
        assert "Acme" not in await response.text()


def test_non_loopback_bind_needs_a_token() -> None:
    """Serving 0.0.0.0 without [web] token is refused; with one it mounts."""
    with pytest.raises(BoardRefused, match=r"\[web\] token"):
        mount_board(web.Application(), store=None, host="0.0.0.0", token=None)  # type: ignore[arg-type]
    mount_board(web.Application(), store=None, host="0.0.0.0", token="t0ken-secret")  # type: ignore[arg-type]


async def test_token_board_needs_bearer_or_login_cookie(tmp_path: Path) -> None:
    """With a token: refused without it, served with the bearer header or after logging
    in (an HttpOnly cookie that is not the token)."""
    secret = "web-board-token-123456"
    async with filled(tmp_path) as f, board(f.store, token=secret, host="0.0.0.0") as client:
        response = await client.get("/")
        assert response.status == 401
        assert "Acme" not in await response.text()
        response = await client.get(
            "/?campaign=1&sort=name", headers={"Accept": "text/html"}, allow_redirects=False
        )
        assert response.status == 303
        location = URL(response.headers["Location"])
        assert location.path == "/login"
        assert location.query["next"] == "/?campaign=1&sort=name"
        assert (await client.get("/live")).status == 401
        wrong = await client.get("/", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        ok = await client.get("/", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status == 200
        assert "Holiday Ad 1" in await ok.text()
        bad = await client.post("/login", data={"token": "guess", "next": "/"})
        assert bad.status == 401
        login = await client.post(
            "/login", data={"token": secret, "next": "//evil.example/"}, allow_redirects=False
        )
        assert login.status == 303
        assert login.headers["Location"] == "/"
        cookie = login.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert secret not in cookie
        assert COOKIE in client.session.cookie_jar.filter_cookies(client.make_url("/"))
        page = await client.get("/mutes")
        assert page.status == 200
        assert secret not in await page.text()


async def test_live_stream_announces_a_commit(tmp_path: Path) -> None:
    """/live sends a change event after the state moves, within a few poll periods."""
    poll_s = 0.05
    async with filled(tmp_path) as f, board(f.store, live_poll_s=poll_s) as client:
        response = await client.get("/live")
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert (await response.content.readline()).startswith(b"retry:")
        await anyio.sleep(3 * poll_s)  # the stream has read its first fingerprint
        started = time.monotonic()
        await f.store.delete_mute("ad", "1")  # no change: nothing to announce
        from monitor.mutes import Mute

        await f.store.set_mute(Mute("ad", ADS[0], until=time.time() + 60, created_at=time.time()))
        with anyio.fail_after(40 * poll_s):
            while (line := await response.content.readline()) == b"\n":
                pass
        assert line == b"event: change\n"
        assert time.monotonic() - started < 2.0  # the bound
        response.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_daemon_serves_the_board_beside_healthz(tmp_path: Path) -> None:
    """With `listen` set the running daemon serves the board and /healthz on one port."""
    async with filled(tmp_path) as f:
        await f.store.close()
        port = _free_port()
        f.rig.write(extra_monitor=f'listen = "127.0.0.1:{port}"')
        async with open_runtime(f.rig.config), ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            async with http.get(f"{base}/") as response:
                assert response.status == 200
                assert "Holiday Ad 1" in await response.text()
            async with http.get(f"{base}/healthz") as response:
                assert response.status in (200, 503)
                assert "Content-Security-Policy" not in response.headers


def test_board_stays_off_on_a_wide_bind_without_token(tmp_path: Path) -> None:
    """The daemon keeps /healthz and /metrics on 0.0.0.0 but mounts no board there."""
    from monitor.config import load_config

    path = tmp_path / "pinmon.toml"
    path.write_text(
        f'[pinterest]\naccess_token = "{TOKEN}"\nad_accounts = ["{ACCOUNT}"]\n'
        '[monitor]\nlisten = "0.0.0.0:9464"\n[[routes]]\nname = "a"\napprise = ["json://127.0.0.1/x"]\n'
    )
    config = load_config(path, check_targets=False)
    assert board_mount(config, None, "0.0.0.0") is None  # type: ignore[arg-type]
    path.write_text(path.read_text() + '[web]\ntoken = "s3cret-board"\n')
    config = load_config(path, check_targets=False)
    assert config.web.token is not None
    assert config.web.token.reveal() == "s3cret-board"
    assert board_mount(config, None, "0.0.0.0") is not None  # type: ignore[arg-type]
