"""nevis/logout: a confirmed POST (xsrf) that drops, revokes and can end the provider session."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from jupyter_server.utils import url_path_join
from tornado.escape import url_escape
from tornado.httpclient import HTTPResponse

from jupyter_nevis_auth.errors import LoginRequiredError
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, provider_login, provider_logout

Fetch = Callable[..., Awaitable[HTTPResponse]]


@pytest.fixture
def cookie_fetch(http_server_client: Any, jp_base_url: str) -> Fetch:
    """Like jp_fetch, but authenticated only by the cookies sent, as a web browser is."""

    def fetch(*parts: str, params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        path = url_path_join(jp_base_url, url_escape(url_path_join(*parts), plus=False))
        query = "?" + urlencode(params) if params else ""
        return http_server_client.fetch(path + query, **kwargs)

    return fetch


def service(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["nevis_auth"]


async def stored(jp_serverapp: Any) -> Any:
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    return await service(jp_serverapp).tokens.store.get(owner)


async def post_logout(fetch: Fetch, fields: dict[str, str], cookies: str = "") -> HTTPResponse:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookies:
        headers["Cookie"] = cookies
    return await fetch(
        "nevis",
        "logout",
        method="POST",
        body=urlencode(fields),
        headers=headers,
        follow_redirects=False,
        raise_error=False,
    )


def refresh_at_provider(provider: OIDCTestProvider, client: Any, refresh_token: str) -> Any:
    with requests.post(
        provider.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client.client_id, client.client_secret),
        timeout=10,
    ) as response:
        return response.status_code, response.json().get("error")


async def test_sign_out_is_a_confirmed_post_carrying_the_xsrf_token(
    browser, cookie_fetch, redirect_uri, username, jp_serverapp, jp_base_url
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    in_browser = Browser(cookie_fetch, browser.cookies)

    page = await in_browser.get("nevis", "logout")
    body = page.body.decode()
    assert page.code == 200 and page.headers["Cache-Control"] == "no-store"
    assert f"signed in as {username.capitalize()} Example" in body
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', body)
    assert xsrf and "_xsrf" in in_browser.cookies
    assert await stored(jp_serverapp) is not None

    # A form posted from another site carries the cookies but cannot know the token.
    forged = await post_logout(cookie_fetch, {}, in_browser.cookie_header())
    assert forged.code == 403
    assert await stored(jp_serverapp) is not None

    done = await post_logout(cookie_fetch, {"_xsrf": xsrf.group(1)}, in_browser.cookie_header())
    assert done.code == 302
    assert done.headers["Location"] == jp_base_url + "nevis/logout"
    assert await stored(jp_serverapp) is None
    after = await in_browser.get("nevis", "logout")
    assert after.code == 200
    assert b"Signed out" in after.body and b"You signed out." in after.body
    assert b"nevis/login" in after.body


async def test_sign_out_revokes_the_refresh_token(
    browser, jp_fetch, redirect_uri, username, jp_serverapp, oidc_provider, oidc_client, caplog
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)

    with caplog.at_level("INFO"):
        response = await post_logout(jp_fetch, {})
    # The test provider cannot revoke its JWT access tokens: said once, with its error code,
    # not as a warning, since the refresh token's revocation ended the grant.
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "revo" in r.getMessage()]
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    assert said == [
        (
            "INFO",
            f"The provider did not revoke an access token of {owner} (The provider's "
            "revocation endpoint answered with HTTP status 400 (unsupported_token_type)).",
        )
    ]

    assert response.code == 302
    assert await stored(jp_serverapp) is None
    assert oidc_provider.stats(oidc_client.client_id)["revocation"]["ok"] >= 1
    assert refresh_at_provider(oidc_provider, oidc_client, tokens.refresh_token) == (
        400,
        "invalid_grant",
    )
    status = await browser.get("nevis", "api", "status")
    assert b'"signed_out_reason": "You signed out."' in status.body


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [("lab/tree/a.ipynb", "lab/tree/a.ipynb"), ("https://evil.example/", ""), ("//evil", "")],
)
async def test_next_after_sign_out_stays_on_this_server(
    browser, jp_fetch, redirect_uri, username, jp_base_url, next_url, expected
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    target = jp_base_url + next_url if next_url.startswith("lab") else next_url
    response = await post_logout(jp_fetch, {"next": target})
    assert response.code == 302
    assert response.headers["Location"] == jp_base_url + expected


class TestSignOutDuringARefresh:
    @pytest.fixture
    def oidc_provider(self) -> Iterator[OIDCTestProvider]:
        with OIDCTestProvider() as provider:
            yield provider

    @pytest.fixture
    def client_options(self) -> dict[str, Any]:
        return {"rotate_refresh_token": True}

    async def test_stays_signed_out_and_revokes_the_newest_refresh_token(
        self, browser, redirect_uri, username, jp_serverapp, oidc_provider, oidc_client
    ):
        await browser.sign_in(username, redirect_uri=redirect_uri)
        nevis = service(jp_serverapp)
        owner = jp_serverapp.web_app.settings["nevis_auth_owner"]

        # Frozen, the provider holds the refresh request until the sign-out has begun.
        pid = oidc_provider._process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            refreshing = asyncio.ensure_future(nevis.tokens.fresh(owner, force=True))
            await asyncio.sleep(0.2)
            signing_out = asyncio.ensure_future(nevis.logout(owner))
            await asyncio.sleep(0.2)
        finally:
            os.kill(pid, signal.SIGCONT)
        newest = await refreshing
        await signing_out

        assert await stored(jp_serverapp) is None
        with pytest.raises(LoginRequiredError):
            await nevis.tokens.fresh(owner)
        assert refresh_at_provider(oidc_provider, oidc_client, newest.refresh_token) == (
            400,
            "invalid_grant",
        )


class TestProviderDown:
    @pytest.fixture
    def oidc_provider(self) -> Iterator[OIDCTestProvider]:
        with OIDCTestProvider() as provider:
            yield provider

    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "http_timeout": 2.0}

    async def test_a_failed_revocation_still_signs_out(
        self, browser, jp_fetch, redirect_uri, username, jp_serverapp, oidc_provider
    ):
        await browser.sign_in(username, redirect_uri=redirect_uri)
        oidc_provider.stop()

        started = time.monotonic()
        response = await post_logout(jp_fetch, {})

        assert time.monotonic() - started < 3
        assert response.code == 302
        assert await stored(jp_serverapp) is None


class TestLogoutAtProvider:
    @pytest.fixture
    def back(self, redirect_uri: str) -> str:
        return redirect_uri.replace("/nevis/callback", "/nevis/logout")

    @pytest.fixture
    def client_options(self, back: str) -> dict[str, Any]:
        return {"post_logout_redirect_uris": [back]}

    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "logout_at_provider": True}

    async def test_round_trip_through_the_provider_logout(
        self,
        browser,
        jp_fetch,
        redirect_uri,
        username,
        back,
        jp_serverapp,
        oidc_provider,
        oidc_client,
    ):
        with requests.Session() as at_provider:
            authorize = await browser.start_login()
            callback = await asyncio.to_thread(
                provider_login,
                authorize,
                username,
                redirect_prefix=redirect_uri,
                session=at_provider,
            )
            assert (await browser.callback(callback)).code == 302
            tokens = await stored(jp_serverapp)

            response = await post_logout(jp_fetch, {})

            assert response.code == 302
            location = response.headers["Location"]
            assert location.startswith(oidc_provider.end_session_endpoint + "?")
            assert parse_qs(urlparse(location).query) == {
                "client_id": [oidc_client.client_id],
                "post_logout_redirect_uri": [back],
                "id_token_hint": [tokens.id_token],
                "return_to": [back],
            }
            assert await stored(jp_serverapp) is None
            returned = await asyncio.to_thread(provider_logout, location, session=at_provider)
            assert returned == back
            page = await browser.get("nevis", "logout")
            assert page.code == 200 and b"Signed out" in page.body

            # The provider's own session has ended too: a silent sign-in is refused.
            silent = urlparse(await browser.start_login())
            query = {k: v[0] for k, v in parse_qs(silent.query).items()} | {"prompt": "none"}
            answer = await asyncio.to_thread(
                provider_login,
                silent._replace(query=urlencode(query)).geturl(),
                username,
                redirect_prefix=redirect_uri,
                session=at_provider,
            )
            assert parse_qs(urlparse(answer).query)["error"] == ["login_required"]
