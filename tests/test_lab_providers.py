"""Two providers in a real browser: the sign-out of one, from JupyterLab's details and on
its own page, names it, ends only it and says so afterwards.

Debian Chromium driven by Playwright against `jupyter lab` with the extension, the test
provider as `default` and a second instance of it as `partner`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import tests.support.browser as browser_support
from tests.support.browser import JupyterLab, artifacts_on_failure, new_context, write_settings
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer
from tests.test_lab_extension import ITEM, PANEL, open_lab, sign_in_in_popup

pytestmark = pytest.mark.browser

chromium_path = browser_support.chromium_path
chromium = browser_support.chromium
jp_asyncio_loop = browser_support.jp_asyncio_loop
jp_server_cleanup = browser_support.jp_server_cleanup


@pytest.fixture(scope="module")
def lab(
    chromium_path: str,
    oidc_provider: OIDCTestProvider,
    second_oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterLab]:
    """JupyterLab with the `default` and `partner` providers."""
    server = JupyterLab(tmp_path_factory.mktemp("lab-providers"), oidc_provider, resource_server)
    partner = second_oidc_provider.add_client([server.url + "nevis/callback"])
    server.env["NEVIS_AUTH_PROVIDERS"] = json.dumps(
        {
            "partner": {
                "issuer": second_oidc_provider.issuer,
                "client_id": partner.client_id,
                "client_secret": partner.client_secret,
            }
        }
    )
    write_settings(server.workdir / "settings", "jupyter-nevis-auth:plugin", {"pollSeconds": 300})
    with server:
        yield server


@pytest.fixture
def context(chromium: Any, lab: JupyterLab) -> Iterator[Any]:
    """A fresh browser profile, starting signed out of both providers."""
    requests.post(lab.url + "nevis/logout", params={"token": lab.token}, timeout=10)
    with new_context(chromium, viewport={"width": 1280, "height": 800}) as context:
        yield context


def providers(lab: JupyterLab) -> dict[str, bool]:
    return {n: p["logged_in"] for n, p in lab.status()["providers"].items()}


def sign_in_to_both(context: Any, page: Any) -> None:
    page.locator(ITEM).locator("button").click()
    panel = page.locator(PANEL)
    for name in ("default", "partner"):
        button = panel.get_by_role("button", name=f"Sign in to {name}")
        sign_in_in_popup(context, button.click)
        button.wait_for(state="detached")


def test_sign_out_of_partner_from_jupyterlabs_details(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab)
    with artifacts_on_failure(context, lab, "lab-sign-out-of-partner"):
        sign_in_to_both(context, page)
        panel = page.locator(PANEL)
        partner = panel.locator('.jp-NevisAuth-provider[data-provider="partner"]')
        partner.get_by_role("button", name="Sign out of partner").click()
        page.get_by_text("Signed out of partner.").wait_for()
        partner.get_by_text("Signed out", exact=True).wait_for()
        partner.get_by_text("You signed out.").wait_for()
        default = panel.locator('.jp-NevisAuth-provider[data-provider="default"]')
        default.get_by_text("Signed in as Alice Example").wait_for()
        assert providers(lab) == {"default": True, "partner": False}


def test_the_sign_out_page_of_partner_on_its_own(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab)
    with artifacts_on_failure(context, lab, "page-sign-out-of-partner"):
        sign_in_to_both(context, page)
        page.goto(f"{lab.url}nevis/logout?provider=partner")
        page.get_by_role("heading", name="Sign out of partner").wait_for()
        page.get_by_text("You are signed in at partner as alice.").wait_for()
        page.get_by_text("Your sign-in at default stays.").wait_for()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Signed out of partner").wait_for()
        page.get_by_text("You signed out of partner. Your sign-in at default stays.").wait_for()
        page.screenshot(path=str(lab.workdir / "signed-out-of-partner.png"))
        assert page.url.endswith("nevis/logout?provider=partner")
        assert providers(lab) == {"default": True, "partner": False}
