"""The notebooks in notebooks/ run against the test provider and API, so they cannot rot.

Each runs with nbclient in a kernel started by a real Jupyter server with the
extension, after a sign-in over HTTP, as papermill or `nbconvert --execute` would.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_server.serverapp import ServerApp
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login
from tests.support.resource_server import ResourceServer
from tests.support.two_apis import MODELS_SIGN_IN_SCOPES, two_apis_config

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: The notebooks that call the one protected test API; two-apis.ipynb has its own test.
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if p.name != "two-apis.ipynb")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@pytest.fixture
def api_url(monkeypatch: pytest.MonkeyPatch, resource_server: ResourceServer) -> str:
    """The protected test API, named to the notebooks as the demo names it."""
    # Kernels inherit the server's environment.
    monkeypatch.setenv("DEMO_API_URL", resource_server.hello_url)
    return resource_server.hello_url


async def execute(serverapp: ServerApp, path: Path) -> nbformat.NotebookNode:
    """Run a notebook in a kernel of the server, as nbclient (and so papermill) does."""
    nb = nbformat.read(path, as_version=4)
    manager = serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    client = NotebookClient(nb, km=manager.get_kernel(kernel_id), timeout=60)
    try:
        await client.async_execute()
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        await manager.shutdown_kernel(kernel_id, now=True)
    return nb


def outputs(nb: nbformat.NotebookNode) -> str:
    """Every text a person would read in the executed notebook's outputs."""
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", ()):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


async def raw_tokens(serverapp: ServerApp) -> list[str]:
    """The raw tokens the server holds for its user."""
    settings = serverapp.web_app.settings
    tokens = await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])
    assert tokens is not None
    return [t for t in (tokens.access_token, tokens.refresh_token, tokens.id_token) if t]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
async def test_notebook_runs_signed_in(
    path: Path,
    jp_serverapp: ServerApp,
    browser: Browser,
    redirect_uri: str,
    username: str,
    api_url: str,
) -> None:
    await browser.sign_in(username, redirect_uri=redirect_uri)

    nb = await execute(jp_serverapp, path)

    text = outputs(nb)
    # The protected API answered, for this user, with the scope granted at sign-in.
    assert f"'sub': '{username}'" in text
    assert "'scope': 'api'" in text
    assert "Error" not in text
    saved = nbformat.writes(nb)
    assert not any(token in saved for token in await raw_tokens(jp_serverapp))
    assert "eyJ" not in saved  # no JWT of any kind


async def test_getting_started_shows_widget_and_keeps_no_token_in_its_state(
    jp_serverapp: ServerApp, browser: Browser, redirect_uri: str, username: str, api_url: str
) -> None:
    await browser.sign_in(username, redirect_uri=redirect_uri)

    nb = await execute(jp_serverapp, NOTEBOOK_DIR / "getting-started.ipynb")

    assert f"LoginWidget: signed in as {username.capitalize()} Example" in outputs(nb)
    state: dict[str, Any] = nb.metadata["widgets"][WIDGET_STATE]["state"]
    values = json.dumps(state)
    assert f"Signed in as <b>{username.capitalize()} Example</b>" in values
    assert not any(token in values for token in await raw_tokens(jp_serverapp))


async def test_signed_out_run_without_frontend_fails_at_once(
    jp_serverapp: ServerApp, http_server_client: Any, api_url: str
) -> None:
    with pytest.raises(CellExecutionError) as failure:
        await execute(jp_serverapp, NOTEBOOK_DIR / "protected-api.ipynb")

    assert "LoginRequiredError" in str(failure.value)


class TestTwoApis:
    @pytest.fixture
    def nevis_config(
        self,
        nevis_config: dict[str, Any],
        sales_api: ResourceServer,
        models_api: ResourceServer,
        second_oidc_provider: OIDCTestProvider,
        redirect_uri: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> dict[str, Any]:
        """The sales API at the session's provider, the models API at a second one."""
        monkeypatch.setenv("SALES_API_URL", sales_api.hello_url)
        monkeypatch.setenv("MODELS_API_URL", models_api.hello_url)
        partner: RegisteredClient = second_oidc_provider.add_client([redirect_uri])
        settings = partner.nevis_settings(second_oidc_provider.issuer, scopes=MODELS_SIGN_IN_SCOPES)
        return two_apis_config(nevis_config, sales_api, models_api, settings)

    async def test_two_apis_side_by_side(
        self, jp_serverapp: ServerApp, browser: Browser, redirect_uri: str, username: str
    ) -> None:
        await browser.sign_in(username, redirect_uri=redirect_uri)
        authorize = await browser.start_login_for("provider", "partner")
        callback = await asyncio.to_thread(
            provider_login, authorize, username, redirect_prefix=redirect_uri
        )
        assert (await browser.callback(callback)).code == 302

        nb = await execute(jp_serverapp, NOTEBOOK_DIR / "two-apis.ipynb")

        text = outputs(nb)
        assert "'sales.read'" in text and "'models.read'" in text
        assert text.count(f"'sub': '{username}'") == 2
        assert "<access token, expires in" in text
        assert "Error" not in text
        saved = nbformat.writes(nb)
        assert "eyJ" not in saved  # no JWT of any kind
