"""In Chromium, from the hub's login page to a notebook calling a protected API.

A real JupyterHub (tests/hub/oauth_config.py) signs alice in at the real test provider's
form; the nevis-auth service starts from that sign-in (auth_state), and her `hubmode`
server asks the service for tokens. JupyterLab opens a notebook in her home, one cell
calls the test API with BearerAuth(), and the page shows the API's answer: no second
sign-in anywhere. Headless Debian Chromium; without it the test is skipped (CI: failed).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import tests.support.browser as browser_support
from tests.hub.service_harness import OAuthHub
from tests.support.browser import (
    ARTIFACTS,
    Notebook,
    launched_chromium,
    new_context,
    quiet_lab_settings,
    sign_in_at_provider,
)
from tests.support.hub import SIGN_IN_ONCE, HubSpec
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer

pytestmark = [pytest.mark.hub, pytest.mark.browser]

#: The server started in hub mode (tests/hub/service_config.py's pre_spawn_hook).
SERVER = "/user/alice/hubmode/"
NOTEBOOK = "calls-the-api.ipynb"
CALL = "answer = requests.get("

CELL = """import requests
from jupyter_nevis_auth import BearerAuth
answer = requests.get({url!r}, auth=BearerAuth(), timeout=10)
print("API answered", answer.status_code, "for", answer.json()["sub"])"""


# Debian's Chromium, and no Jupyter test event loop (Playwright's sync API runs its own).
chromium_path = browser_support.chromium_path
jp_asyncio_loop = browser_support.jp_asyncio_loop
jp_server_cleanup = browser_support.jp_server_cleanup


@pytest.fixture(scope="module")
def hub_spec(chromium_path: str) -> HubSpec:
    """The sign-in-once hub (started only where Chromium is)."""
    return dataclasses.replace(SIGN_IN_ONCE, name="oauth-hub-browser")


def write_notebook(home: Path, api_url: str) -> None:
    """alice's notebook with the cell that calls the API, and JupyterLab settings of hers."""
    home.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "call-api",
                "metadata": {},
                "outputs": [],
                "source": CELL.format(url=api_url),
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (home / NOTEBOOK).write_text(json.dumps(notebook), encoding="utf-8")
    quiet_lab_settings(home / ".jupyter" / "lab" / "user-settings")


def test_in_chromium_alice_goes_from_the_hub_login_to_a_notebook_calling_the_api(
    hub_and_client: tuple[OAuthHub, RegisteredClient],
    chromium_path: str,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
) -> None:
    hub, client = hub_and_client
    write_notebook(hub.work_dir / "home" / "alice", resource_server.hello_url)
    lab = SERVER + "lab/tree/" + NOTEBOOK
    spawn = "/hub/spawn/alice/hubmode?next=" + quote(lab, safe="")
    page: Any = None
    with (
        launched_chromium(chromium_path) as browser,
        new_context(browser, viewport={"width": 1280, "height": 900}) as context,
    ):
        try:
            page = context.new_page()
            page.goto(hub.url + "/hub/login?next=" + quote(spawn, safe=""))
            # The hub's login page: GenericOAuthenticator's one button, to the provider.
            page.get_by_role("button", name="Sign in with").click()
            sign_in_at_provider(page, "alice")
            # Back at the hub: her hub-mode server starts, JupyterLab opens the notebook.
            page.wait_for_url(hub.url + lab + "*", timeout=90_000)
            nb = Notebook(page)
            cell = nb.run(CALL)
            output = cell.locator(".jp-OutputArea-output").first
            output.filter(has_text="API answered").wait_for()
            text = output.inner_text()
        except BaseException:
            if page is not None and not page.is_closed():
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "hub-notebook.png", full_page=True)
                (ARTIFACTS / "hub-notebook-hub.log").write_text(hub.log())
            raise
    assert "API answered 200 for alice" in text, text

    # One sign-in, the hub's: one code traded; the service's own code flow never ran.
    codes = oidc_provider.stats(client.client_id)["token"]["authorization_code"]
    assert codes == {"ok": 1, "error": 0, "total": 1}
    log = hub.log()
    assert "Signed in alice with their JupyterHub sign-in" in log
    assert "Signed in alice at" not in log
    assert "GET /services/nevis-auth/login" not in log
    assert "GET /services/nevis-auth/callback" not in log
    # The kernel's server had no client of its own: it asked the service (hub mode).
    assert "jupyter-nevis-auth: hub mode, sign-ins and tokens at" in log
