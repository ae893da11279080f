"""The client rules of DESIGN.md's security rules (RFC 9700, RFC 6749, RFC 7636, RFC 9207,
OIDC Core 3.1.3.7) that the certification cases and the other test modules leave open.

Covered elsewhere: state single use, expiry and browser binding, and parallel tabs
(tests/test_callback.py, tests/test_flow.py); open redirects via `next` (test_callback.py
and test_fuzz.py); the callback's headers (test_callback.py); secrets in logs and pages
(test_secret_hygiene.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import serialization

from tests.conformance.conftest import (
    assert_error_page,
    assert_refused,
    sign_in,
    signed_in,
    status,
    stored,
)
from tests.conformance.fake_op import REMOVE, Canned, FakeOP, b64url, sign_hs256

UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def query(url: str) -> dict[str, str]:
    """The query parameters of `url`, one value each."""
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


async def test_state_and_nonce_are_unguessable_and_fresh(browser):
    requests = [query(await browser.start_login()) for _ in range(8)]
    values = [r[name] for r in requests for name in ("state", "nonce")]
    assert len(set(values)) == len(values)
    # 32 random bytes, base64url: 256 bits, well above RFC 9700's 128.
    assert all(len(v) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", v) for v in values)


async def test_pkce_s256_verifier_matches_the_challenge(browser, op: FakeOP, jp_serverapp):
    authorize = await browser.start_login()
    request = query(authorize)
    assert request["code_challenge_method"] == "S256"
    response = await browser.callback(await op.authorize(authorize))
    assert response.code == 302, response.body
    (verifier,) = op.verifiers
    assert 43 <= len(verifier) <= 128 and set(verifier) <= UNRESERVED  # RFC 7636 4.1
    assert b64url(hashlib.sha256(verifier.encode()).digest()) == request["code_challenge"]
    assert "code_challenge" not in op.calls("token")[0].args


async def test_redirect_uri_is_identical_in_the_token_request(
    browser, op: FakeOP, jp_serverapp, redirect_uri
):
    authorize = await browser.start_login()
    assert query(authorize)["redirect_uri"] == redirect_uri
    assert (await browser.callback(await op.authorize(authorize))).code == 302
    assert op.calls("token")[0].args["redirect_uri"] == redirect_uri


class TestClientSecretWithReservedCharacters:
    @pytest.fixture
    def op(self, op: FakeOP) -> FakeOP:
        op.client_secret = "s3cr:et+with%25 and/ü"
        return op

    async def test_is_form_encoded_in_client_secret_basic(self, browser, op, jp_serverapp):
        response = await sign_in(browser, op)
        assert response.code == 302, response.body
        header = op.calls("token")[0].headers["Authorization"]
        raw = base64.b64decode(header.removeprefix("Basic ")).decode()
        assert raw == "conformance-client:s3cr%3Aet%2Bwith%2525%20and%2F%C3%BC"
        assert await stored(jp_serverapp) is not None


class TestClientSecretPost:
    @pytest.fixture
    def op(self, op: FakeOP) -> FakeOP:
        op.discovery_changes = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
        return op

    async def test_is_used_when_the_provider_only_offers_it(self, browser, op, jp_serverapp):
        response = await sign_in(browser, op)
        assert response.code == 302, response.body
        token_call = op.calls("token")[0]
        assert "Authorization" not in token_call.headers
        assert token_call.args["client_secret"] == op.client_secret


@pytest.mark.parametrize("endpoint", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
async def test_discovered_endpoints_must_use_https(browser, op: FakeOP, jp_serverapp, endpoint):
    op.discovery_changes = {endpoint: f"http://provider.example/{endpoint}"}
    response = await browser.get("nevis", "login")
    assert_error_page(response, 502, f"invalid {endpoint}")
    assert op.calls("authorize") == [] and op.calls("token") == []


@pytest.mark.parametrize(
    "next_url",
    ["{base}la\x0bb", "{base}\x7f", "{base}x\x0cy", "{base_};elsewhere", "//\uff0f"],
    ids=["vertical-tab", "delete", "form-feed", "semicolon-params", "fullwidth-slash-netloc"],
)
async def test_next_values_found_by_fuzzing_fall_back_to_the_base_url(
    browser, op: FakeOP, jp_serverapp, jp_base_url, next_url
):
    target = next_url.format(base=jp_base_url, base_=jp_base_url.rstrip("/"))
    response = await sign_in(browser, op, target)
    assert response.code == 302, response.body
    assert response.headers["Location"] == jp_base_url


async def test_code_is_never_retried_after_invalid_grant(browser, op: FakeOP, jp_serverapp):
    op.token_errors = {"authorization_code": (400, "invalid_grant")}
    callback = await op.authorize(await browser.start_login())
    response = await browser.callback(callback)
    await assert_refused(response, op, jp_serverapp, 400, "did not accept the sign-in code")
    replay = await browser.callback(callback)
    assert_error_page(replay, 400, "expired or was already used")
    assert len(op.calls("token")) == 1


async def test_code_is_never_retried_after_a_provider_failure(browser, op: FakeOP, jp_serverapp):
    op.canned = {"token": Canned(503, b'{"error": "temporarily_unavailable"}')}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "try again later")
    assert len(op.calls("token")) == 1


class TestTokenEndpointTimeout:
    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "http_timeout": 0.3}

    async def test_gives_504_and_is_not_retried(self, browser, op, jp_serverapp):
        op.delays = {"token": 0.6}
        started = time.monotonic()
        response = await sign_in(browser, op)
        assert time.monotonic() - started < 0.6
        await assert_refused(response, op, jp_serverapp, 504, "did not answer within")
        assert len(op.calls("token")) == 1


@pytest.mark.parametrize(
    "iss, phrase",
    [("https://attacker.example", "another issuer"), (None, "lacks the issuer")],
    ids=["from-another-issuer", "missing-though-advertised"],
)
async def test_iss_response_parameter_is_checked_before_the_code_is_used(
    browser, op: FakeOP, jp_serverapp, iss, phrase
):
    op.response_iss = iss
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 400, phrase)
    assert op.calls("token") == []


async def test_iss_response_parameter_is_optional_when_not_advertised(
    browser, op: FakeOP, jp_serverapp
):
    op.discovery_changes = {"authorization_response_iss_parameter_supported": REMOVE}
    op.response_iss = None
    response = await sign_in(browser, op)
    assert response.code == 302, response.body


async def test_unknown_kid_refetches_the_key_set_once(browser, op: FakeOP, jp_serverapp):
    await signed_in(browser, op, jp_serverapp)
    assert len(op.calls("jwks")) == 1
    rogue = op.pool.key("RS256", 3)  # a key the provider never publishes
    op.signer = lambda claims, _headers: rogue.sign(claims, {"kid": rogue.kid})

    response = await sign_in(browser, op)
    await assert_error_page_and_cleared(response, op, jp_serverapp)
    assert len(op.calls("jwks")) == 2

    # Forged kids must not make the server hammer the provider: no refetch right after.
    await assert_error_page_and_cleared(await sign_in(browser, op), op, jp_serverapp)
    assert len(op.calls("jwks")) == 2


async def assert_error_page_and_cleared(response: Any, op: FakeOP, jp_serverapp: Any) -> None:
    """Refused for an unknown key; the earlier sign-in's tokens are not replaced."""
    assert_error_page(response, 502, "key the provider does not publish")
    tokens = await stored(jp_serverapp)
    assert tokens is not None and tokens.access_token == op.issued["access_token"][0]


def public_pem(op: FakeOP) -> bytes:
    """The provider's RSA public key as PEM, the HMAC secret of an algorithm-confusion attack."""
    return op.signing_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("secret", ["client_secret", "public_key"])
async def test_symmetric_id_token_signatures_are_refused(browser, op: FakeOP, jp_serverapp, secret):
    op.signer = sign_hs256(op.client_secret if secret == "client_secret" else public_pem(op))
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "algorithm that is not allowed")


def now() -> int:
    """The current Unix time in seconds."""
    return int(time.time())


@pytest.mark.parametrize(
    "claims, phrase",
    [
        ({"iss": "{issuer}/"}, "wrong issuer"),
        ({"aud": ["{client_id}", "another-client"]}, "wrong azp"),
        ({"aud": ["{client_id}", "another-client"], "azp": "another-client"}, "wrong azp"),
        ({"azp": "another-client"}, "wrong azp"),
        ({"exp": "{past}"}, "expired"),
        ({"iat": "{future}"}, "not yet valid"),
        ({"nonce": REMOVE}, "nonce mismatch"),
    ],
    ids=[
        "iss-not-exact",
        "several-aud-without-azp",
        "several-aud-wrong-azp",
        "azp-of-another-client",
        "expired",
        "iat-in-the-future",
        "nonce-missing",
    ],
)
async def test_id_token_claims_are_checked(
    browser, op: FakeOP, jp_serverapp, claims: dict[str, Any], phrase: str
):
    values = {
        "issuer": op.issuer,
        "client_id": op.client_id,
        "past": now() - 3600,
        "future": now() + 3600,
    }
    op.login_claims = {name: fill(value, values) for name, value in claims.items()}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, phrase)


def fill(value: Any, values: dict[str, Any]) -> Any:
    """`value` with "{name}" placeholders replaced; a lone placeholder keeps its type."""
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return values[value[1:-1]]
    if isinstance(value, str):
        return value.format(**values)
    return value


async def test_several_audiences_with_our_azp_are_accepted(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"aud": [op.client_id, "another-client"], "azp": op.client_id}
    response = await sign_in(browser, op)
    assert response.code == 302, response.body


class TestRefresh:
    @pytest.fixture
    def op(self, op: FakeOP) -> FakeOP:
        op.expires_in = 0  # every status call refreshes
        return op

    async def test_invalid_grant_means_signed_out_with_a_reason(self, browser, op, jp_serverapp):
        await signed_in(browser, op, jp_serverapp)
        op.token_errors = {"refresh_token": (400, "invalid_grant")}
        body = await status(browser)
        assert body["logged_in"] is False
        assert "session at the provider has ended" in body["signed_out_reason"]
        assert await stored(jp_serverapp) is None

    async def test_old_refresh_token_is_kept_when_none_comes_back(self, browser, op, jp_serverapp):
        first = await signed_in(browser, op, jp_serverapp)
        op.rotate_refresh_tokens = False
        await status(browser)
        after = await stored(jp_serverapp)
        assert after is not None and after.access_token != first.access_token
        assert after.refresh_token == first.refresh_token
