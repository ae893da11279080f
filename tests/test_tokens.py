"""TokenSet parsing and the TokenManager's limits, with a counting refresh function."""

from __future__ import annotations

import asyncio
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


class Counting:
    """A refresh function that counts its calls and gives tokens of `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.calls: list[float] = []

    async def __call__(self, key: str, tokens: TokenSet) -> TokenSet:
        self.calls.append(time.time())
        now = time.time()
        expires_at = now + self.ttl
        return TokenSet(
            f"a{len(self.calls)}", refresh_token="r", expires_at=expires_at, obtained_at=now
        )


async def manager_with(ttl: float, **options: object) -> tuple[TokenManager, Counting, TokenSet]:
    refresh = Counting(ttl)
    store = MemoryTokenStore()
    now = time.time()
    first = TokenSet("a0", refresh_token="r", expires_at=now + ttl, obtained_at=now)
    await store.set("ada", first)
    return TokenManager(store, refresh, leeway=1, retry_budget=5, **options), refresh, first


async def test_a_token_asked_for_once_is_refreshed_as_its_window_opens_once():
    manager, refresh, first = await manager_with(3.0, refresh_ahead=0.4)
    ahead = manager.ahead(first, 1)
    assert ahead == 0.4
    opens = first.expires_at - 1 - ahead

    assert await manager.fresh("ada") is first  # long before the window: nothing to do yet
    assert refresh.calls == [] and len(manager.timers) == 1
    while not refresh.calls:
        assert time.time() < first.expires_at - 1, "no refresh before the token was due"
        await asyncio.sleep(0.02)
    # In the first half of the window, without a request in it.
    assert opens <= refresh.calls[0] <= opens + ahead / 2 + 0.2
    await asyncio.sleep(0.05)
    fresh = await manager.store.get("ada")
    assert fresh is not None and fresh.access_token == "a1"
    # Nobody asked for the new tokens: no timer for them, so no second refresh.
    assert len(manager.timers) == 0
    await asyncio.sleep(fresh.expires_at - 1 - 0.2 - time.time())
    assert len(refresh.calls) == 1


async def test_refresh_in_use_off_leaves_the_refresh_to_requests():
    manager, refresh, first = await manager_with(2.0, refresh_ahead=0.3, refresh_in_use=False)
    assert await manager.fresh("ada") is first
    assert len(manager.timers) == 0
    await asyncio.sleep(first.expires_at - 1 - time.time() - 0.05)
    assert refresh.calls == []


async def test_a_signed_out_key_and_a_stopping_manager_keep_no_timer():
    manager, refresh, first = await manager_with(2.0, refresh_ahead=0.3)
    await manager.fresh("ada")
    assert len(manager.timers) == 1
    await manager.sign_out("ada", "Signed out.")
    assert len(manager.timers) == 0

    await manager.save("ada", first)
    await manager.fresh("ada")
    await manager.drain()
    assert len(manager.timers) == 0
    await asyncio.sleep(first.expires_at - 1 - time.time())
    assert refresh.calls == []


async def test_tokens_obtained_together_are_refreshed_spread_over_half_the_window():
    manager, _, first = await manager_with(3600.0, refresh_ahead=30.0)
    loop = asyncio.get_running_loop()
    for n in range(200):
        await manager.store.set(f"user{n}", first)
        await manager.fresh(f"user{n}")
    opens = loop.time() + first.expires_at - time.time() - 1 - 30
    moments = sorted(handle.when() - opens for _, handle in manager.timers._armed.values())
    assert len(moments) == 200
    assert -0.5 < moments[0] < 3 and 12 < moments[-1] < 15.5
    assert len({round(moment, 3) for moment in moments}) > 150  # not in a few bunches
    manager.timers.cancel_all()
