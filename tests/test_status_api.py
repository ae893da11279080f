"""nevis/api/status for frontends: a change marker (ETag) and who ended a sign-in."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import pytest
import requests

from jupyter_nevis_auth.core.refresh import SIGNED_OUT_AT_PROVIDER
from jupyter_nevis_auth.core.status import revision
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient


@pytest.fixture
def client_options() -> dict[str, Any]:
    return {"access_token_ttl": 600}


async def get_status(browser: Browser, etag: str | None = None) -> Any:
    headers = {"Cookie": browser.cookie_header()} if browser.cookies else {}
    if etag:
        headers["If-None-Match"] = etag
    return await browser.fetch(
        "nevis", "api", "status", headers=headers, follow_redirects=False, raise_error=False
    )


async def stored_tokens(jp_serverapp: Any) -> Any:
    settings = jp_serverapp.web_app.settings
    return await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])


def test_revision_ignores_the_seconds_ticking_away():
    status = {
        "logged_in": True,
        "expires_at": 100.0,
        "expires_in": 50.0,
        "providers": {"default": {"expires_in": 49.0}},
        "apis": {},
    }
    later = {**status, "expires_in": 10.0, "providers": {"default": {"expires_in": 9.0}}}
    assert revision(status) == revision(later)
    assert revision(status) != revision({**status, "expires_at": 160.0})
    assert revision(status) != revision({**status, "logged_in": False})


async def test_unchanged_status_answers_304_until_the_sign_in_changes(
    browser: Browser, redirect_uri: str, username: str, jp_serverapp: Any
):
    first = await get_status(browser)
    assert first.code == 200
    etag = first.headers["Etag"]
    assert first.headers["Cache-Control"] == "no-store"

    unchanged = await get_status(browser, etag)
    assert unchanged.code == 304 and unchanged.body == b""

    await browser.sign_in(username, redirect_uri=redirect_uri)
    signed_in = await get_status(browser, etag)
    assert signed_in.code == 200
    assert json.loads(signed_in.body)["logged_in"] is True
    new_etag = signed_in.headers["Etag"]
    assert new_etag != etag

    # Seconds pass, expires_in shrinks, the marker stays.
    await asyncio.sleep(1.1)
    assert (await get_status(browser, new_etag)).code == 304

    # Nothing the frontend reads ever holds a token.
    tokens = await stored_tokens(jp_serverapp)
    body = signed_in.body.decode()
    for secret in (tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert secret and secret not in body

    await browser.get("nevis", "logout")  # the confirmation page: nothing changes yet
    assert (await get_status(browser, new_etag)).code == 304


async def test_signed_out_by_provider_tells_a_revoked_grant_from_a_sign_out(
    browser: Browser,
    redirect_uri: str,
    username: str,
    jp_serverapp: Any,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    body = json.loads((await get_status(browser)).body)
    assert body["signed_out_by_provider"] is False

    tokens = await stored_tokens(jp_serverapp)
    revoked = requests.post(
        oidc_provider.revocation_endpoint,
        data={"token": tokens.refresh_token, "token_type_hint": "refresh_token"},
        auth=(oidc_client.client_id, oidc_client.client_secret),
        timeout=10,
    )
    assert revoked.status_code == 200
    settings = jp_serverapp.web_app.settings
    expired = dataclasses.replace(tokens, expires_at=time.time() - 1)
    await settings["nevis_auth"].tokens.store.set(settings["nevis_auth_owner"], expired)

    body = json.loads((await get_status(browser)).body)
    assert body["logged_in"] is False
    assert body["signed_out_reason"] == SIGNED_OUT_AT_PROVIDER
    assert body["signed_out_by_provider"] is True
    assert body["providers"]["default"]["signed_out_by_provider"] is True

    await browser.sign_in(username, redirect_uri=redirect_uri)
    await settings["nevis_auth"].logout(settings["nevis_auth_owner"])
    body = json.loads((await get_status(browser)).body)
    assert (body["logged_in"], body["signed_out_by_provider"]) == (False, False)


async def test_done_and_signed_out_pages_tell_the_other_tabs(
    browser: Browser, redirect_uri: str, username: str, jp_base_url: str
):
    channel = json.dumps("jupyter-nevis-auth:" + jp_base_url)
    await browser.sign_in(username, redirect_uri=redirect_uri)
    done = await browser.get("nevis", "done")
    assert done.code == 200
    assert f"new BroadcastChannel({channel}).postMessage" in done.body.decode()

    confirm = await browser.get("nevis", "logout")
    assert "BroadcastChannel" not in confirm.body.decode()
    await sign_out_with_form(browser)
    signed_out = await browser.get("nevis", "logout")
    assert b"Signed out" in signed_out.body
    assert f"new BroadcastChannel({channel})" in signed_out.body.decode()


async def sign_out_with_form(browser: Browser) -> None:
    """Sign out as the sign-out page's form does (a POST with the xsrf token)."""
    xsrf = browser.cookies["_xsrf"].value
    response = await browser.fetch(
        "nevis",
        "logout",
        method="POST",
        body=f"_xsrf={xsrf}",
        headers={"Cookie": browser.cookie_header()},
        follow_redirects=False,
        raise_error=False,
    )
    assert response.code == 302
