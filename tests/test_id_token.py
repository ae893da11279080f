"""One ID-token validator, four uses: each use's checks, against tokens signed by a provider key.

The provider is tests.conformance.fake_op (discovery and key set over HTTP); the tokens are
signed with its published key, so every difference below comes from the use's checks alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.errors import InvalidTokenError
from jupyter_nevis_auth.oidc import IDTokenChecks, OIDCClient
from tests.conformance.fake_op import REMOVE, FakeOP, KeyPool, apply, sign_hs256

NONCE = "nonce-of-the-sign-in"
#: Each use, as its call site builds its checks (the refresh and the hub's newer grant
#: continue alice's sign-in at this provider).
USES = {
    "code flow": lambda op: IDTokenChecks.code_flow(NONCE),
    "device": lambda op: IDTokenChecks.device(),
    "refresh": lambda op: IDTokenChecks.refresh({"sub": "alice", "iss": op.issuer}),
    "auth_state": lambda op: IDTokenChecks.auth_state(),
    "auth_state of alice": lambda op: IDTokenChecks.auth_state("alice"),
}
ALL = set(USES)
AUTH_STATE = {"auth_state", "auth_state of alice"}


@pytest.fixture(scope="module")
def key_pool() -> KeyPool:
    return KeyPool()


@pytest.fixture
def op(jp_asyncio_loop: asyncio.AbstractEventLoop, key_pool: KeyPool) -> Iterator[FakeOP]:
    """A provider publishing its discovery document and key set."""
    provider = FakeOP(key_pool, ["http://127.0.0.1/unused"])
    jp_asyncio_loop.run_until_complete(provider.start())
    yield provider
    jp_asyncio_loop.run_until_complete(provider.stop())


def client_of(op: FakeOP) -> OIDCClient:
    return OIDCClient(
        NevisAuth(issuer=op.issuer, client_id=op.client_id, client_secret=op.client_secret)
    )


def signed(op: FakeOP, changes: dict[str, Any]) -> str:
    """An ID token for alice from `op`, with `changes` to its claims."""
    now = int(time.time())
    claims = {
        "iss": op.issuer,
        "sub": "alice",
        "aud": op.client_id,
        "iat": now,
        "exp": now + 600,
        "nonce": NONCE,
    }
    return op.signing_key.sign(apply(claims, changes), {"kid": op.signing_key.kid})


async def outcome(client: OIDCClient, id_token: str, checks: IDTokenChecks) -> str:
    """'valid', or the sentence the validator refused the token with."""
    try:
        await client.validate_id_token(id_token, checks)
    except InvalidTokenError as e:
        return str(e)
    return "valid"


#: A token, the uses that accept it, and what the others say.
CASES = {
    "good": ({}, ALL, ""),
    # The hub got the token of its login maybe long ago; everyone else wants a live one.
    "expired": (
        {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        AUTH_STATE,
        "invalid ID token (expired)",
    ),
    "without exp and iat": (
        {"exp": REMOVE, "iat": REMOVE},
        AUTH_STATE,
        "invalid ID token (a required claim is missing)",
    ),
    # Only the code flow sends a nonce.
    "without nonce": ({"nonce": REMOVE}, ALL - {"code flow"}, "(nonce mismatch)"),
    "another nonce": ({"nonce": "someone-else's"}, ALL - {"code flow"}, "(nonce mismatch)"),
    # A refresh, and a newer hub grant of a held sign-in, must name the same person.
    "carol's": ({"sub": "carol"}, {"code flow", "device", "auth_state"}, "for another user"),
    "issued in the future": ({"iat": int(time.time()) + 3600}, set(), "(not yet valid)"),
    "for another client": ({"azp": "another-client"}, set(), "(wrong azp)"),
}


@pytest.mark.parametrize("case", CASES)
async def test_each_use_checks_what_it_should(op: FakeOP, case: str):
    changes, accepted, refusal = CASES[case]
    client, token = client_of(op), signed(op, changes)
    for use, checks in USES.items():
        answer = await outcome(client, token, checks(op))
        if use in accepted:
            assert answer == "valid", (use, answer)
        else:
            assert refusal in answer, (use, answer)
            # The sentence says which token it was.
            assert ("ID token in auth_state" in answer) == (use in AUTH_STATE), (use, answer)


async def test_a_refresh_must_repeat_the_issuer_of_the_token_it_renews(op: FakeOP):
    client, token = client_of(op), signed(op, {"nonce": REMOVE})
    earlier = IDTokenChecks.refresh({"sub": "alice", "iss": "https://earlier.example"})
    assert await outcome(client, token, earlier) == (
        "The provider sent an ID token from another issuer."
    )
    for use in ("device", "auth_state", "auth_state of alice"):
        assert await outcome(client, token, USES[use](op)) == "valid"


@pytest.mark.parametrize("use", USES)
async def test_signature_algorithm_and_key_are_checked_for_every_use(op: FakeOP, use: str):
    client = client_of(op)
    now = int(time.time())
    claims = {"iss": op.issuer, "sub": "alice", "aud": op.client_id, "iat": now, "exp": now + 60}
    checks = USES[use](op)
    # Signed with the client secret: a shared key the provider does not publish.
    shared = sign_hs256(op.client_secret)(claims, {"kid": op.signing_key.kid})
    assert "with an algorithm that is not allowed" in await outcome(client, shared, checks)
    unknown = op.pool.key("RS256", 1)
    unpublished = unknown.sign(claims, {"kid": unknown.kid})
    assert "signed with a key the provider does not publish" in await outcome(
        client, unpublished, checks
    )
    forged = signed(op, {}).rsplit(".", 1)[0] + "." + unpublished.rsplit(".", 1)[1]
    assert "(bad signature)" in await outcome(client, forged, checks)
    assert "that is not a JWT" in await outcome(client, "not.a-token", checks)
