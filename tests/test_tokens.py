"""TokenSet parsing and the TokenManager's limits, with a counting refresh function."""

from __future__ import annotations

import time

import pytest

from jupyter_nevis_auth.core.refresh import TokenManager
from jupyter_nevis_auth.core.stores import MemoryTokenStore
from jupyter_nevis_auth.core.tokens import TokenSet


@pytest.mark.parametrize("expires_in", [True, float("nan"), float("inf"), -5, "soon", None, [1]])
def test_odd_expires_in_means_unknown_expiry(expires_in):
    tokens = TokenSet.from_response({"access_token": "a", "expires_in": expires_in}, {})
    assert tokens.expires_at is None


@pytest.mark.parametrize("expires_in", [3600, 3600.0, "3600"])
def test_expires_in_sets_the_expiry(expires_in):
    tokens = TokenSet.from_response({"access_token": "a", "expires_in": expires_in}, {}, now=0.0)
    assert tokens.expires_at == 3600.0


def test_refresh_answer_without_refresh_token_keeps_the_old_one():
    first = TokenSet.from_response({"access_token": "a", "refresh_token": "r1"}, {})
    second = TokenSet.from_response({"access_token": "b"}, {}, previous=first)
    assert second.refresh_token == "r1"
    third = TokenSet.from_response(
        {"access_token": "c", "refresh_token": "r2"}, {}, previous=second
    )
    assert third.refresh_token == "r2"


def test_repr_never_shows_a_token():
    tokens = TokenSet("access-secret", refresh_token="refresh-secret", id_token="id-secret")
    assert "secret" not in repr(tokens)


async def test_forced_refreshes_are_rate_limited():
    calls = []

    async def refresh(key: str, tokens: TokenSet) -> TokenSet:
        calls.append(tokens)
        return TokenSet(f"access-{len(calls)}", refresh_token="r", expires_at=time.time() + 3600)

    store = MemoryTokenStore()
    await store.set("ada", TokenSet("access-0", refresh_token="r", expires_at=time.time() + 3600))
    manager = TokenManager(store, refresh, leeway=60, retry_budget=5)

    first = await manager.fresh("ada", force=True)
    again = [await manager.fresh("ada", force=True) for _ in range(5)]

    assert len(calls) == 1
    assert first.access_token == "access-1"
    assert {t.access_token for t in again} == {"access-1"}


def test_a_stored_token_set_keeps_how_it_was_obtained_and_ignores_unknown_fields():
    tokens = TokenSet("a" * 20, scope=("models.read",), obtained_by="narrowed refresh")
    data = tokens.to_dict()
    assert TokenSet.from_dict(data) == tokens
    # A file written by a later version, with a field this one does not know.
    assert TokenSet.from_dict({**data, "bound_to": "key"}) == tokens
    del data["obtained_by"]  # written before the field existed
    assert TokenSet.from_dict(data).obtained_by == ""
