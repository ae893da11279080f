"""OpenID Foundation "Config RP" certification plan (response_type=code), one test per case.

The cases of oidcc-client-config-certification-test-plan: discovery, the discovered
jwks_uri, an issuer mismatch in discovery, and signing-key rotation before and after
the first ID token. Its rp-id_token-sig-none case is the Basic plan's, in
test_basic_rp.py. Not applicable: the WebFinger and dynamic-registration cases of the
Dynamic plan (the issuer and the client are configured by hand).
"""

from __future__ import annotations

from tests.conformance.conftest import (
    assert_error_page,
    sign_in,
    signed_in,
    status,
    stored,
)
from tests.conformance.fake_op import FakeOP


async def test_rp_discovery_openid_configuration(browser, op: FakeOP, jp_serverapp):
    op.discovery_changes = {
        "authorization_endpoint": op.url("authorize?tenant=blue"),
        "token_endpoint": op.url("token"),
    }
    authorize = await browser.start_login()
    (discovery,) = op.calls("discovery")
    assert discovery.path == "/op/.well-known/openid-configuration"
    assert authorize.startswith(op.url("authorize?tenant=blue&"))
    response = await browser.callback(await op.authorize(authorize))
    assert response.code == 302, response.body
    assert len(op.calls("token")) == 1
    assert (await status(browser))["logged_in"] is True


async def test_rp_discovery_jwks_uri_keys(browser, op: FakeOP, jp_serverapp):
    op.discovery_changes = {"jwks_uri": op.url("keys/published")}
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    assert [c.path for c in op.calls("jwks")] == ["/op/keys/published"]
    assert await stored(jp_serverapp) is not None


async def test_rp_discovery_issuer_not_matching_config(browser, op: FakeOP, jp_serverapp):
    op.discovery_changes = {"issuer": op.issuer + "/other"}
    response = await browser.get("nevis", "login")
    assert_error_page(response, 502, "names another issuer")
    assert "Location" not in response.headers
    assert op.calls("authorize") == [] and op.calls("token") == []
    assert await stored(jp_serverapp) is None


async def test_rp_key_rotation_op_sign_key_native(browser, op: FakeOP, jp_serverapp):
    authorize = await browser.start_login()
    callback = await op.authorize(authorize)
    old = op.signing_key
    new = op.rotate_keys()  # just before the token endpoint signs the first ID token
    response = await browser.callback(callback)
    assert response.code == 302, response.body
    assert new.kid != old.kid
    assert await stored(jp_serverapp) is not None


async def test_rp_key_rotation_op_sign_key(browser, op: FakeOP, jp_serverapp):
    first = await signed_in(browser, op, jp_serverapp)
    assert len(op.calls("jwks")) == 1
    op.rotate_keys()  # after the first ID token

    second = await signed_in(browser, op, jp_serverapp)

    assert len(op.calls("jwks")) == 2
    assert second.access_token != first.access_token
