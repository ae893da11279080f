"""DPoP in a real kernel: every client sends the token with a fresh proof and answers the API's
nonce; the token alone, copied out of the kernel, is refused; the key shows up nowhere."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.file_store import EncryptedFileTokenStore
from jupyter_nevis_auth.core.stores import new_store_key
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.dpop import DPoPKey
from tests.conftest import Browser
from tests.kernel.conftest import Kernel, stored
from tests.kernel.view import KernelView
from tests.support.jupyter_process import JupyterServerProcess, run_cell
from tests.support.process import free_port
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

def by_dpop_headers_and_the_apis_nonce(url):
    # As docs/high-assurance.md shows it.
    first = requests.get(url, headers=dpop_headers("GET", url), timeout=10)
    if first.status_code == 401 and "use_dpop_nonce" in first.headers["WWW-Authenticate"]:
        headers = dpop_headers("GET", url, nonce=first.headers["DPoP-Nonce"])
        response = requests.get(url, headers=headers, timeout=10)
        response.history = [first]
        return response
    first.history = []
    return first

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
    # A nonce the API changed since: its challenge's nonce goes into the retry's proof.
    dpop_api.dpop_verifier.rotate_nonce()
    call = f"by_dpop_headers_and_the_apis_nonce({url!r})"
    outputs.append(await kernel.run(f"out(**answered({call}))"))
    values = json.loads(outputs[-1].stdout.splitlines()[-1])
    assert values == {"code": 200, "history": [401], "scheme": "DPoP", "sub": username}

    # The token's repr, the cell's own result, shows neither the token nor the key.
    outputs.append(await kernel.run("get_access_token()"))
    assert outputs[-1].result.startswith("<access token")
    seen = "".join(o.stdout + o.result + o.error for o in outputs) + caplog.text
    assert jwk["d"] not in seen
    assert (await stored(jp_serverapp)).access_token not in seen


async def test_the_widget_and_the_waiting_cell_show_neither_the_key_nor_the_tokens(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, jp_serverapp, dpop_api
):
    # A person's cell, before the sign-in: the widget shows up and the cell waits.
    cell = kernel_view.start_execute(
        f"response = jupyter_nevis_auth.session().get({dpop_api.hello_url!r}, timeout=60)\n"
        "print(response.status_code, response.request.headers['Authorization'].split()[0])\n"
        "jupyter_nevis_auth.login()"
    )
    widget = await kernel_view.until(
        lambda: kernel_view.login_widgets() and kernel_view.login_widgets()[0]
    )
    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await asyncio.wait_for(cell, 30)
    assert reply["status"] == "ok", reply
    assert "200 DPoP" in reply["output"], reply["output"]
    await kernel_view.until(lambda: "Signed in as" in kernel_view.text(widget))

    tokens = await stored(jp_serverapp)
    assert tokens.dpop_jwk is not None
    # Every message the frontend got: outputs and the widgets' state, first to last.
    transcript = kernel_view.transcript()
    for secret in (tokens.dpop_jwk["d"], tokens.access_token, tokens.refresh_token):
        assert secret and secret not in transcript


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


#: Kernel code: a GET of the API through session() asking for `min_ttl` seconds, and which
#: key and token the kernel used.
THROUGH_SESSION = """
import hashlib, json, requests
from jupyter_nevis_auth import get_access_token, session
response = session({min_ttl}).get({url!r}, timeout=10)
token = get_access_token({min_ttl})
print(json.dumps({{"code": response.status_code, "jkt": token.dpop.thumbprint,
                  "token": hashlib.sha256(str(token).encode()).hexdigest()}}))
"""


def through_session(server: JupyterServerProcess, url: str, min_ttl: float) -> dict[str, Any]:
    """What THROUGH_SESSION printed in a new kernel of `server`."""
    with server.kernel() as client:
        printed = run_cell(client, THROUGH_SESSION.format(url=url, min_ttl=min_ttl))
    return json.loads(printed.splitlines()[-1])  # type: ignore[no-any-return]


def test_a_real_restart_keeps_the_sign_ins_key_for_kernels_and_refreshes(
    tmp_path, username, oidc_provider: OIDCTestProvider, dpop_api: ResourceServer
):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # Tokens live 10 s: the restarted server refreshes the expired one with the stored key.
    client = oidc_provider.add_client([url + "nevis/callback"], access_token_ttl=10)
    store = tmp_path / "tokens.enc"
    config = {
        "ServerApp": {"port": port, "port_retries": 0},
        "NevisAuth": client.nevis_settings(
            oidc_provider.issuer,
            http_timeout=5.0,
            dpop=True,
            token_store_class="jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore",
            store_path=str(store),
            store_key=new_store_key(),
        ),
    }
    with JupyterServerProcess(tmp_path, config) as server:
        server.sign_in(username)
        expired = time.monotonic() + 10
        before = through_session(server, dpop_api.hello_url, 1)
        log = server.output
    assert before["code"] == 200

    with JupyterServerProcess(tmp_path, config) as server:
        time.sleep(max(0.0, expired - time.monotonic()))
        after = through_session(server, dpop_api.hello_url, 1)
        log += server.output

    assert after["code"] == 200
    assert after["jkt"] == before["jkt"] and after["token"] != before["token"]
    assert oidc_provider.token_calls(client.client_id, "refresh_token") >= 1
    (tokens,) = asyncio.run(stored_in(store, config["NevisAuth"]["store_key"]))
    assert tokens.dpop_jwk is not None
    assert DPoPKey.from_jwk(tokens.dpop_jwk).thumbprint == before["jkt"]
    assert tokens.dpop_jwk["d"] not in log
    assert tokens.dpop_jwk["d"].encode() not in store.read_bytes()


async def stored_in(path: Path, key: str) -> list[TokenSet]:
    """Every token set in the encrypted file at `path`."""
    store = EncryptedFileTokenStore(parent=NevisAuth(store_path=str(path), store_key=key))
    return [t for t in [await store.get(k) for k in await store.keys()] if t is not None]
