"""A sign-in from a console kernel's link or device code, completed by another person.

The kernel is driven as `jupyter console` drives it; the other person signs in at the
provider in a fresh headless Chromium. Their sign-in is refused, the cell that waited
for it ends with one sentence, and the server's sign-in is unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests import test_frontends
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.test_frontends import (
    DEVICE_LINK,
    LINK,
    Cell,
    Console,
    in_fresh_browser,
    sign_in_at_provider,
)

pytestmark = pytest.mark.browser

# The frontend tests' fixtures: a provider with the device flow, its client, a console.
device_provider = test_frontends.device_provider
client_options = test_frontends.client_options
oidc_client = test_frontends.oidc_client
console = test_frontends.console


@pytest.fixture
def nevis_config(
    device_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    jp_http_port: int,
    username: str,
) -> Any:
    """As the frontend tests', with the server's user's subject the only one allowed."""
    return oidc_client.nevis_settings(
        device_provider.issuer,
        http_timeout=5.0,
        device_flow=True,
        public_url=f"http://127.0.0.1:{jp_http_port}",
        allowed_subjects=[username],
    )


async def held(jp_serverapp: Any) -> list[str]:
    """The keys of every sign-in the server holds."""
    return await jp_serverapp.web_app.settings["nevis_auth"].tokens.store.keys()  # type: ignore[no-any-return]


async def test_a_device_code_confirmed_by_another_person_signs_in_nobody(
    console: Console, username: str, jp_serverapp: Any
):
    cell = Cell(console, "nevis.login(method='device')")
    complete = await cell.shows(DEVICE_LINK)

    def confirm(page: Any) -> None:
        page.get_by_role("button", name="Continue").first.click()
        sign_in_at_provider(page, "mallory-" + username)
        page.get_by_text("Sign-in Success").wait_for()

    await asyncio.to_thread(in_fresh_browser, complete, confirm)

    await cell.result()
    assert len(cell.errors) == 1, cell.errors
    assert cell.errors[0].startswith(
        f"LoginRequiredError: This sign-in is Mallory-{username} Example (subject mallory-"
    )
    assert await held(jp_serverapp) == []
    assert "NevisAuth.allowed_subjects" in cell.errors[0]


async def test_a_link_opened_by_another_person_ends_the_wait_with_a_sentence(
    console: Console, username: str, jp_serverapp: Any
):
    cell = Cell(console, "get_access_token()")
    url = await cell.shows(LINK)

    def sign_in(page: Any) -> None:
        page.get_by_text("for the Jupyter server of").wait_for()
        page.get_by_role("button", name="Continue to sign in").click()
        sign_in_at_provider(page, "mallory-" + username)
        page.get_by_text("nothing was changed").wait_for()

    text = await asyncio.to_thread(in_fresh_browser, url, sign_in)

    assert f"This sign-in is Mallory-{username} Example" in text
    await cell.result()
    assert len(cell.errors) == 1, cell.errors
    assert cell.errors[0].startswith(
        f"LoginRequiredError: This sign-in is Mallory-{username} Example (subject mallory-"
    )
    assert await held(jp_serverapp) == []
