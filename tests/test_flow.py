"""Pending sign-ins: unguessable, single use, short-lived, bounded, named for hub servers."""

from __future__ import annotations

import base64
import hashlib

import pytest

from jupyter_nevis_auth.core import pending as flow
from jupyter_nevis_auth.core.pending import (
    PendingLogins,
    new_state,
    pkce_challenge,
    state_server_name,
)


def test_each_sign_in_gets_fresh_unguessable_values():
    pending = PendingLogins(ttl=60)
    first, second = pending.start("https://h/cb", "/"), pending.start("https://h/cb", "/")
    for name in ("state", "nonce", "code_verifier", "browser_key"):
        one, two = getattr(first, name), getattr(second, name)
        assert one != two and len(one) >= 43, name
    # RFC 7636 4.1: 43 to 128 characters of the unreserved set.
    assert 43 <= len(first.code_verifier) <= 128


def test_a_sign_in_can_be_claimed_once():
    pending = PendingLogins(ttl=60)
    login = pending.start("https://h/cb", "/next")
    assert pending.peek(login.state) is login
    assert pending.pop(login.state) is login
    assert pending.pop(login.state) is None and pending.peek(login.state) is None


def test_a_sign_in_expires(monkeypatch: pytest.MonkeyPatch):
    now = [1000.0]
    monkeypatch.setattr(flow.time, "monotonic", lambda: now[0])
    pending = PendingLogins(ttl=600)
    login = pending.start("https://h/cb", "/")
    now[0] += 599
    assert pending.peek(login.state) is login
    now[0] += 2
    assert pending.pop(login.state) is None


def test_a_flood_of_sign_ins_keeps_the_newest_only():
    pending = PendingLogins(ttl=60)
    logins = [pending.start("https://h/cb", "/") for _ in range(flow.MAX_PENDING + 10)]
    assert len(pending) == flow.MAX_PENDING
    assert pending.peek(logins[0].state) is None
    assert pending.peek(logins[-1].state) is logins[-1]


def test_the_pkce_challenge_is_s256():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert pkce_challenge(verifier) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize("server", ["", "gpu", "with.dots"])
def test_the_state_names_its_hub_server(server: str):
    state = new_state(server)
    assert state_server_name(state) == server
    assert repr(PendingLogins(ttl=1, server_name=server).start("u", "/")).count(state) == 0
