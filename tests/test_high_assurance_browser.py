"""A person signs in with Chromium to a real Jupyter server that uses PAR and private_key_jwt
(and, under profile "fapi2", DPoP), then a real kernel gets the token and uses it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from jupyter_nevis_auth.core.client_keys import new_client_key
from tests.support.browser import launched_chromium, new_context
from tests.support.client_key_files import write_client_keys
from tests.support.jupyter_process import JupyterServerProcess, run_cell
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCTestProvider]:
    """A provider with PAR, private_key_jwt and DPoP (with its nonces)."""
    with OIDCTestProvider(par=True, key_auth=True, dpop=True) as provider:
        yield provider


def sign_in_with_chromium(
    server: JupyterServerProcess, provider: OIDCTestProvider, username: str
) -> list[str]:
    """Sign `username` in to `server` in Chromium; the authorization requests it made."""
    authorize_requests: list[str] = []
    with launched_chromium() as chromium, new_context(chromium) as context:
        page = context.new_page()
        page.on(
            "request",
            lambda r: (
                authorize_requests.append(r.url)
                if r.url.startswith(provider.authorization_endpoint + "?")
                else None
            ),
        )
        page.goto(f"{server.url}nevis/login?token={server.token}")
        page.locator('input[name="login"]').fill(username)
        page.locator('input[name="password"]').fill("secret")
        page.locator('button[type="submit"]').click()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{server.url}**")
    return authorize_requests


def test_a_chromium_sign_in_with_par_and_a_client_key_reaches_the_kernel(
    tmp_path: Path, provider: OIDCTestProvider, username: str
):
    private_key = new_client_key("PS256")
    key_file = tmp_path / "client-key.json"
    public = write_client_keys(key_file, private_key)
    client = provider.add_client(["http://127.0.0.1/placeholder"])
    nevis = client.nevis_settings(
        provider.issuer, client_secret="", client_key_file=str(key_file), use_par="always"
    )
    server = JupyterServerProcess(tmp_path / "server", {"NevisAuth": nevis})
    with server:
        provider.add_client(
            [server.url + "nevis/callback"],
            client_id=client.client_id,
            token_endpoint_auth_method="private_key_jwt",
            jwks=public,
        )
        authorize_requests = sign_in_with_chromium(server, provider, username)
        with server.kernel() as kernel:
            out = run_cell(
                kernel,
                textwrap.dedent("""
                from jupyter_nevis_auth import get_access_token, whoami
                print(whoami()["sub"], len(get_access_token()) > 100)
            """),
            )
        log = server.output

    assert out.split() == [username, "True"]
    assert authorize_requests, "Chromium never went to the authorization endpoint"
    assert set(parse_qs(urlparse(authorize_requests[0]).query)) == {"client_id", "request_uri"}
    stats = provider.stats(client.client_id)
    assert stats["par"]["ok"] == 1
    assert set(stats["client_auth"]) == {"private_key_jwt"}
    assert private_key["d"] not in log


def test_a_chromium_sign_in_under_fapi2_gives_the_kernel_a_dpop_bound_token(
    tmp_path: Path, provider: OIDCTestProvider, username: str
):
    private_key = new_client_key("ES256")
    key_file = tmp_path / "client-key.json"
    public = write_client_keys(key_file, private_key)
    client = provider.add_client(["http://127.0.0.1/placeholder"])
    nevis = client.nevis_settings(
        provider.issuer,
        client_secret="",
        client_key_file=str(key_file),
        profile="fapi2",
        dpop=True,
    )
    server = JupyterServerProcess(tmp_path / "server", {"NevisAuth": nevis})
    with server, ResourceServer(provider.issuer, dpop=True) as api:
        provider.add_client(
            [server.url + "nevis/callback"],
            client_id=client.client_id,
            token_endpoint_auth_method="private_key_jwt",
            jwks=public,
        )
        authorize_requests = sign_in_with_chromium(server, provider, username)
        with server.kernel() as kernel:
            out = run_cell(
                kernel,
                textwrap.dedent(f"""
                import requests
                from jupyter_nevis_auth import get_access_token, session
                url = {api.hello_url!r}
                ok = session().get(url, timeout=10)
                token = str(get_access_token())
                as_bearer = requests.get(url, headers={{"Authorization": "Bearer " + token}})
                print(ok.status_code, ok.request.headers["Authorization"].split()[0],
                      ok.json()["sub"], as_bearer.status_code)
            """),
            )
        log = server.output

    # The API verified a proof of the key the token is bound to (cnf.jkt); the same token
    # without it, as a bearer token, is refused.
    assert out.split() == ["200", "DPoP", username, "401"]
    assert set(parse_qs(urlparse(authorize_requests[0]).query)) == {"client_id", "request_uri"}
    stats = provider.stats(client.client_id)
    assert stats["par"]["ok"] == 1
    assert set(stats["client_auth"]) == {"private_key_jwt"}
    assert private_key["d"] not in log
