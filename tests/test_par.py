"""Pushed authorization requests (RFC 9126) against the real provider, per-server mode."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient


@pytest.fixture(scope="module")
def par_provider() -> Iterator[OIDCTestProvider]:
    """A provider that advertises its PAR endpoint."""
    with OIDCTestProvider(par=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def par_requiring_provider() -> Iterator[OIDCTestProvider]:
    """A provider that says in discovery that it requires pushed authorization requests."""
    with OIDCTestProvider(par="required") as provider:
        yield provider


@pytest.fixture
def which_provider() -> str:
    """Which provider the server uses: par, required, or the session's (none)."""
    return "par"


@pytest.fixture
def use_par() -> str:
    """NevisAuth.use_par of the test's server."""
    return "auto"


@pytest.fixture
def provider(
    which_provider: str,
    oidc_provider: OIDCTestProvider,
    par_provider: OIDCTestProvider,
    par_requiring_provider: OIDCTestProvider,
) -> OIDCTestProvider:
    """The provider `which_provider` names."""
    return {"par": par_provider, "required": par_requiring_provider, "none": oidc_provider}[
        which_provider
    ]


@pytest.fixture
def oidc_client(provider: OIDCTestProvider, redirect_uri: str) -> RegisteredClient:
    """A client with a secret (client_secret_basic) at the chosen provider."""
    return provider.add_client([redirect_uri])


@pytest.fixture
def nevis_config(
    provider: OIDCTestProvider, oidc_client: RegisteredClient, use_par: str
) -> dict[str, Any]:
    """The server against the chosen provider, with `use_par`."""
    return oidc_client.nevis_settings(provider.issuer, http_timeout=5.0, use_par=use_par)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


async def test_the_browser_carries_only_client_id_and_request_uri(
    browser: Browser,
    redirect_uri: str,
    username: str,
    provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    url = await browser.start_login()
    assert url.startswith(provider.authorization_endpoint + "?")
    params = query(url)
    assert set(params) == {"client_id", "request_uri"}
    assert params["client_id"] == [oidc_client.client_id]
    assert params["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    stats = provider.stats(oidc_client.client_id)
    assert stats["par"]["ok"] == 1
    assert stats["client_auth"] == {"client_secret_basic": 1}

    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body
    assert provider.stats(oidc_client.client_id)["token"]["authorization_code"]["ok"] == 1


@pytest.mark.parametrize("use_par", ["never"])
async def test_never_sends_every_parameter_through_the_browser(
    use_par: str, browser: Browser, provider: OIDCTestProvider, oidc_client: RegisteredClient
):
    params = query(await browser.start_login())
    assert {"state", "nonce", "code_challenge", "redirect_uri", "scope"} <= set(params)
    assert "request_uri" not in params
    assert provider.stats(oidc_client.client_id)["par"]["total"] == 0


@pytest.mark.parametrize(("which_provider", "use_par"), [("none", "auto")])
async def test_auto_without_a_par_endpoint_sends_the_parameters(
    which_provider: str, use_par: str, browser: Browser, redirect_uri: str, username: str
):
    assert "state" in query(await browser.start_login())
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body


def sentence(response: Any) -> str:
    return html.unescape(response.body.decode())


@pytest.mark.parametrize(
    ("which_provider", "use_par", "phrase"),
    [
        (
            "none",
            "always",
            "The provider advertises no pushed authorization request endpoint, which sign-ins "
            "need because NevisAuth.use_par is always; set NevisAuth.par_url ($NEVIS_AUTH_PAR_URL)"
            " if it has one.",
        ),
        (
            "required",
            "never",
            "The provider requires pushed authorization requests "
            "(require_pushed_authorization_requests); unset NevisAuth.use_par "
            "($NEVIS_AUTH_USE_PAR).",
        ),
    ],
)
async def test_a_sign_in_that_cannot_be_made_as_configured_is_refused_with_a_sentence(
    which_provider: str,
    use_par: str,
    phrase: str,
    browser: Browser,
    provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    response = await browser.get("nevis", "login")
    assert response.code == 503
    assert phrase in sentence(response)
    assert "Traceback" not in sentence(response)
    assert provider.stats(oidc_client.client_id)["par"]["total"] == 0


@pytest.mark.parametrize("which_provider", ["required"])
async def test_a_provider_that_requires_par_gets_it_on_auto(
    which_provider: str,
    browser: Browser,
    redirect_uri: str,
    username: str,
):
    assert set(query(await browser.start_login())) == {"client_id", "request_uri"}
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body


@pytest.fixture
def wrong_redirect_client(provider: OIDCTestProvider) -> RegisteredClient:
    """A client whose one redirect URI is not this server's."""
    return provider.add_client(["http://127.0.0.1:9/elsewhere"])


async def test_a_pushed_request_the_provider_refuses_is_one_sentence(
    browser: Browser, jp_serverapp: Any, wrong_redirect_client: RegisteredClient
):
    service = jp_serverapp.web_app.settings["nevis_auth"]
    service.config.client_id = wrong_redirect_client.client_id
    service.config.client_secret = wrong_redirect_client.client_secret
    response = await browser.get("nevis", "login")
    assert response.code == 503
    text = sentence(response)
    assert (
        "The provider refused the sign-in request (invalid_request); ask your administrator "
        "to check NevisAuth.redirect_uri"
    ) in text
    # What the provider said of it, which names the URI.
    assert re.search(r"The provider said: \u201c[^\u201d]*redirect_uri", text), text
    assert "Traceback" not in text
    assert not service.pending.live()
