"""Two providers on one server, each touched on its own: sign-out, links, settings, status.

The setup of docs/admins/apis-and-providers.md: `sales` from the session's provider,
`models` from a second instance of the test provider, configured as `partner`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from cryptography.fernet import Fernet
from tornado.httpclient import HTTPResponse

from jupyter_nevis_auth.core import urls
from jupyter_nevis_auth.core.auth import AuthCore
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.file_store import EncryptedFileTokenStore
from jupyter_nevis_auth.core.providers import (
    PROVIDER_OPTIONS,
    build_providers,
    named_config,
    unset_protections,
)
from jupyter_nevis_auth.kernel.api import get_access_token
from jupyter_nevis_auth.protocol import ENV_SECRET, ENV_URL
from tests import test_links
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login
from tests.support.resource_server import ResourceServer
from tests.support.two_apis import MODELS_SIGN_IN_SCOPES, two_apis_config
from tests.test_api_tokens import kernel_token
from tests.test_docs import DOCS
from tests.test_links import LinkBrowser

# The one-time links' fixtures: a browser without Jupyter, and the kernel's link request.
anonymous_fetch = test_links.anonymous_fetch
link_browser = test_links.link_browser
ask_link = test_links.ask_link


@pytest.fixture
def partner_client_options() -> dict[str, Any]:
    """Knobs of the client at the second provider (TTLs...)."""
    return {}


@pytest.fixture
def partner_client(
    second_oidc_provider: OIDCTestProvider, redirect_uri: str, partner_client_options: dict
) -> RegisteredClient:
    """This test server's client at the second provider."""
    return second_oidc_provider.add_client([redirect_uri], **partner_client_options)


@pytest.fixture
def partner_options() -> dict[str, Any]:
    """Settings of the partner provider besides its issuer, client and scopes."""
    return {"extra_authorize_params": {"prompt": "consent"}}


@pytest.fixture
def nevis_config(
    nevis_config: dict[str, Any],
    sales_api: ResourceServer,
    models_api: ResourceServer,
    second_oidc_provider: OIDCTestProvider,
    partner_client: RegisteredClient,
    partner_options: dict[str, Any],
) -> dict[str, Any]:
    """The two APIs of the docs, `models` behind the `partner` provider."""
    partner = partner_client.nevis_settings(second_oidc_provider.issuer)
    del partner["extra_authorize_params"]
    partner.update(scopes=MODELS_SIGN_IN_SCOPES, **partner_options)
    return two_apis_config(nevis_config, sales_api, models_api, partner)


async def sign_in_at(browser: Browser, name: str, value: str, username: str, redirect_uri: str):
    """A whole sign-in started from nevis/login?<name>=<value>."""
    authorize = await browser.start_login_for(name, value)
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    response = await browser.callback(callback)
    assert response.code == 302, response.body
    return response


@pytest.fixture
def cookie_browser(browser: Browser, http_server_client: Any, jp_base_url: str) -> Browser:
    """The same browser, authenticated by its cookies only (the pages' forms need xsrf)."""

    def fetch(*parts: str, params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        query = "?" + urlencode(params) if params else ""
        return http_server_client.fetch(jp_base_url + "/".join(parts) + query, **kwargs)

    return Browser(fetch, browser.cookies)


async def status_of(browser: Browser) -> dict[str, Any]:
    return json.loads((await browser.get("nevis", "api", "status")).body)


def service(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["nevis_auth"]


def kernel_environment(jp_serverapp: Any) -> dict[str, str]:
    """What the server hands its kernels: where its token endpoint is, and the secret."""
    settings = jp_serverapp.web_app.settings
    url = f"http://127.0.0.1:{jp_serverapp.port}{jp_serverapp.base_url}nevis/api/token"
    return {ENV_URL: url, ENV_SECRET: settings["nevis_auth_kernel_secret"]}


def owner(jp_serverapp: Any) -> str:
    return jp_serverapp.web_app.settings["nevis_auth_owner"]


async def post_form(browser: Browser, path: str, fields: dict[str, str]) -> HTTPResponse:
    """Submit a page's form as the browser would: its cookies, the xsrf token in the form."""
    return await browser.fetch(
        *path.split("/"),
        method="POST",
        body=urlencode(fields),
        headers={
            "Cookie": browser.cookie_header(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        follow_redirects=False,
        raise_error=False,
    )


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def form_fields(body: str) -> dict[str, str]:
    """The hidden fields of the page's form."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))


def sign_out_lines(caplog: pytest.LogCaptureFixture, user: str, provider: str) -> int:
    return sum(r.getMessage() == f"Signed out {user} at {provider}" for r in caplog.records)


async def test_signing_out_of_one_provider_names_it_ends_only_it_and_confirms(
    browser,
    cookie_browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    jp_base_url,
    oidc_provider,
    oidc_client,
    second_oidc_provider,
    partner_client,
    caplog,
):
    caplog.set_level(logging.INFO)
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    assert (await kernel_token(jp_fetch, jp_serverapp, api="models"))[0] == 200
    revoked_default = oidc_provider.stats(oidc_client.client_id)["revocation"]["ok"]

    page = await cookie_browser.get("nevis", "logout", params={"provider": "partner"})
    body = page.body.decode()
    assert page.code == 200
    assert "<h1>Sign out of partner</h1>" in body
    assert "signed in at partner as" in body and "can no longer call models" in body
    assert "Your sign-in at default stays." in body
    fields = form_fields(body)
    assert fields["provider"] == "partner" and fields["_xsrf"]

    done = await post_form(cookie_browser, "nevis/logout", fields)
    assert done.code == 302
    assert done.headers["Location"] == jp_base_url + "nevis/logout?provider=partner"
    status = await status_of(browser)
    assert status["providers"]["partner"]["logged_in"] is False
    assert status["providers"]["default"]["logged_in"] is True
    assert status["apis"]["models"]["ready"] is False
    assert second_oidc_provider.stats(partner_client.client_id)["revocation"]["ok"] >= 1
    assert oidc_provider.stats(oidc_client.client_id)["revocation"]["ok"] == revoked_default
    # One line for the sign-out, though the sign-in and the models token both ended.
    assert sign_out_lines(caplog, owner(jp_serverapp), "partner") == 1
    assert sign_out_lines(caplog, owner(jp_serverapp), "default") == 0

    after = (await cookie_browser.get("nevis", "logout", params={"provider": "partner"})).body
    text = after.decode()
    assert "<h1>Signed out of partner</h1>" in text
    assert "You signed out of partner. Your sign-in at default stays." in text
    assert "nevis/login?provider=partner" in text and "Sign in to partner again" in text


async def test_signing_out_of_every_provider_names_each_sign_in(
    browser, cookie_browser, redirect_uri, username, jp_serverapp, caplog
):
    caplog.set_level(logging.INFO)
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    # Signed in at partner only: the page still offers to sign out.
    page = (await cookie_browser.get("nevis", "logout")).body.decode()
    assert "<h1>Sign out</h1>" in page and "signed in at partner as" in page
    assert "provider" not in form_fields(page)
    await browser.sign_in(username, redirect_uri=redirect_uri)
    page = (await cookie_browser.get("nevis", "logout")).body.decode()
    assert "signed in at default as" in page and "and at partner as" in page
    done = await post_form(cookie_browser, "nevis/logout", form_fields(page))
    assert done.code == 302
    status = await status_of(browser)
    assert not any(p["logged_in"] for p in status["providers"].values())
    assert sign_out_lines(caplog, owner(jp_serverapp), "partner") == 1
    assert sign_out_lines(caplog, owner(jp_serverapp), "default") == 1


async def test_the_done_page_of_a_second_providers_sign_in_says_signed_in_and_closes(
    browser, redirect_uri, username
):
    # The default provider is signed out; the widget's sign-in at partner ends on nevis/done.
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    page = (await browser.get("nevis", "done")).body.decode()
    assert "<h1>Signed in</h1>" in page and "Signed in to partner as" in page, page
    assert "window.close()" in page and "BroadcastChannel" in page
    # Named, the page speaks of that provider, signed out or not.
    named = (await browser.get("nevis", "done", params={"provider": "default"})).body
    assert b"<h1>Not signed in</h1>" in named and b"/nevis/login" in named
    # With both signed in, the sign-in links name what they signed in for (the widget's
    # and the JupyterLab item's links carry it to the page): partner, or models's provider.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    for params in ({"provider": "partner"}, {"api": "models"}):
        page = (await browser.get("nevis", "done", params=params)).body.decode()
        assert "Signed in to partner as" in page, (params, page)
    assert "Signed in as" in (await browser.get("nevis", "done")).body.decode()


async def test_an_api_with_another_provider_is_refused_not_half_followed(
    browser, jp_fetch, jp_serverapp
):
    # sales is the default provider's: which of the two was meant cannot be told.
    page = await browser.get("nevis", "login", params={"api": "sales", "provider": "partner"})
    assert page.code == 400
    sentence = (
        "The API sales names its own provider, resource and audience: ask for api=sales "
        "without provider."
    )
    assert sentence in page.body.decode()
    code, body = await kernel_token(jp_fetch, jp_serverapp, api="sales", resource="urn:x")
    assert code == 400 and body["message"] == sentence.replace("provider.", "resource.")


async def test_an_unknown_provider_is_refused_with_a_sentence(browser, redirect_uri, username):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    page = await browser.get("nevis", "logout", params={"provider": "nobody"})
    assert page.code == 400
    assert b"No provider named &#39;nobody&#39; is configured" in page.body


async def test_a_links_sign_in_for_an_api_ends_as_the_widgets_sign_in_does(
    browser,
    ask_link,
    link_browser: LinkBrowser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    second_oidc_provider,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    code, body = await kernel_token(jp_fetch, jp_serverapp, api="models")
    assert code == 401 and body["provider"] == "partner"
    # The status's (and so the widget's) sign-in for models: the partner sign-in.
    status = await status_of(browser)
    assert status["apis"]["models"]["login_url"].endswith("nevis/login?provider=partner")

    # The text prompt's link asks for the API.
    answer = await ask_link(api="models")
    authorize = await link_browser.follow_link(answer["url"])
    assert authorize.startswith(second_oidc_provider.issuer)
    assert "models.read" in query_of(authorize)["scope"].split()
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    assert (await link_browser.callback(callback)).code == 302
    done = (await link_browser.get("nevis", "link", "done")).body.decode()
    assert f"Signed in as {username}. You can close this window" in done

    status = await status_of(browser)
    assert status["providers"]["partner"]["logged_in"] is True
    assert (await kernel_token(jp_fetch, jp_serverapp, provider="partner"))[0] == 200
    code, models = await kernel_token(jp_fetch, jp_serverapp, api="models")
    assert code == 200, models
    assert (await status_of(browser))["apis"]["models"]["obtained_by"] == "narrowed refresh"


@pytest.mark.parametrize("partner_options", [{}])
async def test_a_named_provider_takes_the_top_level_extra_authorize_params(
    browser, redirect_uri, username, caplog
):
    # prompt=consent is set at the top level only: the test provider issues a refresh token
    # only with it, at partner too.
    caplog.set_level(logging.WARNING)
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    partner = (await status_of(browser))["providers"]["partner"]
    assert partner["refresh_possible"] is True and partner["warnings"] == []
    assert "no refresh token" not in caplog.text


@pytest.mark.parametrize("partner_options", [{"extra_authorize_params": {}}])
async def test_the_no_refresh_token_warning_names_the_providers_own_option(
    browser, redirect_uri, username, caplog
):
    caplog.set_level(logging.WARNING)
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    assert (await status_of(browser))["providers"]["partner"]["refresh_possible"] is False
    warning = next(r.getMessage() for r in caplog.records if "no refresh token" in r.getMessage())
    assert (
        'set NevisAuth.providers["partner"].extra_authorize_params '
        '($NEVIS_AUTH_PARTNER_EXTRA_AUTHORIZE_PARAMS) to {"prompt": "consent"}'
    ) in warning
    assert "set NevisAuth.extra_authorize_params" not in warning


@pytest.mark.parametrize("partner_options", [{"client_secret": "not-the-secret"}])
async def test_a_refusal_at_the_partner_names_the_partners_options(browser, redirect_uri, username):
    authorize = await browser.start_login_for("provider", "partner")
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    page = (await browser.callback(callback)).body.decode()
    assert "check NevisAuth.providers[&#34;partner&#34;].client_id" in page
    assert "NevisAuth.providers[&#34;partner&#34;].token_endpoint_auth_method" in page


def test_which_options_a_named_provider_inherits(monkeypatch: pytest.MonkeyPatch) -> None:
    top = NevisAuth(
        issuer="https://main.example",
        client_id="main",
        client_secret="main-secret",
        redirect_uri="https://jupyter.example/nevis/callback",
        extra_authorize_params={"prompt": "consent"},
        scopes=["openid", "main.read"],
        validate_cert=False,
        allowed_subjects=["alice"],
    )
    entry = {"issuer": "https://partner.example", "client_id": "jupyter", "client_secret": "s"}
    config, problems = named_config("partner", entry, top)
    assert config is not None, problems
    assert config.redirect_uri == top.redirect_uri
    assert config.extra_authorize_params == {"prompt": "consent"}
    # What describes the provider, or what is trusted of it, is its own.
    assert config.scopes == ["openid", "offline_access"]
    assert config.validate_cert is True and config.allowed_subjects == []
    # Its own value wins, from the configuration or from its own environment variable.
    own, _ = named_config("partner", {**entry, "extra_authorize_params": {}}, top)
    assert own is not None and own.extra_authorize_params == {}
    monkeypatch.setenv("NEVIS_AUTH_PARTNER_EXTRA_AUTHORIZE_PARAMS", '{"acr_values": "mfa"}')
    from_env, _ = named_config("partner", entry, top)
    assert from_env is not None and from_env.extra_authorize_params == {"acr_values": "mfa"}


def test_a_protection_of_the_top_level_left_unset_by_a_named_provider_is_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    top = NevisAuth(
        issuer="https://main.example",
        client_id="main",
        client_key_file="/etc/jupyter/client-key.json",
        profile="fapi2",
        dpop=True,
        providers={
            "partner": {"issuer": "https://partner.example", "client_id": "j", "client_secret": "s"}
        },
    )
    entry = top.providers["partner"]
    # Not inherited: another provider may not offer them.
    config, _ = named_config("partner", entry, top)
    assert config is not None and config.profile == "" and config.dpop is False
    with caplog.at_level(logging.WARNING):
        build_providers(top, logging.getLogger("test"))
    said = [r.getMessage() for r in caplog.records]
    assert said == unset_protections("partner", entry, top)
    assert said == [
        "NevisAuth.profile turns the FAPI 2.0 profile on for the top-level provider only: set "
        '"profile" in NevisAuth.providers["partner"] too (to "" to keep it off there).',
        'NevisAuth.dpop turns DPoP on for the top-level provider only: set "dpop" in '
        'NevisAuth.providers["partner"] too (to false to keep it off there).',
    ]
    # Set, in its entry or its own environment variable: nothing to say.
    assert unset_protections("partner", {**entry, "profile": "", "dpop": False}, top) == []
    monkeypatch.setenv("NEVIS_AUTH_PARTNER_PROFILE", "")
    monkeypatch.setenv("NEVIS_AUTH_PARTNER_DPOP", "false")
    assert unset_protections("partner", entry, top) == []


def test_the_named_provider_table_lists_every_provider_option() -> None:
    table = (DOCS / "reference" / "options.md").read_text().split("### Named providers")[1]
    listed = set(re.findall(r"`(\w+)`", table.split("An inherited option")[0]))
    assert set(PROVIDER_OPTIONS) <= listed, set(PROVIDER_OPTIONS) - listed


class TestAfterARestart:
    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
        """The two providers, their tokens kept in the encrypted file."""
        key = Fernet.generate_key().decode()
        return {
            **nevis_config,
            "token_store_class": EncryptedFileTokenStore,
            "store_path": str(tmp_path / "tokens.fernet"),
            "store_key": key,
        }

    async def test_the_status_says_how_each_api_token_was_obtained(
        self, browser, redirect_uri, username, jp_fetch, jp_serverapp
    ):
        await browser.sign_in(username, redirect_uri=redirect_uri)
        await sign_in_at(browser, "provider", "partner", username, redirect_uri)
        for api in ("models", "sales"):
            assert (await kernel_token(jp_fetch, jp_serverapp, api=api))[0] == 200
        before = (await status_of(browser))["apis"]
        assert before["models"]["obtained_by"] == "narrowed refresh"

        # What a restarted server knows: the token file, read by a new store and service.
        nevis = service(jp_serverapp)
        restarted = AuthCore(nevis.config, EncryptedFileTokenStore(parent=nevis.config))
        after = (await restarted.status(owner(jp_serverapp), urls.extension_pages("/")))["apis"]
        for api in ("models", "sales"):
            assert after[api]["ready"] is True
            assert after[api]["obtained_by"] == before[api]["obtained_by"], api


async def test_each_providers_scopes_are_those_its_token_answer_gave(
    browser, redirect_uri, username, jp_fetch, jp_serverapp
):
    # As docs/reference/endpoints.md says: the access token's scope, not the requested ones.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    status = await status_of(browser)
    for name in ("default", "partner"):
        code, answer = await kernel_token(jp_fetch, jp_serverapp, provider=name)
        assert code == 200
        assert status["providers"][name]["scopes"] == answer["scope"].split()
    # The test provider's access tokens carry only its resource server's scopes.
    assert status["providers"]["default"]["scopes"] == ["api"]
    assert status["providers"]["partner"]["scopes"] == []


@pytest.mark.parametrize("partner_client_options", [{"access_token_ttl": 20}])
async def test_min_ttl_is_kept_where_a_refresh_can_give_it(
    browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    second_oidc_provider,
    partner_client,
):
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    await asyncio.sleep(6.5)  # about 13 s left of 20: more than half, less than asked below
    before = second_oidc_provider.token_calls(partner_client.client_id, "refresh_token")
    code, answer = await kernel_token(jp_fetch, jp_serverapp, provider="partner", min_ttl="15")
    assert code == 200
    assert answer["expires_in"] >= 15
    assert second_oidc_provider.token_calls(partner_client.client_id, "refresh_token") == (
        before + 1
    )


@pytest.mark.parametrize("partner_client_options", [{"access_token_ttl": 20}])
async def test_a_min_ttl_no_token_can_have_is_said(
    browser, redirect_uri, username, jp_serverapp, monkeypatch
):
    await sign_in_at(browser, "provider", "partner", username, redirect_uri)
    for name, value in kernel_environment(jp_serverapp).items():
        monkeypatch.setenv(name, value)
    with pytest.warns(UserWarning, match=r"min_ttl=30\) answered a token with (1\d|20) s left"):
        token = await asyncio.to_thread(get_access_token, 30, provider="partner")
    assert 10 <= token.expires_at - time.time() <= 20
