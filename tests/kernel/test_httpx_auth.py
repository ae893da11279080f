"""HTTPXBearerAuth: the token on each request, one refresh and retry after a 401."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from jupyter_nevis_auth import kernel as kernel_api
from tests.conftest import Browser
from tests.kernel.conftest import revoke_access_token
from tests.support.resource_server import ResourceServer


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_httpx_auth_refreshes_and_retries_once_after_a_401(
    flavour: str,
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    resource_server: ResourceServer,
):
    # Run in this process (a plain Python program pointed at the server by its environment).
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await revoke_access_token(jp_serverapp)
    resource_server.reset()
    auth = kernel_api.HTTPXBearerAuth()

    if flavour == "sync":
        response = await asyncio.to_thread(httpx.get, resource_server.hello_url, auth=auth)
    else:
        async with httpx.AsyncClient(auth=auth) as client:
            response = await client.get(resource_server.hello_url)

    assert response.status_code == 200
    assert response.json()["sub"] == username
    assert resource_server.stats() == {"requests": 2, "unauthorized": 1}
