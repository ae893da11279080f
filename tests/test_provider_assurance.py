"""The high-assurance options are per provider: one server, a plain default provider with a
client secret, and a `bank` provider under profile fapi2 (PAR, private_key_jwt, DPoP)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from jupyter_nevis_auth.core.client_keys import new_client_key
from tests.conftest import Browser
from tests.support.client_key_files import write_client_keys
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login
from tests.test_api_tokens import kernel_token


@pytest.fixture(scope="module")
def bank_provider() -> Iterator[OIDCTestProvider]:
    """A provider with everything FAPI 2.0 asks for: PAR, private_key_jwt, DPoP, iss, S256."""
    with OIDCTestProvider(par=True, key_auth=True, dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def bank_key() -> dict[str, Any]:
    return new_client_key("ES256")


@pytest.fixture
def bank_key_file(tmp_path: Path, bank_key: dict[str, Any]) -> Path:
    return tmp_path / "bank-key.json"


@pytest.fixture
def bank_client(
    bank_provider: OIDCTestProvider,
    redirect_uri: str,
    bank_key: dict[str, Any],
    bank_key_file: Path,
) -> RegisteredClient:
    """This server's client at the bank: private_key_jwt with the key's public half only."""
    public = write_client_keys(bank_key_file, bank_key)
    return bank_provider.add_client(
        [redirect_uri], token_endpoint_auth_method="private_key_jwt", jwks=public
    )


@pytest.fixture
def nevis_config(
    nevis_config: dict[str, Any],
    bank_provider: OIDCTestProvider,
    bank_client: RegisteredClient,
    bank_key_file: Path,
) -> dict[str, Any]:
    """The session's provider as it is, and the bank with its own key file, fapi2 and DPoP."""
    bank = bank_client.nevis_settings(
        bank_provider.issuer,
        client_secret="",
        client_key_file=str(bank_key_file),
        profile="fapi2",
        dpop=True,
    )
    bank.pop("extra_authorize_params", None)  # the top level's, as every provider's
    return {**nevis_config, "providers": {"bank": bank}}


async def test_each_provider_signs_in_with_its_own_assurance_options(
    browser: Browser,
    redirect_uri: str,
    username: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    bank_provider: OIDCTestProvider,
    bank_client: RegisteredClient,
):
    # The default provider: a plain authorization request, a client secret, a bearer token.
    plain = await browser.start_login_for("provider", "default")
    assert "request_uri" not in parse_qs(urlparse(plain).query)
    callback = await asyncio.to_thread(
        provider_login, plain, username, redirect_prefix=redirect_uri
    )
    assert (await browser.callback(callback)).code == 302
    # The bank: a pushed request, the client key, a DPoP-bound token.
    pushed = await browser.start_login_for("provider", "bank")
    assert set(parse_qs(urlparse(pushed).query)) == {"client_id", "request_uri"}
    callback = await asyncio.to_thread(
        provider_login, pushed, username, redirect_prefix=redirect_uri
    )
    assert (await browser.callback(callback)).code == 302

    code, default = await kernel_token(jp_fetch, jp_serverapp)
    assert code == 200, default
    assert default["token_type"] == "Bearer" and "dpop_jwk" not in default
    code, bank = await kernel_token(jp_fetch, jp_serverapp, provider="bank")
    assert code == 200, bank
    assert bank["token_type"] == "DPoP" and bank["dpop_jwk"]["kty"] == "EC"

    assert set(oidc_provider.stats(oidc_client.client_id)["client_auth"]) == {"client_secret_basic"}
    stats = bank_provider.stats(bank_client.client_id)
    assert stats["par"]["ok"] == 1
    assert set(stats["client_auth"]) == {"private_key_jwt"}
