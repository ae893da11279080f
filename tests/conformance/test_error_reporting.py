"""Failures say what happened and who can fix it; sign-out says whether it revoked anything."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from jupyter_nevis_auth.protocol import secret_header
from tests.conformance.conftest import assert_error_page, service, sign_in, signed_in, status
from tests.conformance.fake_op import REMOVE, FakeOP


async def provider_error(browser, op: FakeOP, error: str, description: str | None = None):
    """Start a sign-in, then come back from the provider with `error` instead of a code."""
    authorize = await browser.start_login()
    params = {"error": error, "state": parse_qs(urlparse(authorize).query)["state"][0]}
    if description is not None:
        params["error_description"] = description
    return await browser.get("nevis", "callback", params=params)


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every log line of the test so far, as one text."""
    return "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)


# -- a refused sign-in says why and who can fix it ----------------------------------------

AUTHORIZE_ERRORS = [
    # error, status, a phrase of the page
    ("access_denied", 403, "refused or cancelled at the provider (access_denied); try again"),
    ("login_required", 403, "refused or cancelled"),
    ("server_error", 502, "(server_error); try again later"),
    ("temporarily_unavailable", 502, "(temporarily_unavailable); try again later"),
    ("invalid_request", 503, "NevisAuth.redirect_uri"),
    ("unauthorized_client", 503, "allow the authorization code grant for NevisAuth.client_id"),
    ("unsupported_response_type", 503, "response type code"),
    ("invalid_client", 503, "NevisAuth.client_id"),
    ("invalid_scope", 503, "NevisAuth.scopes ($NEVIS_AUTH_SCOPES)"),
    ("some_new_error", 503, "(some_new_error); ask your administrator"),
]


@pytest.mark.parametrize(
    "error, code, phrase", AUTHORIZE_ERRORS, ids=[e[0] for e in AUTHORIZE_ERRORS]
)
async def test_authorization_errors_name_the_cause_and_the_fix(
    browser, op: FakeOP, jp_serverapp, caplog, error: str, code: int, phrase: str
):
    response = await provider_error(browser, op, error)
    assert_error_page(response, code, phrase)
    body = response.body.decode()
    transient = error in ("server_error", "temporarily_unavailable")
    assert ("try again later" in body) == transient
    assert phrase.split(";")[0] in server_log(caplog)


async def test_invalid_scope_names_the_scopes_the_provider_does_not_offer(
    browser, op: FakeOP, jp_serverapp
):
    service(jp_serverapp).config.scopes = ["openid", "offline_access", "sales.read"]
    response = await provider_error(browser, op, "invalid_scope")
    assert_error_page(response, 503, "it does not offer sales.read")
    assert "openid offline_access sales.read" in response.body.decode()


async def test_invalid_scope_says_when_the_provider_lists_no_scopes(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"scopes_supported": REMOVE}
    response = await provider_error(browser, op, "invalid_scope")
    assert_error_page(response, 503, "does not publish which scopes it offers")


async def test_error_description_is_shown_escaped_and_shortened(browser, op: FakeOP, jp_serverapp):
    description = "<script>alert(1)</script>\r\nInjected: " + "x" * 500
    response = await provider_error(browser, op, "invalid_request", description)
    body = response.body.decode()
    assert_error_page(response, 503, "The provider said")
    assert "<script>alert" not in body and "&lt;script&gt;" in body
    assert "x" * 200 not in body and "x" * 150 in body
    assert "\r\nInjected" not in body


@pytest.mark.parametrize(
    "error, phrase",
    [
        ("invalid_client", "NevisAuth.client_secret"),
        ("unauthorized_client", "NevisAuth.client_id"),
        ("invalid_scope", "NevisAuth.scopes"),
        ("temporarily_unavailable", "try again later"),
        ("invalid_grant", "sign in again"),
    ],
)
async def test_token_endpoint_errors_name_the_fix(
    browser, op: FakeOP, jp_serverapp, caplog, error: str, phrase: str
):
    op.token_errors = {"authorization_code": (400, error)}
    response = await sign_in(browser, op)
    assert_error_page(
        response,
        400 if error == "invalid_grant" else 502 if error == "temporarily_unavailable" else 503,
        phrase,
    )
    assert phrase in server_log(caplog)


# -- scopes the provider does not offer -------------------------------------------------


async def test_offline_access_is_not_requested_where_the_provider_does_not_offer_it(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"scopes_supported": ["openid", "profile"]}
    authorize = await browser.start_login()
    scope = parse_qs(urlparse(authorize).query)["scope"][0].split()
    assert "offline_access" not in scope and "openid" in scope


async def test_offline_access_is_requested_where_the_provider_lists_no_scopes(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"scopes_supported": REMOVE}
    authorize = await browser.start_login()
    assert "offline_access" in parse_qs(urlparse(authorize).query)["scope"][0].split()


async def test_start_check_names_unoffered_scopes_and_missing_revocation(
    op: FakeOP, jp_serverapp, caplog
):
    nevis = service(jp_serverapp)
    nevis.config.scopes = ["openid", "offline_access", "sales.read"]
    op.discovery_changes = {
        "scopes_supported": ["openid", "profile"],
        "revocation_endpoint": REMOVE,
    }
    found = await nevis.check_provider()
    assert any("sales.read" in f and "scopes_supported" in f for f in found), found
    assert any("offline_access" in f and "not requested" in f for f in found), found
    assert any("cannot revoke tokens" in f for f in found), found
    log = server_log(caplog)
    assert "sales.read" in log and "cannot revoke tokens" in log


async def test_start_check_is_quiet_for_a_provider_that_offers_everything(op: FakeOP, jp_serverapp):
    assert await service(jp_serverapp).check_provider() == []


async def test_the_server_start_runs_the_check(op: FakeOP, jp_serverapp, caplog):
    op.discovery_changes = {"revocation_endpoint": REMOVE}
    caplog.set_level(logging.WARNING)
    extension = jp_serverapp.extension_manager.extension_apps["jupyter_nevis_auth"]
    (app,) = extension
    await app._start_jupyter_server_extension(jp_serverapp)
    await app._provider_check
    assert "cannot revoke tokens" in server_log(caplog)


# -- sign-out finds the revocation endpoint, or says it cannot revoke -----------------------


@pytest.mark.parametrize("form", ["standard", "common"])
async def test_revocation_endpoint_from_oauth_server_metadata(
    browser, op: FakeOP, jp_serverapp, form: str
):
    op.discovery_changes = {"revocation_endpoint": REMOVE}
    op.oauth_metadata[form] = {"issuer": op.issuer, "revocation_endpoint": op.url("revoke")}
    tokens = await signed_in(browser, op, jp_serverapp)
    await service(jp_serverapp).logout(jp_serverapp.web_app.settings["nevis_auth_owner"])
    revoked = [c.args["token"] for c in op.calls("revoke")]
    assert tokens.refresh_token in revoked
    paths = [c.path for c in op.calls("oauth-metadata")]
    assert paths[0] == "/.well-known/oauth-authorization-server/op"


async def test_oauth_server_metadata_of_another_issuer_is_not_used(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"revocation_endpoint": REMOVE}
    op.oauth_metadata["standard"] = {
        "issuer": "https://evil.example",
        "revocation_endpoint": op.url("revoke"),
    }
    await signed_in(browser, op, jp_serverapp)
    await service(jp_serverapp).logout(jp_serverapp.web_app.settings["nevis_auth_owner"])
    assert op.calls("revoke") == []


async def test_without_revocation_the_signed_out_page_says_tokens_stay_valid(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"revocation_endpoint": REMOVE}
    await signed_in(browser, op, jp_serverapp)
    page = await browser.get("nevis", "logout")
    form = page.body.decode()
    xsrf = form.split('name="_xsrf" value="')[1].split('"')[0]
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
    assert urlparse(response.headers["Location"]).path.endswith("/nevis/logout")
    signed_out = await browser.get("nevis", "logout")
    assert "stay valid at the provider until they expire" in signed_out.body.decode()
    assert op.calls("revoke") == []


# -- the sign-out form lands on the signed-out page -----------------------------------


async def test_the_sign_out_form_lands_on_the_signed_out_page(browser, op: FakeOP, jp_serverapp):
    await signed_in(browser, op, jp_serverapp)
    page = (await browser.get("nevis", "logout")).body.decode()
    assert 'name="next"' not in page
    xsrf = page.split('name="_xsrf" value="')[1].split('"')[0]
    response = await browser.fetch(
        "nevis",
        "logout",
        method="POST",
        body=f"_xsrf={xsrf}",
        headers={"Cookie": browser.cookie_header()},
        follow_redirects=False,
        raise_error=False,
    )
    assert urlparse(response.headers["Location"]).path.endswith("/nevis/logout")
    signed_out = (await browser.get("nevis", "logout")).body.decode()
    assert "Signed out" in signed_out and "You signed out." in signed_out


async def test_the_sign_out_form_keeps_a_given_next(browser, op: FakeOP, jp_serverapp, jp_base_url):
    await signed_in(browser, op, jp_serverapp)
    page = await browser.get("nevis", "logout", params={"next": jp_base_url + "lab"})
    assert f'name="next" value="{jp_base_url}lab"' in page.body.decode()


# -- a sign-in without a refresh token says so -------------------------------------------


async def test_a_sign_in_without_refresh_token_says_it_ends_with_the_access_token(
    browser, op: FakeOP, jp_serverapp, caplog
):
    op.token_changes = {"refresh_token": REMOVE}
    await signed_in(browser, op, jp_serverapp)
    log = server_log(caplog)
    assert "issued no refresh token" in log and "prompt=consent" in log
    body = await status(browser)
    assert body["refresh_possible"] is False
    assert any("ends when the access token expires" in w for w in body["warnings"])
    done = (await browser.get("nevis", "done")).body.decode()
    assert "ends when the access token expires" in done


async def test_a_sign_in_with_refresh_token_has_no_warning(browser, op: FakeOP, jp_serverapp):
    await signed_in(browser, op, jp_serverapp)
    assert (await status(browser))["warnings"] == []


# -- nothing unforeseen reaches tornado's default handling -------------------------------------


class Boom(RuntimeError):
    """A failure nobody planned for."""


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG, tornado's own included."""
    for name in (None, "tornado.application", "tornado.general", "tornado.access", "ServerApp"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_an_unexpected_failure_in_the_callback_logs_no_query_string(
    browser, op: FakeOP, jp_serverapp, logs, jp_logging_stream, monkeypatch
):
    nevis = service(jp_serverapp)

    async def fail(user: str, params: dict[str, str], key: str | None) -> Any:
        raise Boom(f"failed with code {params.get('code')} and state {params.get('state')}")

    monkeypatch.setattr(nevis, "finish_login", fail)
    authorize = await browser.start_login()
    callback = await op.authorize(authorize)
    query = parse_qs(urlparse(callback).query)
    response = await browser.callback(callback)
    assert_error_page(response, 500, "Something unexpected went wrong")
    text = server_log(logs) + jp_logging_stream.getvalue()
    assert "Unexpected error in GET" in text and "Boom" in text
    for name in ("code", "state"):
        assert query[name][0] not in text, f"the {name} reached the log"
    assert "Uncaught exception" not in text


@pytest.mark.parametrize("path", [("nevis", "api", "status"), ("nevis", "api", "token")])
async def test_an_unexpected_failure_in_an_api_is_one_sentence_of_json(
    browser, op: FakeOP, jp_serverapp, logs, monkeypatch, path: tuple[str, ...]
):
    nevis = service(jp_serverapp)

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise Boom("nobody planned this")

    monkeypatch.setattr(nevis.tokens, "fresh", fail)
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    # The kernel endpoint with the kernel's secret, the page's API with Jupyter's token.
    headers = secret_header(secret) if path[-1] == "token" else {}
    response = await browser.fetch(
        *path, headers=headers, params={"secret": "s3cr3t-value"}, raise_error=False
    )
    assert response.code == 500
    body = json.loads(response.body)
    assert body["error"] == "internal_error"
    assert "Something unexpected went wrong" in body["message"]
    assert "traceback" not in body and "Traceback" not in response.body.decode()
    (line,) = [r.getMessage() for r in logs.records if "Unexpected error" in r.getMessage()]
    assert "Boom" in line and "?" not in line.splitlines()[0]
    assert "s3cr3t-value" not in line
    assert secret not in server_log(logs)


# -- signing algorithms the provider does not use ---------------------------------------


async def test_no_common_signing_algorithm_is_a_configuration_error(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"id_token_signing_alg_values_supported": ["ES256"]}
    service(jp_serverapp).config.id_token_signing_algs = ["RS256", "PS256"]
    response = await browser.get("nevis", "login")
    assert_error_page(response, 503, "The provider signs ID tokens with ES256")
    assert "NevisAuth.id_token_signing_algs" in response.body.decode()
    found = await service(jp_serverapp).check_provider()
    assert any("ES256" in f and "id_token_signing_algs" in f for f in found), found


async def test_a_common_signing_algorithm_is_enough(browser, op: FakeOP, jp_serverapp):
    op.discovery_changes = {"id_token_signing_alg_values_supported": ["ES256", "RS256"]}
    service(jp_serverapp).config.id_token_signing_algs = ["RS256"]
    assert (await browser.get("nevis", "login")).code == 302
