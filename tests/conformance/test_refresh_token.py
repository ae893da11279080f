"""OpenID Foundation refresh-token plan (oidcc-client-refreshtoken-test-plan), one test per case.

Each test signs in with access tokens that the provider says expire at once, so every
status call refreshes through the server's real refresh path. A refresh answer whose ID
token fails OIDC Core 12.2 (same iss, sub, aud and azp as at sign-in) is refused: none of
its tokens is stored or used.
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import assert_refresh_refused, signed_in, status, stored
from tests.conformance.fake_op import FakeOP


@pytest.fixture
def op(op: FakeOP) -> FakeOP:
    """A provider issuing access tokens that the product refreshes on every status call."""
    op.expires_in = 0
    return op


async def test_rp_refresh_token(browser, op: FakeOP, jp_serverapp):
    first = await signed_in(browser, op, jp_serverapp)

    body = await status(browser)

    refresh = op.calls("token")[1]
    assert refresh.args["grant_type"] == "refresh_token"
    assert refresh.args["refresh_token"] == first.refresh_token
    assert refresh.headers["Authorization"].startswith("Basic ")
    second = await stored(jp_serverapp)
    assert second is not None
    assert second.access_token == op.issued["access_token"][-1] != first.access_token
    assert second.refresh_token == op.issued["refresh_token"][-1] != first.refresh_token
    assert body["logged_in"] is True and body["claims"]["sub"] == op.sub

    await status(browser)

    assert op.calls("token")[2].args["refresh_token"] == second.refresh_token


async def test_rp_refresh_token_invalid_issuer(browser, op: FakeOP, jp_serverapp):
    before = await signed_in(browser, op, jp_serverapp)
    op.refresh_claims = {"iss": "https://attacker.example"}
    await assert_refresh_refused(browser, op, jp_serverapp, before)


async def test_rp_refresh_token_invalid_sub(browser, op: FakeOP, jp_serverapp):
    before = await signed_in(browser, op, jp_serverapp)
    op.refresh_claims = {"sub": "mallory"}
    await assert_refresh_refused(browser, op, jp_serverapp, before)


async def test_rp_refresh_token_invalid_aud(browser, op: FakeOP, jp_serverapp):
    before = await signed_in(browser, op, jp_serverapp)
    op.refresh_claims = {"aud": op.client_id + "1"}
    await assert_refresh_refused(browser, op, jp_serverapp, before)


async def test_rp_refresh_token_invalid_azp(browser, op: FakeOP, jp_serverapp):
    before = await signed_in(browser, op, jp_serverapp)
    op.refresh_claims = {"azp": "random_azp_value_Xq3Lr9TbWz"}
    await assert_refresh_refused(browser, op, jp_serverapp, before)
