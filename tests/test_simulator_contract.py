"""Contract: every body the simulator sends validates against Pinterest's own OpenAPI schemas.

The spec is OpenAPI 3.0: schemas are converted to JSON Schema (``nullable: true`` becomes
"or null", boolean ``exclusiveMinimum`` becomes a number) and validated with jsonschema,
resolving ``$ref``s inside the spec document. Bodies are fetched over real HTTP.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest

from monitor.simulator import ManualClock, Simulator, builtin_scenario, vocab
from monitor.simulator.entities import Ad, AdAccount, AdGroup, Campaign

try:
    from tests.conftest import SHARED_SPEC
except ImportError:  # the repo root is not on sys.path: pytest put tests/ there instead
    from conftest import SHARED_SPEC  # type: ignore[no-redef]

pytestmark = pytest.mark.anyio

ACCOUNT = "549755885175"
AUTH = {"Authorization": "Bearer demo-token"}


def _to_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema node rewritten as JSON Schema (2020-12)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if node.get("nullable") is True:
        # Wrapping (rather than adding "null" to "type") is what keeps a nullable $ref or
        # allOf correct: the referenced schema itself would still refuse null.
        return {"anyOf": [{"type": "null"}, out]}
    return out


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The shared Pinterest spec, converted to JSON Schema; skips when it is not there."""
    if not SHARED_SPEC.is_file():
        pytest.skip(f"Pinterest OpenAPI spec not found at {SHARED_SPEC} (shared material absent)")
    raw = json.loads(SHARED_SPEC.read_text(encoding="utf-8"))
    return {"paths": raw["paths"], "components": _to_json_schema(raw["components"]), "raw": raw}


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    root = {**_to_json_schema(schema), "components": spec["components"]}
    return jsonschema.Draft202012Validator(root)


def response_schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the spec declares for one operation's response with ``status``."""
    responses = spec["paths"][path][method]["responses"]
    declared = responses.get(str(status)) or responses["default"]
    return declared["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def check(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Fail with every schema violation of ``body``."""
    validator = _validator(spec, response_schema(spec, path, method, status))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def _component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec["raw"]["components"]["schemas"][name]  # type: ignore[no-any-return]


def _properties(spec: dict[str, Any], name: str) -> set[str]:
    """Every property a (possibly allOf-composed) component schema declares."""
    schema = _component(spec, name)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            names |= _properties(spec, part["$ref"].rsplit("/", 1)[1])
        names |= set(part.get("properties", {}))
    return names


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The demo world plus a generated account covering every creative type and state."""
    scenario = {
        "accounts": [
            {"id": ACCOUNT, "name": "Acme Home", "campaigns": [{"name": "Holiday Sale 2024"}]},
            {
                "id": "549755885176",
                "name": "Northwind",
                "generate": {"ads": 40, "campaigns": 2, "rejected_share": 0.3, "paused_share": 0.2},
            },
        ]
    }
    async with Simulator(scenario=scenario, now=ManualClock()) as s:
        yield s


async def _get(session: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with session.get(url, params=params, headers=AUTH) as resp:
        return resp.status, await resp.json()


LISTINGS = [
    ("/ad_accounts", "/ad_accounts", {}),
    ("/ad_accounts/{ad_account_id}/campaigns", "/ad_accounts/549755885176/campaigns", {}),
    ("/ad_accounts/{ad_account_id}/ad_groups", "/ad_accounts/549755885176/ad_groups", {}),
    ("/ad_accounts/{ad_account_id}/ads", "/ad_accounts/549755885176/ads", {"page_size": "7"}),
]


@pytest.mark.parametrize(("spec_path", "url", "params"), LISTINGS)
async def test_listing_pages_match_schema(
    spec: dict[str, Any], sim: Simulator, spec_path: str, url: str, params: dict[str, str]
) -> None:
    """Every page of every listing (all statuses) validates against its 200 schema."""
    async with aiohttp.ClientSession() as session:
        bookmark = None
        pages = 0
        while True:
            query = dict(params)
            if spec_path != "/ad_accounts":
                query["entity_statuses"] = "ACTIVE,PAUSED,ARCHIVED,DRAFT,DELETED_DRAFT"
            if bookmark:
                query["bookmark"] = bookmark
            status, body = await _get(session, sim.base_url + url, **query)
            assert status == 200
            check(spec, spec_path, "get", 200, body)
            pages += 1
            bookmark = body["bookmark"]
            if bookmark is None:
                break
    assert pages >= 1


async def test_single_entity_bodies_match_schema(spec: dict[str, Any], sim: Simulator) -> None:
    """GET of one ad account, campaign, ad group and ad validates against its 200 schema."""
    world = sim.world
    ad = next(a for a in world.ads.values() if a.review_status == "REJECTED")
    cases = [
        ("/ad_accounts/{ad_account_id}", f"/ad_accounts/{ad.ad_account_id}"),
        (
            "/ad_accounts/{ad_account_id}/ads/{ad_id}",
            f"/ad_accounts/{ad.ad_account_id}/ads/{ad.id}",
        ),
        (
            "/ad_accounts/{ad_account_id}/campaigns/{campaign_id}",
            f"/ad_accounts/{ad.ad_account_id}/campaigns/{ad.campaign_id}",
        ),
        (
            "/ad_accounts/{ad_account_id}/ad_groups/{ad_group_id}",
            f"/ad_accounts/{ad.ad_account_id}/ad_groups/{ad.ad_group_id}",
        ),
    ]
    async with aiohttp.ClientSession() as session:
        for spec_path, url in cases:
            status, body = await _get(session, sim.base_url + url)
            assert status == 200, body
            check(spec, spec_path, "get", 200, body)


async def test_oauth_token_body_matches_schema(spec: dict[str, Any], sim: Simulator) -> None:
    """A refresh answer validates as OauthAccessTokenResponse and its refresh variant."""
    basic = base64.b64encode(b"demo-client:demo-secret").decode()
    form = {"grant_type": "refresh_token", "refresh_token": "demo-refresh-token"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sim.base_url + "/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"}
        ) as resp,
    ):
        assert resp.status == 200
        body = await resp.json()
    check(spec, "/oauth/token", "post", 200, body)
    # jsonschema ignores OpenAPI's discriminator: check the mapped variant explicitly.
    variant = {"$ref": "#/components/schemas/OauthAccessTokenResponseRefresh"}
    assert not list(_validator(spec, variant).iter_errors(body))


async def test_oauth_error_bodies_match_schema(spec: dict[str, Any], sim: Simulator) -> None:
    """A refused refresh (rotated-out token, bad client) answers the declared Error body."""
    basic = base64.b64encode(b"demo-client:demo-secret").decode()
    form = {"grant_type": "refresh_token", "refresh_token": "not-a-token"}
    async with aiohttp.ClientSession() as session:
        for headers, expected in (
            ({"Authorization": f"Basic {basic}"}, 400),
            ({"Authorization": "Basic bm9wZTpub3Bl"}, 401),
        ):
            async with session.post(sim.base_url + "/oauth/token", data=form, headers=headers) as r:
                assert r.status == expected
                check(spec, "/oauth/token", "post", expected, await r.json())


async def test_error_bodies_match_schema(spec: dict[str, Any], sim: Simulator) -> None:
    """400, 401, 403, 404, 429 and 500 bodies validate against the declared error schemas."""
    ads = "/ad_accounts/{ad_account_id}/ads"
    sim.add_fault(path="/v5/ad_accounts/*/campaigns", kind="status_500", times=1)
    sim.add_fault(path="/v5/ad_accounts/*/ad_groups", kind="status_429", times=1)
    async with aiohttp.ClientSession() as session:
        cases = [
            (ads, f"/ad_accounts/{ACCOUNT}/ads", {"page_size": "0"}, AUTH, 400),
            (ads, f"/ad_accounts/{ACCOUNT}/ads", {}, {"Authorization": "Bearer nope"}, 401),
            (ads, "/ad_accounts/999/ads", {}, AUTH, 404),
            (
                "/ad_accounts/{ad_account_id}/campaigns",
                f"/ad_accounts/{ACCOUNT}/campaigns",
                {},
                AUTH,
                500,
            ),
            (
                "/ad_accounts/{ad_account_id}/ad_groups",
                f"/ad_accounts/{ACCOUNT}/ad_groups",
                {},
                AUTH,
                429,
            ),
            ("/ad_accounts", "/ad_accounts", {"page_size": "251"}, AUTH, 400),
            ("/ad_accounts/{ad_account_id}", "/ad_accounts/1", {}, AUTH, 404),
        ]
        for spec_path, url, params, headers, expected in cases:
            async with session.get(sim.base_url + url, params=params, headers=headers) as resp:
                assert resp.status == expected, url
                check(spec, spec_path, "get", expected, await resp.json())
        sim.access.revoked.add(ACCOUNT)
        status, body = await _get(session, sim.base_url + f"/ad_accounts/{ACCOUNT}/ads")
        assert status == 403
        check(spec, ads, "get", 403, body)


@pytest.mark.parametrize(
    ("cls", "component"),
    [
        (Ad, "AdResponse"),
        (Campaign, "CampaignResponse"),
        (AdGroup, "AdGroupResponse"),
        (AdAccount, "AdAccount"),
    ],
)
def test_every_schema_property_is_rendered(
    spec: dict[str, Any], cls: type[msgspec.Struct], component: str
) -> None:
    """The simulated entities carry exactly the properties of their spec schema, no more."""
    assert set(cls.__struct_fields__) == _properties(spec, component)


def test_enums_match_spec(spec: dict[str, Any]) -> None:
    """The enums restated in vocab.py are the spec's, value for value."""
    schemas = spec["raw"]["components"]["schemas"]
    params = spec["raw"]["components"]["parameters"]
    ad_props = {}
    for part in schemas["AdResponse"]["allOf"]:
        ad_props.update(part.get("properties", {}))
    assert tuple(schemas["EntityStatus"]["enum"]) == vocab.ENTITY_STATUSES
    assert (
        tuple(params["query_entity_statuses"]["schema"]["items"]["enum"]) == vocab.ENTITY_STATUSES
    )
    assert (
        tuple(params["query_entity_statuses"]["schema"]["default"]) == vocab.DEFAULT_ENTITY_STATUSES
    )
    assert tuple(params["query_order"]["schema"]["enum"]) == vocab.ORDERS
    assert tuple(ad_props["review_status"]["enum"]) == vocab.REVIEW_STATUSES
    assert tuple(ad_props["rejected_reasons"]["items"]["enum"]) == vocab.REJECTED_REASONS
    assert tuple(schemas["PinPromotionSummaryStatus"]["enum"]) == vocab.AD_SUMMARY_STATUSES
    assert tuple(schemas["CampaignSummaryStatus"]["enum"]) == vocab.GROUP_SUMMARY_STATUSES
    assert tuple(schemas["AdGroupSummaryStatus"]["enum"]) == vocab.GROUP_SUMMARY_STATUSES
    assert tuple(schemas["CreativeType"]["enum"]) == vocab.CREATIVE_TYPES
    assert tuple(schemas["ObjectiveType"]["enum"]) == vocab.OBJECTIVE_TYPES
    assert params["query_page_size"]["schema"]["maximum"] == 250


async def test_demo_scenario_bodies_match_schema(spec: dict[str, Any]) -> None:
    """The demo story's ads validate at every cycle, rejections and new ads included."""
    async with Simulator(scenario=builtin_scenario("demo"), now=ManualClock()) as sim:
        for _ in range(5):
            sim.advance_cycle()
            for account in sim.world.accounts:
                async with aiohttp.ClientSession() as session:
                    status, body = await _get(
                        session,
                        f"{sim.base_url}/ad_accounts/{account}/ads",
                        entity_statuses="ACTIVE,PAUSED,ARCHIVED",
                    )
                assert status == 200
                check(spec, "/ad_accounts/{ad_account_id}/ads", "get", 200, body)


async def test_ads_in_review_match_schema(spec: dict[str, Any]) -> None:
    """Ads a review story created, edited, left PENDING or decided validate, in a listing,
    in an ad_ids lookup and one by one."""
    clock = ManualClock()
    scenario = {
        "accounts": [{"id": ACCOUNT, "name": "Acme Home", "generate": {"ads": 40, "campaigns": 2}}]
    }
    async with Simulator(scenario=scenario, now=clock) as sim:
        staged = [
            *sim.stage_reviews(
                {"kind": "edit", "count": 10, "decide_s": {"min_s": 0, "max_s": 100}, "seed": 1}
            ),
            *sim.stage_reviews(
                {
                    "kind": "create",
                    "count": 4,
                    "enter_s": [0, 0, 50, 200],
                    "decide_s": 60,
                    "rejected_share": 1,
                    "reasons_per_ad": 3,
                    "fields": {"creative_type": "VIDEO"},
                }
            ),
        ]
        clock.advance(70)
        assert sim.state()["reviews"]["pending"] > 0
        assert sim.state()["reviews"]["decided"] > 0
        url = f"{sim.base_url}/ad_accounts/{ACCOUNT}/ads"
        ids = [r.ad_id for r in staged if r.state != "scheduled"]
        async with aiohttp.ClientSession() as session:
            for params in ({"page_size": "250"}, {"ad_ids": ",".join(ids)}):
                status, body = await _get(session, url, **params)
                assert status == 200, body
                check(spec, "/ad_accounts/{ad_account_id}/ads", "get", 200, body)
            assert {a["review_status"] for a in body["items"]} >= {"PENDING", "REJECTED"}
            for ad_id in ids:
                status, body = await _get(session, f"{url}/{ad_id}")
                assert status == 200, body
                check(spec, "/ad_accounts/{ad_account_id}/ads/{ad_id}", "get", 200, body)
