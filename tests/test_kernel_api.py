"""nevis/api/token and nevis/api/token/status: kernel secret only; tokens, reasons, errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from http.cookies import SimpleCookie
from typing import Any

import pytest

from jupyter_nevis_auth.protocol import LEGACY_SECRET_HEADER, SECRET_SCHEME, secret_header
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient


def secret_of(jp_serverapp: Any) -> str:
    return jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]  # type: ignore[no-any-return]


async def stored(jp_serverapp: Any) -> Any:
    settings = jp_serverapp.web_app.settings
    return await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])


async def kernel_call(
    jp_fetch: Any,
    *parts: str,
    secret: str | None,
    method: str = "GET",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], Any]:
    """Call a kernel endpoint the way a kernel does: the secret header, no Jupyter credentials."""
    sent = {"Authorization": "", **(headers or {})}
    if secret is not None:
        sent.update(secret_header(secret))
    response = await jp_fetch(
        "nevis",
        "api",
        "token",
        *parts,
        method=method,
        params=params,
        headers=sent,
        raise_error=False,
        allow_nonstandard_methods=True,
    )
    return response.code, json.loads(response.body or b"{}"), response


async def test_serves_the_signed_in_users_tokens(
    browser: Browser, redirect_uri, username, jp_fetch, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)

    code, body, response = await kernel_call(jp_fetch, secret=secret_of(jp_serverapp))

    assert code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert body["access_token"] == tokens.access_token
    assert body["id_token"] == tokens.id_token
    assert body["token_type"] == "Bearer"
    assert body["expires_at"] == tokens.expires_at
    assert 250 < body["expires_in"] <= 300
    assert body["scope"] == "api"
    assert body["claims"]["sub"] == username
    assert "nonce" not in body["claims"]
    assert "refresh_token" not in body and tokens.refresh_token not in response.body.decode()


def jupyter_cookie(response: Any) -> str:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return "; ".join(f"{k}={m.value}" for k, m in jar.items())


async def test_a_jupyter_cookie_or_token_is_not_enough(
    browser: Browser, redirect_uri, username, jp_fetch, jp_serverapp, jp_auth_header
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    # A token in the URL makes Jupyter set its login cookie, as when a person opens the server.
    token = jp_auth_header["Authorization"].split()[1]
    opened = await jp_fetch("api", "me", params={"token": token}, headers={"Authorization": ""})
    cookie = jupyter_cookie(opened)
    assert (
        await jp_fetch("api", "me", headers={"Authorization": "", "Cookie": cookie})
    ).code == 200

    secret = secret_of(jp_serverapp)
    attempts: list[dict[str, Any]] = [
        {"secret": None, "headers": {"Cookie": cookie}},
        {"secret": None, "headers": jp_auth_header},
        {"secret": ""},
        {"secret": "wrong", "headers": {"Cookie": cookie}},
        {"secret": secret[:-1]},
        {"secret": secret + "x"},
        # The secret in another scheme, or in none, is no secret.
        *(
            {"secret": None, "headers": {"Authorization": value}}
            for value in (f"token {secret}", f"Bearer {secret}", secret, f"{SECRET_SCHEME}{secret}")
        ),
    ]
    for attempt in attempts:
        for parts in ((), ("status",)):
            code, body, response = await kernel_call(jp_fetch, *parts, **attempt)
            assert code == 403, attempt
            assert body["message"] == "This endpoint is only for kernels of this server."
            assert tokens.access_token not in response.body.decode()
        code, _, _ = await kernel_call(jp_fetch, method="DELETE", **attempt)
        assert code == 403
    assert await stored(jp_serverapp) is tokens


async def test_signed_out_answers_401_with_the_reason_and_login_url(
    browser: Browser, redirect_uri, username, jp_fetch, jp_serverapp, jp_base_url
):
    secret = secret_of(jp_serverapp)
    code, body, response = await kernel_call(jp_fetch, secret=secret)
    assert code == 401
    assert response.headers["Cache-Control"] == "no-store"
    assert body == {
        "error": "login_required",
        "message": "You are not signed in; sign in first.",
        "login_url": jp_base_url + "nevis/login",
        # What the sign-in is for: the default provider's own tokens.
        "api": None,
        "provider": "default",
        "scopes": [],
    }

    await browser.sign_in(username, redirect_uri=redirect_uri)
    assert (await kernel_call(jp_fetch, secret=secret))[0] == 200
    code, body, _ = await kernel_call(jp_fetch, method="DELETE", secret=secret)
    assert code == 200
    assert body["logged_in"] is False
    assert await stored(jp_serverapp) is None

    code, body, _ = await kernel_call(jp_fetch, secret=secret)
    assert (code, body["message"]) == (401, "You signed out.")


@pytest.fixture
def client_options() -> dict[str, Any]:
    return {"access_token_ttl": 300}


async def test_min_ttl_and_force_refresh_refresh_first(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    secret = secret_of(jp_serverapp)
    # As if the 300 s token had been issued 200 s ago.
    settings = jp_serverapp.web_app.settings
    tokens = await stored(jp_serverapp)
    now = time.time()
    aged = dataclasses.replace(tokens, obtained_at=now - 200, expires_at=now + 100)
    await settings["nevis_auth"].tokens.store.set(settings["nevis_auth_owner"], aged)

    def refreshes() -> int:
        return oidc_provider.token_calls(oidc_client.client_id, "refresh_token")

    first = (await kernel_call(jp_fetch, secret=secret, params={"min_ttl": "60"}))[1]
    assert refreshes() == 0
    assert first["access_token"] == tokens.access_token
    second = (await kernel_call(jp_fetch, secret=secret, params={"min_ttl": "120"}))[1]
    assert refreshes() == 1
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] > 290
    third = (await kernel_call(jp_fetch, secret=secret, params={"force_refresh": "1"}))[1]
    assert refreshes() == 2
    assert third["access_token"] not in (first["access_token"], second["access_token"])


@pytest.mark.parametrize("min_ttl", ["soon", "-1", "inf", "nan", ""])
async def test_bad_min_ttl_is_refused(jp_fetch, jp_serverapp, min_ttl):
    code, body, _ = await kernel_call(
        jp_fetch, secret=secret_of(jp_serverapp), params={"min_ttl": min_ttl}
    )
    assert (code, body["error"]) == (400, "invalid_request")


async def test_a_provider_refusal_is_a_502_with_a_sentence(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    # The application's secret was rotated at the provider: refreshes are refused.
    oidc_provider.add_client(
        oidc_client.redirect_uris, client_id=oidc_client.client_id, client_secret="rotated"
    )

    code, body, response = await kernel_call(
        jp_fetch, secret=secret_of(jp_serverapp), params={"force_refresh": "1"}
    )

    assert code == 502
    assert body["error"] == "provider_error"
    # Who fixes it, and what: not "the provider refused the request".
    assert body["message"] == (
        "The provider did not accept this server's client credentials (invalid_client); ask "
        "your administrator to check NevisAuth.client_id, NevisAuth.client_secret (or "
        "client_secret_file) and NevisAuth.token_endpoint_auth_method."
    )
    assert tokens.access_token not in response.body.decode()
    assert tokens.refresh_token not in response.body.decode()


async def test_status_is_the_browsers_status(
    browser: Browser, redirect_uri, username, jp_fetch, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)

    code, body, response = await kernel_call(jp_fetch, "status", secret=secret_of(jp_serverapp))

    assert code == 200
    assert response.headers["Cache-Control"] == "no-store"
    from_browser = json.loads((await browser.get("nevis", "api", "status")).body)
    assert body.keys() == from_browser.keys()
    assert body["claims"] == from_browser["claims"]
    assert body["logged_in"] is True
    assert tokens.access_token not in response.body.decode()


class TestNoUnauthenticatedAccess:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: dict[str, Any]) -> dict[str, Any]:
        jp_server_config["ServerApp"]["allow_unauthenticated_access"] = False
        return jp_server_config

    async def test_the_secret_alone_still_works(self, jp_fetch, jp_serverapp):
        assert (await kernel_call(jp_fetch, secret=secret_of(jp_serverapp)))[0] == 401
        assert (await kernel_call(jp_fetch, "status", secret=secret_of(jp_serverapp)))[0] == 200
        assert (await kernel_call(jp_fetch, secret=None))[0] == 403

    async def test_a_page_refusing_a_request_without_credentials_says_why(self, jp_fetch):
        # Jupyter Server refuses it (403) before the extension's handler runs, giving no reason.
        response = await jp_fetch(
            "nevis", "api", "status", headers={"Authorization": ""}, raise_error=False
        )
        assert response.code == 403
        assert json.loads(response.body) == {
            "error": "request_refused",
            "message": (
                "The request was refused before jupyter-nevis-auth saw it: sign in to Jupyter "
                "first."
            ),
        }


async def test_the_scheme_is_read_as_any_case_and_the_old_header_still_works(
    jp_fetch, jp_serverapp
):
    secret = secret_of(jp_serverapp)
    headers = {"Authorization": f"{SECRET_SCHEME.upper()}  {secret}"}
    assert (await kernel_call(jp_fetch, "status", secret=None, headers=headers))[0] == 200
    # Sent by the kernel helper of earlier versions (another environment's).
    headers = {LEGACY_SECRET_HEADER: secret}
    assert (await kernel_call(jp_fetch, "status", secret=None, headers=headers))[0] == 200


class TestUnderJupyterHubsRequestLog:
    """JupyterHub's single-user server logs a 5xx's request headers, hiding only
    Authorization's and Cookie's values."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config: dict[str, Any]) -> dict[str, Any]:
        # As jupyterhub-singleuser sets it.
        log_request = pytest.importorskip("jupyterhub.log").log_request
        jp_server_config["ServerApp"]["tornado_settings"] = {"log_function": log_request}
        return jp_server_config

    @pytest.mark.parametrize("legacy", [False, True], ids=["kernel", "earlier kernel"])
    async def test_a_500_writes_no_kernel_secret_in_the_log(
        self, jp_fetch, jp_serverapp, caplog, monkeypatch, legacy: bool
    ):
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("nobody planned this")

        monkeypatch.setattr(jp_serverapp.web_app.settings["nevis_auth"].tokens, "fresh", fail)
        caplog.set_level(logging.DEBUG, logger="tornado.access")
        secret = secret_of(jp_serverapp)
        sent = (
            {"secret": None, "headers": {LEGACY_SECRET_HEADER: secret}}
            if legacy
            else {"secret": secret}
        )
        code, body, _ = await kernel_call(jp_fetch, **sent)

        assert code == 500 and body["error"] == "internal_error"
        logged = caplog.text
        assert '"Host": ' in logged  # the request's headers were written
        assert secret not in logged
        if not legacy:
            assert f'"Authorization": "{SECRET_SCHEME} [secret]"' in logged
