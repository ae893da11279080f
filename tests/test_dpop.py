"""DPoP (RFC 9449): proofs, and a server whose sign-ins and refreshes are bound to a key."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.file_store import EncryptedFileTokenStore
from jupyter_nevis_auth.core.stores import new_store_key
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.dpop import DPoPKey, Nonces, asks_for_nonce
from tests.conftest import Browser
from tests.support.dpop_check import DPoPRefused, DPoPVerifier, thumbprint
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer

# -- proofs -------------------------------------------------------------------


def test_a_proof_is_signed_by_the_key_in_its_header_and_names_the_request():
    key = DPoPKey.generate()
    proof = key.proof("get", "https://API.test/v1/items?page=2#x", access_token="tok", nonce="n1")

    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert "d" not in header["jwk"]
    claims = jwt.decode(proof, jwt.PyJWK(header["jwk"], "ES256").key, algorithms=["ES256"])
    assert claims["htm"] == "GET"
    assert claims["htu"] == "https://api.test/v1/items"
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["nonce"] == "n1"
    digest = hashlib.sha256(b"tok").digest()
    assert claims["ath"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert thumbprint(header["jwk"]) == key.thumbprint
    assert key.proof("GET", "https://api.test/") != key.proof("GET", "https://api.test/")


def test_each_proof_names_its_own_token_and_url_after_others():
    # The token's hash and the URL's htu are kept from one proof to the next: a refreshed
    # token or another URL must still get its own.
    key = DPoPKey.generate()

    def claims_of(url: str, token: str | None) -> dict[str, Any]:
        proof = key.proof("GET", url, access_token=token)
        return jwt.decode(proof, options={"verify_signature": False})

    def ath(token: str) -> str:
        digest = hashlib.sha256(token.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    for url, token in [
        ("https://a.test/x?q=1", "first"),
        ("https://a.test/x?q=2", "first"),
        ("https://a.test/x", "refreshed"),
        ("https://B.test/y#f", "refreshed"),
        ("https://a.test/x", "first"),
    ]:
        claims = claims_of(url, token)
        assert claims["ath"] == ath(token)
        assert claims["htu"] == url.split("?")[0].split("#")[0].replace("B.test", "b.test")
    assert "ath" not in claims_of("https://a.test/x", None)


def test_a_key_survives_its_private_jwk_and_shows_nothing_of_it():
    key = DPoPKey.generate()
    again = DPoPKey.from_jwk(json.dumps(key.private_jwk()))

    assert again.thumbprint == key.thumbprint
    assert key.private_jwk()["d"] not in repr(key) and key.private_jwk()["d"] not in repr(again)
    with pytest.raises(ValueError):
        DPoPKey.from_jwk({"kty": "RSA", "n": "x", "e": "AQAB"})
    tokens = TokenSet("at", dpop_jwk=key.private_jwk())
    assert key.private_jwk()["d"] not in repr(tokens)
    assert TokenSet.from_dict(tokens.to_dict()).dpop_key().thumbprint == key.thumbprint  # type: ignore[union-attr]


def test_nonces_are_kept_per_server_and_challenges_read():
    nonces = Nonces()
    nonces.remember("https://a.test/x", {"DPoP-Nonce": "n-a"})
    assert nonces.get("https://A.test/other") == "n-a"
    assert nonces.get("https://b.test/") is None
    challenge = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n"}
    assert asks_for_nonce(401, challenge)
    assert not asks_for_nonce(401, {**challenge, "WWW-Authenticate": 'DPoP error="invalid_token"'})
    assert not asks_for_nonce(401, {"WWW-Authenticate": challenge["WWW-Authenticate"]})


@pytest.mark.parametrize(
    "change, error",
    [
        ({"method": "POST"}, "invalid_dpop_proof"),
        ({"url": "http://api.test/other"}, "invalid_dpop_proof"),
        ({"token": "another"}, "invalid_dpop_proof"),
        ({"now": time.time() - 600}, "invalid_dpop_proof"),
        ({"key": "other"}, "invalid_token"),
        ({"nonce": "stale"}, "use_dpop_nonce"),
    ],
)
def test_the_test_resource_servers_checks_refuse_a_wrong_proof(change, error):
    key = DPoPKey.generate()
    verifier = DPoPVerifier()
    signer = DPoPKey.generate() if change.get("key") else key
    proof = signer.proof(
        change.get("method", "GET"),
        change.get("url", "http://api.test/hello"),
        access_token=change.get("token", "at"),
        nonce=change.get("nonce", verifier.nonce),
        now=change.get("now"),
    )
    with pytest.raises(DPoPRefused) as refused:
        verifier.check(
            proof, "GET", "http://api.test/hello", "at", {"cnf": {"jkt": key.thumbprint}}
        )
    assert refused.value.error == error


def _tampered(proof: str, how: str) -> str:
    header, body, signature = proof.split(".")
    if how == "claims":
        claims = json.loads(base64.urlsafe_b64decode(body + "=="))
        forged = json.dumps({**claims, "jti": "a-jti-never-signed"}).encode()
        return f"{header}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}"
    if how == "signature":
        flipped = "A" if signature[10] != "A" else "B"
        return f"{header}.{body}.{signature[:10]}{flipped}{signature[11:]}"
    return f"{header}.{body}"


@pytest.mark.parametrize("how", ["claims", "signature", "segments"])
def test_the_test_resource_server_verifies_every_proofs_signature_under_a_known_key(how):
    # The verifier reads a key's header once; a later proof with that header is still
    # refused when its claims or signature were changed.
    key = DPoPKey.generate()
    verifier = DPoPVerifier(nonces=False)
    claims = {"cnf": {"jkt": key.thumbprint}}
    good = key.proof("GET", "http://api.test/hello", access_token="at")
    verifier.check(good, "GET", "http://api.test/hello", "at", claims)
    proof = _tampered(key.proof("GET", "http://api.test/hello", access_token="at"), how)
    with pytest.raises(DPoPRefused) as refused:
        verifier.check(proof, "GET", "http://api.test/hello", "at", claims)
    assert refused.value.error == "invalid_dpop_proof"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _es256_proof_by(private_key: ec.EllipticCurvePrivateKey, signature_bytes: int) -> str:
    """A proof whose header says ES256, signed with `private_key` (any curve)."""
    numbers = private_key.public_key().public_numbers()
    size = (private_key.curve.key_size + 7) // 8
    jwk = {
        "kty": "EC",
        "crv": {256: "P-256", 384: "P-384"}[private_key.curve.key_size],
        "x": b64url(numbers.x.to_bytes(size, "big")),
        "y": b64url(numbers.y.to_bytes(size, "big")),
    }
    header = b64url(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode())
    claims = {"jti": "j1", "htm": "GET", "htu": "http://api.test/hello", "iat": int(time.time())}
    claims["ath"] = b64url(hashlib.sha256(b"at").digest())
    body = b64url(json.dumps(claims).encode())
    der = private_key.sign(f"{header}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    half = signature_bytes // 2
    return f"{header}.{body}.{b64url(r.to_bytes(half, 'big') + s.to_bytes(half, 'big'))}"


@pytest.mark.parametrize("curve, signature_bytes", [(ec.SECP384R1(), 96), (ec.SECP256R1(), 66)])
def test_the_test_resource_server_takes_es256_only_from_a_p256_key_as_r_and_s(
    curve, signature_bytes
):
    key = ec.generate_private_key(curve)
    proof = _es256_proof_by(key, signature_bytes)
    jkt = thumbprint(jwt.get_unverified_header(proof)["jwk"])
    with pytest.raises(DPoPRefused) as refused:
        DPoPVerifier(nonces=False).check(
            proof, "GET", "http://api.test/hello", "at", {"cnf": {"jkt": jkt}}
        )
    assert refused.value.error == "invalid_dpop_proof"
    # The same key and claims, signed as ES256 asks (P-256, 64 bytes), are taken.
    if isinstance(curve, ec.SECP256R1):
        good = _es256_proof_by(key, 64)
        DPoPVerifier(nonces=False).check(
            good, "GET", "http://api.test/hello", "at", {"cnf": {"jkt": jkt}}
        )


def test_the_test_resource_server_refuses_a_replayed_proof():
    key = DPoPKey.generate()
    verifier = DPoPVerifier(nonces=False)
    proof = key.proof("GET", "http://api.test/hello", access_token="at")
    claims = {"cnf": {"jkt": key.thumbprint}}
    verifier.check(proof, "GET", "http://api.test/hello", "at", claims)
    with pytest.raises(DPoPRefused, match="used before"):
        verifier.check(proof, "GET", "http://api.test/hello", "at", claims)


# -- a server whose tokens are bound --------------------------------------------


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OIDCTestProvider]:
    """A provider that binds tokens to DPoP keys and requires its nonce in every proof."""
    with OIDCTestProvider(dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def dpop_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The API in DPoP mode: bound tokens only, proofs with its nonce."""
    with ResourceServer(oidc_provider.issuer, dpop=True) as api:
        yield api


@pytest.fixture
def client_options() -> dict[str, Any]:
    return {"rotate_refresh_token": True}


@pytest.fixture
def nevis_config(
    oidc_provider: OIDCTestProvider, oidc_client: RegisteredClient, tmp_path
) -> dict[str, Any]:
    return oidc_client.nevis_settings(
        oidc_provider.issuer,
        http_timeout=5.0,
        dpop=True,
        token_store_class="jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore",
        store_path=str(tmp_path / "tokens.enc"),
        store_key=STORE_KEY,
    )


STORE_KEY = new_store_key()


async def stored(jp_serverapp: Any) -> TokenSet:
    settings = jp_serverapp.web_app.settings
    tokens = await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])
    assert tokens is not None
    return tokens  # type: ignore[no-any-return]


def bound_to(tokens: TokenSet) -> str:
    """The cnf.jkt of the set's access token (a JWT of the test provider)."""
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    return str(claims["cnf"]["jkt"])


def call(api: ResourceServer, tokens: TokenSet, key: DPoPKey | None, nonce: str | None) -> int:
    """GET the API as a kernel would, with a proof of `key` (none without one)."""
    import requests

    headers = {"Authorization": f"{'DPoP' if key else 'Bearer'} {tokens.access_token}"}
    if key is not None:
        headers["DPoP"] = key.proof(
            "GET", api.hello_url, access_token=tokens.access_token, nonce=nonce
        )
    return requests.get(api.hello_url, headers=headers, timeout=10).status_code


async def test_a_sign_in_refresh_and_restart_stay_bound_to_the_sign_ins_key(
    browser: Browser, redirect_uri, jp_serverapp, oidc_provider, dpop_api, tmp_path
):
    await browser.sign_in("dora", redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    key = tokens.dpop_key()
    assert key is not None and tokens.token_type == "DPoP"
    assert bound_to(tokens) == key.thumbprint

    # The provider's nonce was asked for (use_dpop_nonce) and sent: it requires one.
    service = jp_serverapp.web_app.settings["nevis_auth"]
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    fresh = await service.tokens.fresh(owner, force=True)
    assert fresh.access_token != tokens.access_token
    assert bound_to(fresh) == key.thumbprint and fresh.dpop_key().thumbprint == key.thumbprint

    # The API takes the token with a proof of the key, and nothing else.
    assert call(dpop_api, fresh, key, dpop_api.dpop_verifier.nonce) == 200
    assert call(dpop_api, fresh, None, None) == 401
    assert call(dpop_api, fresh, DPoPKey.generate(), dpop_api.dpop_verifier.nonce) == 401

    # The key is in the encrypted file with the tokens: a new store reads it back.
    path = str(tmp_path / "tokens.enc")
    again = EncryptedFileTokenStore(parent=NevisAuth(store_path=path, store_key=STORE_KEY))
    reread = await again.get(owner)
    assert reread is not None and reread.dpop_key().thumbprint == key.thumbprint  # type: ignore[union-attr]
    assert key.private_jwk()["d"].encode() not in (tmp_path / "tokens.enc").read_bytes()


async def test_a_kernels_headers_carry_a_new_proof_and_answer_the_apis_nonce(
    browser: Browser, redirect_uri, jp_serverapp, dpop_api
):
    import requests

    from jupyter_nevis_auth.kernel.dpop_auth import auth_headers, wants_nonce
    from jupyter_nevis_auth.kernel.token import Token

    await browser.sign_in("erin", redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    token = Token(tokens.access_token)
    token.dpop = tokens.dpop_key()
    dpop_api.dpop_verifier.rotate_nonce()
    challenges = dpop_api.dpop_verifier.nonce_challenges

    first = requests.get(
        dpop_api.hello_url, headers=auth_headers(token, "GET", dpop_api.hello_url), timeout=10
    )
    assert first.status_code == 401
    assert wants_nonce(token, dpop_api.hello_url, first.status_code, first.headers)
    headers = auth_headers(token, "GET", dpop_api.hello_url)
    assert headers["Authorization"] == f"DPoP {tokens.access_token}"
    again = requests.get(dpop_api.hello_url, headers=headers, timeout=10)
    assert again.status_code == 200
    assert dpop_api.dpop_verifier.nonce_challenges == challenges + 1
    # The same proof a second time (a copied request) is refused.
    assert requests.get(dpop_api.hello_url, headers=headers, timeout=10).status_code == 401
    assert str(tokens.dpop_jwk["d"]) not in repr(token)  # type: ignore[index]
