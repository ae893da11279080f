"""OpenID Foundation "Basic RP" certification plan (response_type=code), one test per case.

The cases of oidcc-client-basic-certification-test-plan, named after their old-suite ids,
plus the cases of the wider oidcc-client-test-plan that apply to a code-flow client
(missing aud, bad HS256 and ES256 signatures, an unparseable key in the JWKS).

Choices where a case allows two behaviours, or where this product is stricter:
- rp-id_token-kid-absent-multiple-jwks: the ID token is refused (the case allows refusing
  or trying every key); a key is only picked without a kid when exactly one is published.
- rp-id_token-sig-none: the certification case expects an unsigned ID token to be accepted
  in the code flow when the client registered id_token_signed_response_alg=none. This
  client never registers that, and its security rules refuse `none` always, so the
  unsigned ID token is refused.
- rp-userinfo-bad-sub-claim: the product never calls the userinfo endpoint; identity comes
  from the validated ID token only. The test pins that: a userinfo endpoint reporting
  another subject is never asked, and the signed-in subject is the ID token's.

Not applicable: rp-userinfo-bearer-header and rp-userinfo-bearer-body (no userinfo call),
and the at_hash/c_hash cases (hybrid and implicit flows only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conformance.conftest import assert_refused, sign_in, status, stored
from tests.conformance.fake_op import REMOVE, FakeOP, sign_hs256, sign_none, with_bad_signature


def query(url: str) -> dict[str, str]:
    """The query parameters of `url`, one value each."""
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


async def test_rp_response_type_code(browser, op: FakeOP, jp_serverapp, jp_base_url):
    authorize = await browser.start_login()
    request = query(authorize)
    assert authorize.startswith(op.url("authorize") + "?")
    assert request["response_type"] == "code"
    assert "openid" in request["scope"].split()
    assert request["state"] and request["nonce"]

    response = await browser.callback(await op.authorize(authorize))

    assert response.code == 302
    assert response.headers["Location"] == jp_base_url
    (token_call,) = op.calls("token")
    assert token_call.args["grant_type"] == "authorization_code"
    assert token_call.args["code"] == op.issued["code"][0]
    tokens = await stored(jp_serverapp)
    assert tokens is not None and tokens.access_token == op.issued["access_token"][0]
    body = await status(browser)
    assert body["logged_in"] is True and body["claims"]["sub"] == op.sub


async def test_rp_id_token_issuer_mismatch(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"iss": "https://attacker.example"}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "wrong issuer")


async def test_rp_id_token_sub(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"sub": REMOVE}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "a required claim is missing")


async def test_rp_id_token_aud(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"aud": op.client_id + "1"}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "wrong audience")


async def test_rp_id_token_aud_missing(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"aud": REMOVE}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "a required claim is missing")


async def test_rp_id_token_iat(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"iat": REMOVE}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "a required claim is missing")


async def test_rp_id_token_kid_absent_single_jwks(browser, op: FakeOP, jp_serverapp):
    op.send_kid = False
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    assert await stored(jp_serverapp) is not None


async def test_rp_id_token_kid_absent_multiple_jwks(browser, op: FakeOP, jp_serverapp):
    op.send_kid = False
    op.published = [op.signing_key, op.pool.key("RS256", 1)]
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "key the provider does not publish")


async def test_rp_id_token_sig_rs256(browser, op: FakeOP, jp_serverapp):
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    assert op.calls("jwks"), "the signature was not checked against the published keys"
    assert await stored(jp_serverapp) is not None


async def test_rp_id_token_sig_none(browser, op: FakeOP, jp_serverapp):
    op.signer = sign_none
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "algorithm that is not allowed")


async def test_rp_id_token_bad_sig_rs256(browser, op: FakeOP, jp_serverapp):
    op.signer = with_bad_signature(op.signing_key)
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "bad signature")


async def test_rp_id_token_bad_sig_hs256(browser, op: FakeOP, jp_serverapp):
    op.signer = sign_hs256(op.client_secret)
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "algorithm that is not allowed")


async def test_rp_id_token_bad_sig_es256(browser, op: FakeOP, jp_serverapp):
    op.signing_key = op.pool.key("ES256", 0)
    op.published = [op.signing_key]
    op.signer = with_bad_signature(op.signing_key)
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "bad signature")


async def test_rp_ignores_unparseable_key_in_jwks(browser, op: FakeOP, jp_serverapp):
    op.jwks_extra = [
        {"kty": "AKP", "alg": "ML-DSA-99", "kid": "pq-1", "pub": "AAAA", "use": "sig"},
        {"kty": "made-up", "kid": "odd-1", "use": "sig"},
        # pyjwt raises KeyError and TypeError, not its own errors, on these two.
        {"kty": "oct", "kid": "sym-1", "use": "sig"},
        {**op.signing_key.public_jwk(), "kid": "odd-2", "alg": ["RS256"]},
    ]
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    assert await stored(jp_serverapp) is not None


async def test_rp_userinfo_bad_sub_claim(browser, op: FakeOP, jp_serverapp):
    op.userinfo_sub = "mallory"
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    assert (await status(browser))["claims"]["sub"] == op.sub
    assert op.calls("userinfo") == []


async def test_rp_nonce_invalid(browser, op: FakeOP, jp_serverapp):
    op.login_claims = {"nonce": "a-nonce-this-sign-in-never-sent"}
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "nonce mismatch")


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any]) -> dict[str, Any]:
    """Request profile and email claims by scope, as rp-scope-userinfo-claims asks."""
    return {**nevis_config, "scopes": ["openid", "offline_access", "profile", "email"]}


async def test_rp_scope_userinfo_claims(browser, op: FakeOP, jp_serverapp):
    authorize = await browser.start_login()
    assert {"profile", "email"} <= set(query(authorize)["scope"].split())
    response = await browser.callback(await op.authorize(authorize))
    assert response.code == 302, response.body
    assert set((await status(browser))["scopes"]) >= {"openid", "profile", "email"}


async def test_rp_token_endpoint_client_secret_basic(browser, op: FakeOP, jp_serverapp):
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    (token_call,) = op.calls("token")
    assert token_call.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in token_call.args
    assert await stored(jp_serverapp) is not None
