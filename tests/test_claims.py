"""Claims as people see them: one display-name rule, binding claims hidden."""

from __future__ import annotations

import pytest

from jupyter_nevis_auth.claims import display_name, public_claims


@pytest.mark.parametrize(
    "claims, name",
    [
        ({"sub": "s", "preferred_username": "alice", "name": "Alice Example"}, "Alice Example"),
        ({"sub": "s", "preferred_username": "alice"}, "alice"),
        ({"sub": "s"}, "s"),
        ({"sub": "s", "name": ""}, "s"),
        ({"sub": "s", "name": 42}, "s"),
        ({}, ""),
    ],
)
def test_display_name(claims: dict[str, object], name: str):
    assert display_name(claims) == name


def test_public_claims_hide_how_the_token_was_bound():
    claims = {"sub": "s", "nonce": "n", "at_hash": "a", "c_hash": "c", "email": "e"}
    assert public_claims(claims) == {"sub": "s", "email": "e"}
