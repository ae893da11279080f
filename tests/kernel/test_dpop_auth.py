"""DPoP in a real kernel: every client sends the token with a fresh proof and answers the API's
nonce; the token alone, copied out of the kernel, is refused; the key shows up nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from jupyter_nevis_auth.dpop import DPoPKey
from tests.conftest import Browser
from tests.kernel.conftest import Kernel, stored
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OIDCTestProvider]:
    """A provider that binds tokens to DPoP keys and requires its nonce in every proof."""
    with OIDCTestProvider(dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def dpop_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The API in DPoP mode: bound tokens only, each proof with its current nonce."""
    with ResourceServer(oidc_provider.issuer, dpop=True) as api:
        yield api


@pytest.fixture
def nevis_config(oidc_provider: OIDCTestProvider, oidc_client: RegisteredClient) -> dict[str, Any]:
    return oidc_client.nevis_settings(oidc_provider.issuer, http_timeout=5.0, dpop=True)


#: Kernel code: a GET of `url` through each of the package's clients, after the API has
#: changed its nonce (so each must answer use_dpop_nonce), with what the API answered.
EVERY_CLIENT = """
import asyncio, httpx
from jupyter_nevis_auth import HTTPXBearerAuth, dpop_headers

def answered(response):
    return {"code": response.status_code, "history": [r.status_code for r in response.history],
            "scheme": response.request.headers["Authorization"].split()[0],
            "sub": response.json().get("sub")}

async def by_async_httpx(url):
    async with httpx.AsyncClient(auth=HTTPXBearerAuth(), timeout=10) as client:
        return await client.get(url)

def by_dpop_headers(url):
    response = requests.get(url, headers=dpop_headers("GET", url), timeout=10)
    response.history = []
    return response

CLIENTS = {
    "BearerAuth": lambda url: requests.get(url, auth=BearerAuth(), timeout=10),
    "session": lambda url: session().get(url, timeout=10),
    "HTTPXBearerAuth": lambda url: httpx.get(url, auth=HTTPXBearerAuth(), timeout=10),
}
"""


async def test_every_client_sends_a_fresh_proof_and_answers_the_apis_nonce(
    browser: Browser, redirect_uri, username, jp_serverapp, kernel: Kernel, dpop_api, caplog
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    jwk = (await stored(jp_serverapp)).dpop_jwk
    assert jwk is not None
    outputs = [await kernel.run(EVERY_CLIENT)]
    url = dpop_api.hello_url

    for name in ("BearerAuth", "session", "HTTPXBearerAuth", "async httpx"):
        dpop_api.dpop_verifier.rotate_nonce()
        challenges = dpop_api.dpop_verifier.nonce_challenges
        call = "await by_async_httpx(url)" if name == "async httpx" else f"CLIENTS[{name!r}](url)"
        outputs.append(await kernel.run(f"url = {url!r}\nout(**answered({call}))"))
        values = json.loads(outputs[-1].stdout.splitlines()[-1])
        assert values == {"code": 200, "history": [401], "scheme": "DPoP", "sub": username}, name
        assert dpop_api.dpop_verifier.nonce_challenges == challenges + 1, name

    # dpop_headers, for other HTTP libraries: the nonce the others were given is in its proof.
    outputs.append(await kernel.run(f"out(**answered(by_dpop_headers({url!r})))"))
    values = json.loads(outputs[-1].stdout.splitlines()[-1])
    assert values == {"code": 200, "history": [], "scheme": "DPoP", "sub": username}

    # The token's repr, the cell's own result, shows neither the token nor the key.
    outputs.append(await kernel.run("get_access_token()"))
    assert outputs[-1].result.startswith("<access token")
    seen = "".join(o.stdout + o.result + o.error for o in outputs) + caplog.text
    assert jwk["d"] not in seen
    assert (await stored(jp_serverapp)).access_token not in seen


async def test_the_token_copied_out_of_the_kernel_is_refused_without_its_key(
    browser: Browser, redirect_uri, username, jp_serverapp, kernel: Kernel, dpop_api
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    url = dpop_api.hello_url
    values = await kernel.values(f"""
        url = {url!r}
        ok = session().get(url, timeout=10)
        stolen = str(get_access_token())
        as_bearer = requests.get(url, headers={{"Authorization": f"Bearer {{stolen}}"}}, timeout=10)
        no_proof = requests.get(url, headers={{"Authorization": f"DPoP {{stolen}}"}}, timeout=10)
        # A request copied as it went out: its proof was used once already.
        replayed = requests.get(url, headers=dict(ok.request.headers), timeout=10)
        out(codes=[r.status_code for r in (ok, as_bearer, no_proof, replayed)])
    """)
    assert values["codes"] == [200, 401, 401, 401]

    # Elsewhere, with a key of the thief's own: the token is bound to the kernel's.
    token = (await stored(jp_serverapp)).access_token
    thief = DPoPKey.generate()
    nonce = dpop_api.dpop_verifier.nonce
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": thief.proof("GET", url, access_token=token, nonce=nonce),
    }
    refused = requests.get(url, headers=headers, timeout=10)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
