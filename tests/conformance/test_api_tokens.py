"""Tokens for named APIs against a provider that narrows, exchanges or refuses on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from jupyter_nevis_auth.core.apis import token_key
from jupyter_nevis_auth.protocol import secret_header
from tests.conformance.conftest import assert_error_page, service, signed_in, status
from tests.conformance.fake_op import FakeOP

SALES = "https://sales.test"
MODELS = "https://models.test"


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any]) -> dict[str, Any]:
    """The provider's client, with two APIs."""
    return {
        **nevis_config,
        "apis": {
            "sales": {
                "url": "https://sales.test/api/",
                "scopes": ["sales.read"],
                "resource": SALES,
            },
            "models": {
                "url": "https://models.test/",
                "scopes": ["models.read"],
                "resource": MODELS,
                "token_exchange": True,
            },
            "plain": {"url": "https://plain.test/"},
        },
    }


async def kernel_get(
    browser, jp_serverapp, *, method: str = "GET", **params: str
) -> tuple[int, dict[str, Any]]:
    """A kernel's request to nevis/api/token: the secret, no Jupyter credentials."""
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    response = await browser.fetch(
        "nevis",
        "api",
        "token",
        method=method,
        params=params,
        headers=secret_header(secret),
        raise_error=False,
        allow_nonstandard_methods=True,
    )
    return response.code, json.loads(response.body or b"{}")


def refreshes(op: FakeOP) -> list[dict[str, str]]:
    """The refresh-token grants the provider received."""
    return [c.args for c in op.calls("token") if c.args["grant_type"] == "refresh_token"]


async def test_the_sign_in_asks_for_the_apis_scopes_once(browser, op: FakeOP, jp_serverapp):
    authorize = await browser.start_login()
    scope = parse_qs(urlparse(authorize).query)["scope"][0].split()
    assert {"openid", "offline_access", "sales.read", "models.read"} <= set(scope)


async def test_a_narrowed_refresh_gives_the_apis_token_once(browser, op: FakeOP, jp_serverapp):
    op.resources = {SALES}
    main = await signed_in(browser, op, jp_serverapp)
    code, body = await kernel_get(browser, jp_serverapp, api="sales")
    assert code == 200, body
    assert body["access_token"] != main.access_token
    assert (body["api"], body["provider"], body["scope"]) == ("sales", "default", "sales.read")
    (narrowed,) = refreshes(op)
    assert narrowed["scope"] == "sales.read" and narrowed["resource"] == SALES
    assert narrowed["refresh_token"] == main.refresh_token
    again = await kernel_get(browser, jp_serverapp, api="sales")
    assert again[1]["access_token"] == body["access_token"] and len(refreshes(op)) == 1
    # The rotated refresh token replaced the sign-in's; the API token has none of its own.
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    stored = service(jp_serverapp).tokens.store
    assert (await stored.get(owner)).refresh_token == op.issued["refresh_token"][-1]
    assert (await stored.get(token_key(owner, "default", "sales"))).refresh_token is None
    api = (await status(browser))["apis"]["sales"]
    assert api["ready"] and api["obtained_by"] == "narrowed refresh" and api["expires_in"] > 0
    assert "access_token" not in json.dumps(await status(browser))


async def test_an_api_without_scopes_gets_the_sign_ins_token(browser, op: FakeOP, jp_serverapp):
    main = await signed_in(browser, op, jp_serverapp)
    code, body = await kernel_get(browser, jp_serverapp, api="plain")
    assert code == 200 and body["access_token"] == main.access_token
    assert refreshes(op) == []


async def test_a_refused_narrowing_falls_back_to_token_exchange(browser, op: FakeOP, jp_serverapp):
    op.token_exchange = True
    op.resources = {MODELS}
    main = await signed_in(browser, op, jp_serverapp)
    op.token_errors = {"refresh_token": (400, "invalid_target")}
    code, body = await kernel_get(browser, jp_serverapp, api="models")
    assert code == 200, body
    (exchange,) = [c.args for c in op.calls("token") if "token-exchange" in c.args["grant_type"]]
    assert exchange["subject_token"] == main.access_token and exchange["resource"] == MODELS
    assert (await status(browser))["apis"]["models"]["obtained_by"] == "token exchange"
    # Refused once, not asked that way again while the server runs.
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    await service(jp_serverapp).tokens.store.delete(token_key(owner, "default", "models"))
    assert (await kernel_get(browser, jp_serverapp, api="models"))[0] == 200
    assert len(refreshes(op)) == 1


async def test_without_a_way_the_kernel_is_told_to_sign_in_for_the_api(
    browser, op: FakeOP, jp_serverapp, jp_base_url
):
    await signed_in(browser, op, jp_serverapp)
    op.token_errors = {"refresh_token": (400, "invalid_scope")}
    code, body = await kernel_get(browser, jp_serverapp, api="sales")
    assert code == 401
    assert (body["error"], body["api"], body["scopes"]) == (
        "login_required",
        "sales",
        ["sales.read"],
    )
    assert body["login_url"] == jp_base_url + "nevis/login?api=sales"
    assert "sign in for it" in body["message"]
    # The sign-in for the API asks for its scopes and resource, and keeps its own grant.
    op.token_errors = {}
    op.resources = {SALES}
    authorize = await browser.start_login_for("api", "sales")
    query = parse_qs(urlparse(authorize).query)
    assert "sales.read" in query["scope"][0].split() and query["resource"] == [SALES]
    response = await browser.callback(await op.authorize(authorize))
    assert response.code == 302, response.body
    code, body = await kernel_get(browser, jp_serverapp, api="sales")
    assert code == 200, body
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    held = await service(jp_serverapp).tokens.store.get(token_key(owner, "default", "sales"))
    assert held is not None and held.refresh_token and body["access_token"] == held.access_token


async def test_a_dead_grant_signs_out(browser, op: FakeOP, jp_serverapp):
    await signed_in(browser, op, jp_serverapp)
    op.token_errors = {"refresh_token": (400, "invalid_grant")}
    code, body = await kernel_get(browser, jp_serverapp, api="sales")
    assert code == 401 and body["error"] == "login_required"
    assert (await status(browser))["logged_in"] is False


async def test_concurrent_calls_for_several_apis_make_one_provider_call_each(
    browser, op: FakeOP, jp_serverapp
):
    op.resources = {SALES, MODELS}
    await signed_in(browser, op, jp_serverapp)
    op.delays["token"] = 0.2
    calls = [
        kernel_get(browser, jp_serverapp, api=name)
        for name in ("sales", "models")
        for _ in range(10)
    ]
    answers = await asyncio.gather(*calls)
    assert {code for code, _ in answers} == {200}
    assert sorted(r["resource"] for r in refreshes(op)) == [MODELS, SALES]
    assert len({b["access_token"] for _, b in answers}) == 2


async def test_ad_hoc_scopes_and_unknown_names(browser, op: FakeOP, jp_serverapp):
    op.resources = {SALES}
    await signed_in(browser, op, jp_serverapp)
    code, body = await kernel_get(browser, jp_serverapp, scope="sales.read", resource=SALES)
    assert code == 200 and body["api"] is None and body["scope"] == "sales.read"
    for params in ({"api": "nope"}, {"provider": "nope"}):
        code, body = await kernel_get(browser, jp_serverapp, **params)
        assert code == 400 and body["error"] == "invalid_request", body
        assert "nope" in body["message"]
    response = await browser.get("nevis", "login", params={"api": "nope"})
    assert_error_page(response, 400, "is configured (NevisAuth.apis)")


async def test_kernels_can_list_the_apis(browser, op: FakeOP, jp_serverapp):
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    response = await browser.fetch("nevis", "api", "token", "apis", headers=secret_header(secret))
    body = json.loads(response.body)
    assert body["default_for_unlisted_urls"] is False
    sales = next(a for a in body["apis"] if a["name"] == "sales")
    assert sales == {
        "name": "sales",
        "urls": ["https://sales.test/api/"],
        "provider": "default",
        "scopes": ["sales.read"],
        "resource": SALES,
        "audience": None,
    }
    assert (await browser.fetch("nevis", "api", "token", "apis", raise_error=False)).code == 403


async def test_sign_out_drops_and_revokes_every_grant(browser, op: FakeOP, jp_serverapp):
    op.resources = {SALES}
    await signed_in(browser, op, jp_serverapp)
    await kernel_get(browser, jp_serverapp, api="sales")
    code, body = await kernel_get(browser, jp_serverapp, method="DELETE")
    assert code == 200 and body["logged_in"] is False and body["apis"]["sales"]["ready"] is False
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    assert await service(jp_serverapp).tokens.store.keys() == []
    revoked = {c.args["token"] for c in op.calls("revoke")}
    assert op.issued["refresh_token"][-1] in revoked
    assert (await kernel_get(browser, jp_serverapp, api="sales"))[0] == 401
    assert owner  # the keys above were this owner's


class TestBadConfiguration:
    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        """Two more APIs: one for an unknown provider, one claiming the sales URL again."""
        apis = {
            **nevis_config["apis"],
            "lost": {"url": "https://lost.test/", "provider": "nobody"},
            "again": {"url": "https://sales.test/api"},
        }
        return {**nevis_config, "apis": apis}

    async def test_a_bad_api_is_left_out_and_the_rest_works(
        self, browser, op: FakeOP, jp_serverapp
    ):
        nevis = service(jp_serverapp)
        assert set(nevis.apis) == {"sales", "models", "plain"}
        assert any('NevisAuth.apis["lost"].provider' in p for p in nevis.problems)
        assert any(
            'NevisAuth.apis["again"].url is also the URL of sales' in p for p in nevis.problems
        )
        op.resources = {SALES}
        await signed_in(browser, op, jp_serverapp)
        assert (await kernel_get(browser, jp_serverapp, api="sales"))[0] == 200


class TestSecondProvider:
    @pytest.fixture
    def partner(self, jp_asyncio_loop, key_pool, redirect_uri) -> Iterator[FakeOP]:
        """A second, independent provider."""
        provider = FakeOP(key_pool, [redirect_uri], path="/partner")
        provider.client_id = "partner-client"
        jp_asyncio_loop.run_until_complete(provider.start())
        yield provider
        jp_asyncio_loop.run_until_complete(provider.stop())

    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any], partner: FakeOP) -> dict[str, Any]:
        """The partner as a named provider, serving the models API."""
        providers = {
            "partner": {
                "issuer": partner.issuer,
                "client_id": partner.client_id,
                "client_secret": partner.client_secret,
            }
        }
        apis = {"models": {"url": "https://models.test/", "provider": "partner"}}
        return {**nevis_config, "providers": providers, "apis": apis}

    async def sign_in_at_partner(self, browser, partner: FakeOP) -> Any:
        """Sign in at the partner provider through nevis/login?provider=partner."""
        authorize = await browser.start_login_for("provider", "partner")
        assert authorize.startswith(partner.url("authorize"))
        return await browser.callback(await partner.authorize(authorize))

    async def test_each_provider_has_its_own_sign_in(
        self, browser, op: FakeOP, partner: FakeOP, jp_serverapp
    ):
        await signed_in(browser, op, jp_serverapp)
        assert (await kernel_get(browser, jp_serverapp, api="models"))[0] == 401
        assert (await self.sign_in_at_partner(browser, partner)).code == 302
        code, body = await kernel_get(browser, jp_serverapp, api="models")
        assert code == 200 and body["provider"] == "partner"
        assert body["access_token"] in partner.issued["access_token"]
        code, default = await kernel_get(browser, jp_serverapp)
        assert default["access_token"] in op.issued["access_token"]
        providers = (await status(browser))["providers"]
        assert providers["partner"]["logged_in"] and providers["default"]["logged_in"]
        # Signing out of the partner leaves the default sign-in alone.
        code, body = await kernel_get(browser, jp_serverapp, method="DELETE", provider="partner")
        assert body["providers"]["partner"]["logged_in"] is False and body["logged_in"] is True
        assert partner.calls("revoke") and not op.calls("revoke")

    async def test_a_response_from_the_other_provider_is_refused(
        self, browser, op: FakeOP, partner: FakeOP, jp_serverapp
    ):
        # RFC 9207: a sign-in sent to the partner must come back from the partner.
        partner.response_iss = op.issuer
        response = await self.sign_in_at_partner(browser, partner)
        assert_error_page(response, 400, "another issuer")
        assert partner.calls("token") == []
