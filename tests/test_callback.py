"""The callback's guard clauses and the login's `next` handling, against the real provider."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlparse

import pytest

from tests.conftest import Browser
from tests.support.provider import provider_login


def service(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["nevis_auth"]


async def stored(jp_serverapp: Any) -> Any:
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    return await service(jp_serverapp).tokens.store.get(owner)


def with_query(url: str, **changes: str | None) -> str:
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return parsed._replace(query=urlencode(query)).geturl()


async def provider_redirect(browser: Browser, redirect_uri: str, username: str, **kw: Any) -> str:
    authorize = await browser.start_login()
    return await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri, **kw
    )


def assert_error_page(response: Any, status: int, phrase: str) -> None:
    body = response.body.decode()
    assert response.code == status, body
    assert phrase in body
    assert "Traceback" not in body and 'File "' not in body
    assert "nevis/login" in body  # a link to try again


async def test_callback_headers_and_clean_redirect(browser, redirect_uri, username):
    callback = await provider_redirect(browser, redirect_uri, username)
    response = await browser.callback(callback)
    assert response.code == 302
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    location = response.headers["Location"]
    assert "code" not in location and "state" not in location


async def test_state_cookie_is_httponly_scoped_and_short_lived(browser, jp_base_url):
    await browser.start_login()
    (morsel,) = (m for n, m in browser.cookies.items() if n.startswith("nevis_auth_state_"))
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == jp_base_url + "nevis/"
    assert morsel["max-age"] == "600"


@pytest.mark.parametrize(
    "changes, status, phrase",
    [
        ({"state": None}, 400, "carries no state"),
        ({"state": "forged-state-value"}, 400, "expired or was already used"),
        ({"code": None}, 400, "carries no code"),
        ({"code": "tampered-code"}, 400, "did not accept the sign-in code"),
        ({"iss": "https://evil.example"}, 400, "another issuer"),
        ({"iss": None}, 400, "lacks the issuer"),
        ({"error": "server_error"}, 502, "could not complete the sign-in"),
    ],
)
async def test_bad_callbacks_are_refused_and_store_nothing(
    browser, redirect_uri, username, jp_serverapp, changes, status, phrase
):
    callback = await provider_redirect(browser, redirect_uri, username)
    response = await browser.callback(with_query(callback, **changes))
    assert_error_page(response, status, phrase)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert await stored(jp_serverapp) is None


@pytest.mark.parametrize("name", ["state", "code", "iss"])
async def test_repeated_parameters_are_refused(browser, redirect_uri, username, jp_serverapp, name):
    callback = await provider_redirect(browser, redirect_uri, username)
    query = parse_qsl(urlparse(callback).query)
    response = await browser.get("nevis", "callback", params=[*query, (name, dict(query)[name])])
    assert_error_page(response, 400, f"repeats {name}")
    assert await stored(jp_serverapp) is None


async def test_access_denied_at_the_provider(browser, redirect_uri, username, jp_serverapp):
    callback = await provider_redirect(browser, redirect_uri, username, deny=True)
    assert "error=access_denied" in callback
    response = await browser.callback(callback)
    assert_error_page(response, 403, "refused or cancelled")
    assert await stored(jp_serverapp) is None


async def test_state_is_single_use(browser, redirect_uri, username, jp_serverapp):
    callback = await provider_redirect(browser, redirect_uri, username)
    assert (await browser.callback(callback)).code == 302
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    await service(jp_serverapp).tokens.store.delete(owner)
    browser.cookies.clear()
    replay = await browser.callback(callback)
    assert_error_page(replay, 400, "expired or was already used")
    assert await stored(jp_serverapp) is None


async def test_state_is_bound_to_the_browser(
    browser, jp_fetch, redirect_uri, username, jp_serverapp
):
    callback = await provider_redirect(browser, redirect_uri, username)
    other = Browser(jp_fetch, type(browser.cookies)())
    response = await other.callback(callback)
    assert_error_page(response, 403, "started in another browser")
    assert await stored(jp_serverapp) is None
    # The rightful browser can still finish its sign-in.
    assert (await browser.callback(callback)).code == 302
    assert await stored(jp_serverapp) is not None


@pytest.fixture
def short_state(nevis_config):
    nevis_config["state_ttl"] = 1
    return nevis_config


async def test_state_expires(short_state, browser, redirect_uri, username, jp_serverapp):
    callback = await provider_redirect(browser, redirect_uri, username)
    await asyncio.sleep(1.2)
    response = await browser.callback(callback)
    assert_error_page(response, 400, "expired or was already used")
    assert await stored(jp_serverapp) is None


async def test_pkce_verifier_is_required_by_the_flow(browser, redirect_uri, username, jp_serverapp):
    """The provider requires PKCE: a callback whose pending verifier was swapped fails."""
    authorize = await browser.start_login()
    state = parse_qs(urlparse(authorize).query)["state"][0]
    pending = service(jp_serverapp).pending
    login = pending.peek(state)
    pending._pending[state] = dataclasses.replace(login, code_verifier="x" * 64)
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    response = await browser.callback(callback)
    assert_error_page(response, 400, "did not accept the sign-in code")
    assert await stored(jp_serverapp) is None


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/elsewhere/not-under-base",
        "http:evil.example",
        "/a%40b/../../evil",
        "/a%40b/%2e%2e/%2E%2E/evil",
        "/a%40b/%2e/%2e%2e/evil",
    ],
)
async def test_no_open_redirect_through_next(
    browser, redirect_uri, username, jp_base_url, next_url
):
    response = await browser.sign_in(username, redirect_uri=redirect_uri, next_url=next_url)
    assert response.code == 302
    assert response.headers["Location"] == jp_base_url


async def test_login_requires_a_jupyter_user(jp_fetch):
    response = await jp_fetch(
        "nevis", "login", headers={"Authorization": ""}, follow_redirects=False, raise_error=False
    )
    assert response.code in (302, 403)
    assert "auth/oauth2/authorize" not in response.headers.get("Location", "")


async def test_a_login_does_not_block_the_server(browser, redirect_uri, username, jp_fetch):
    """Many sign-ins in flight while the status API keeps answering at once."""
    started = time.monotonic()
    logins = [asyncio.ensure_future(browser.start_login()) for _ in range(20)]
    status = await jp_fetch("nevis", "api", "status")
    await asyncio.gather(*logins)
    assert status.code == 200
    assert time.monotonic() - started < 10
