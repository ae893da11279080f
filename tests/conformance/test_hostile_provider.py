"""Every provider answer is hostile input: any status line, headers, size, JSON shape or type.

Whatever the provider sends, the browser gets a one-sentence page with a fitting status,
a kernel gets its JSON error, the status endpoint answers, and nothing is half-stored.
"""

from __future__ import annotations

import asyncio
import json
import math
import warnings
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jupyter_nevis_auth.oidc.http import MAX_ANSWER_BYTES
from jupyter_nevis_auth.protocol import secret_header
from tests.conformance.conftest import (
    assert_error_page,
    assert_refused,
    sign_in,
    signed_in,
    status,
    stored,
)
from tests.conformance.fake_op import REMOVE, Canned, FakeOP, SigningKey, b64url

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b'{"access_token": "' + b"a" * (MAX_ANSWER_BYTES + 10) + b'"}'

#: Token-endpoint bodies (status 200) that no sign-in may survive.
BAD_TOKEN_BODIES = {
    "deeply nested": DEEP,
    "deeply nested object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "larger than the limit": HUGE,
    "not UTF-8": b'{"access_token": "\xff\xfe"}',
    "a JSON list": b"[1, 2]",
    "a JSON string": b'"access_token"',
    "an integer too long to parse": b'{"expires_in": ' + b"9" * 5000 + b"}",
}

#: Changes to an otherwise good token answer, each with a field of the wrong type.
BAD_TOKEN_FIELDS = {
    "refresh_token is an object": {"refresh_token": {"value": "x"}},
    "id_token is a number": {"id_token": 12345},
    "access_token is a list": {"access_token": ["a", "b"]},
    "token_type is missing": {"token_type": REMOVE},
    "token_type is an object": {"token_type": {"type": "Bearer"}},
    "scope is a list": {"scope": ["openid"]},
}


@pytest.mark.parametrize("body", BAD_TOKEN_BODIES.values(), ids=BAD_TOKEN_BODIES.keys())
async def test_a_hostile_token_answer_gives_a_page_and_stores_nothing(
    browser, op: FakeOP, jp_serverapp, body: bytes
):
    op.canned["token"] = Canned(200, body)
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "provider")
    assert (await status(browser))["logged_in"] is False


@pytest.mark.parametrize("changes", BAD_TOKEN_FIELDS.values(), ids=BAD_TOKEN_FIELDS.keys())
async def test_a_token_answer_with_wrong_types_is_refused_whole(
    browser, op: FakeOP, jp_serverapp, changes: dict[str, Any]
):
    op.token_changes = changes
    response = await sign_in(browser, op)
    assert_error_page(response, 502, "provider")
    assert await stored(jp_serverapp) is None


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"error": {"nested": "invalid_grant"}}', b'{"error": "bad\\r\\ncode"}', HUGE],
    ids=["deep", "error is an object", "error with control characters", "huge"],
)
async def test_a_hostile_error_answer_is_a_provider_error(
    browser, op: FakeOP, jp_serverapp, body: bytes
):
    op.canned["token"] = Canned(400, body)
    response = await sign_in(browser, op)
    assert_error_page(response, 502, "provider")
    assert "\r" not in response.body.decode()
    assert await stored(jp_serverapp) is None


@pytest.mark.parametrize(
    "endpoint, body",
    [
        ("discovery", DEEP),
        ("discovery", HUGE),
        ("discovery", b'{"issuer": {"a": 1}}'),
        ("jwks", DEEP),
        ("jwks", b'{"keys": {"kty": "RSA"}}'),
        ("jwks", b'{"keys": [{"kty": "RSA", "n": 5, "e": [1]}]}'),
    ],
    ids=[
        "discovery deep",
        "discovery huge",
        "issuer object",
        "jwks deep",
        "keys object",
        "key types",
    ],
)
async def test_hostile_metadata_gives_a_page(
    browser, op: FakeOP, jp_serverapp, endpoint: str, body: bytes
):
    if endpoint == "discovery":
        op.canned["discovery"] = Canned(200, body)
        response = await browser.get("nevis", "login")
        assert_error_page(response, 502, "provider")
    else:
        op.canned["jwks"] = Canned(200, body)
        await assert_refused(await sign_in(browser, op), op, jp_serverapp, 502, "")
    assert (await status(browser))["logged_in"] is False


@pytest.mark.parametrize(
    "claims",
    [{"exp": math.inf}, {"iat": math.nan}, {"sub": 42}, {"aud": {"x": 1}}, {"nonce": ["n"]}],
    ids=["exp infinite", "iat NaN", "sub a number", "aud an object", "nonce a list"],
)
async def test_id_token_claims_of_any_type_are_refused_cleanly(
    browser, op: FakeOP, jp_serverapp, claims: dict[str, Any]
):
    op.login_claims = claims
    await assert_refused(await sign_in(browser, op), op, jp_serverapp, 502, "ID token")


async def test_a_hostile_refresh_answer_gives_the_kernel_json(browser, op: FakeOP, jp_serverapp):
    before = await signed_in(browser, op, jp_serverapp)
    op.canned["token"] = Canned(200, DEEP)
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    response = await browser.fetch(
        "nevis",
        "api",
        "token",
        params={"force_refresh": "1"},
        headers=secret_header(secret),
        raise_error=False,
    )
    assert response.code == 502, response.body
    body = json.loads(response.body)
    assert body["error"] == "provider_error" and "provider" in body["message"]
    assert "Traceback" not in body["message"]
    assert await stored(jp_serverapp) == before
    assert (await status(browser))["logged_in"] is True


# -- answers that are not even HTTP ------------------------------------------------


class RawServer:
    """A loopback TCP server that answers every connection with fixed bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(self.answer)
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


RAW_ANSWERS = {
    "no status line": b"garbage\r\n\r\n",
    "status code not a number": b"HTTP/1.1 abc OK\r\n\r\n",
    "negative content length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    "header too large": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n{}",
    "broken chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "status 999": b"HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\n{}",
    "gzip that is not": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd"
    ),
}


@pytest.mark.parametrize("answer", RAW_ANSWERS.values(), ids=RAW_ANSWERS.keys())
async def test_a_token_endpoint_that_does_not_speak_http_gives_a_page(
    browser, op: FakeOP, jp_serverapp, answer: bytes
):
    async with RawServer(answer) as raw:
        op.discovery_changes = {"token_endpoint": f"http://127.0.0.1:{raw.port}/token"}
        response = await sign_in(browser, op)
    assert_error_page(response, 502, "provider")
    assert await stored(jp_serverapp) is None
    assert (await status(browser))["logged_in"] is False


# -- keys too weak to trust ---------------------------------------------------------


class QuietKey(SigningKey):
    """Signs as a careless provider would: pyjwt's own key checks are for the signer."""

    def sign(self, claims: dict[str, Any], headers: dict[str, Any]) -> str:
        """A JWS of `claims` with this key, whatever its size or curve."""
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            header = {**headers, "alg": self.alg, "typ": "JWT"}
            signing_input = ".".join(b64url(json.dumps(p).encode()) for p in (header, claims))
            der = self.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            size = (self.private.curve.key_size + 7) // 8
            raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
            return f"{signing_input}.{b64url(raw)}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            return super().sign(claims, headers)


@pytest.mark.parametrize(
    "kid, alg, make",
    [
        ("rsa-1024", "RS256", lambda: rsa.generate_private_key(65537, 1024)),  # noqa: S505
        ("rsa-1024-ps", "PS256", lambda: rsa.generate_private_key(65537, 1024)),  # noqa: S505
        ("p384-for-es256", "ES256", lambda: ec.generate_private_key(ec.SECP384R1())),
    ],
    ids=["RS256 with 1024 bits", "PS256 with 1024 bits", "ES256 on P-384"],
)
async def test_keys_too_weak_or_on_the_wrong_curve_are_refused(
    browser, op: FakeOP, jp_serverapp, kid: str, alg: str, make: Any
):
    key = QuietKey(kid, alg, make())
    op.signing_key = key
    op.published = [key]
    response = await sign_in(browser, op)
    await assert_refused(response, op, jp_serverapp, 502, "not trusted")
    assert "ID token" in response.body.decode()


async def test_a_2048_bit_key_is_accepted(browser, op: FakeOP, jp_serverapp):
    assert op.signing_key.private.key_size == 2048  # type: ignore[union-attr]
    await signed_in(browser, op, jp_serverapp)


# -- a provider that went down --------------------------------------------------------


async def test_after_a_failed_call_login_checks_discovery_and_shows_its_own_page(
    browser, op: FakeOP, jp_serverapp
):
    await signed_in(browser, op, jp_serverapp)
    op.canned["token"] = Canned(503, b"")
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    refresh = await browser.fetch(
        "nevis",
        "api",
        "token",
        params={"force_refresh": "1"},
        headers=secret_header(secret),
        raise_error=False,
    )
    assert refresh.code == 502
    # The provider now does not answer at all within http_timeout (1 s here).
    op.delays["discovery"] = 3.0
    discoveries = len(op.calls("discovery"))
    response = await browser.get("nevis", "login")
    assert_error_page(response, 504, "did not answer within 1 seconds")
    assert len(op.calls("discovery")) == discoveries + 1
    op.delays.clear()
    op.canned.clear()
    assert (await browser.get("nevis", "login")).code == 302


async def test_a_healthy_provider_is_not_asked_for_discovery_again(
    browser, op: FakeOP, jp_serverapp
):
    await signed_in(browser, op, jp_serverapp)
    await signed_in(browser, op, jp_serverapp)
    assert len(op.calls("discovery")) == 1
