"""Hub mode: one-time sign-in links and device sign-ins, issued and run by the hub's service.

A real JupyterHub (tests/hub/service_config.py) runs the service against the real test
provider with its device flow on; links last 30 s here. Servers ask with their own token; a
link opens the service's page in a browser that has no hub or Jupyter session at all.
Tests share one hub and build on each other's sign-ins, in file order.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from jupyter_nevis_auth.core.links import WAIT_ENDED
from tests.hub.console import ConsoleCell
from tests.hub.harness import HubBrowser, path, query
from tests.hub.service_harness import SERVICE, ServiceHub, service_api
from tests.support.browser import chromium_or_skip, sign_in_at_provider
from tests.support.hub import HubSpec
from tests.support.provider import (
    DEVICE_CODE,
    HTTP_TIMEOUT,
    OIDCTestProvider,
    provider_login,
)
from tests.test_frontends import DEVICE_LINK, in_fresh_browser

pytestmark = pytest.mark.hub

#: Seconds a link stays usable at this hub's service.
LINK_TTL = 30
LINK = re.compile(r"http://127\.0\.0\.1:\d+/services/nevis-auth/link\?link_token=[\w-]{40,}")


@pytest.fixture(scope="module")
def device_provider() -> Iterator[OIDCTestProvider]:
    """A provider that offers the device flow too."""
    with OIDCTestProvider(device_flow=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def hub_provider(device_provider: OIDCTestProvider) -> OIDCTestProvider:
    """The hub signs in at the provider with the device flow."""
    return device_provider


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """One hub whose service offers device sign-ins and 30-second links."""
    return HubSpec(
        kind="service",
        name="hub-links",
        service_env={"NEVIS_AUTH_DEVICE_FLOW": "true", "NEVIS_AUTH_LOGIN_TIMEOUT": str(LINK_TTL)},
        client_options={
            "device_interval": 1,
            "grant_types": ["authorization_code", "refresh_token", DEVICE_CODE],
        },
    )


def ask_link(hub: ServiceHub, user: str, seen: list[str]) -> str:
    """A one-time link, as the user's server asks for it (for a kernel of theirs)."""
    answer = service_api(hub, "POST", "api/token/link", hub.server_token(user), data={})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["public"] is True and body["note"] is None
    assert body["expires_in"] == LINK_TTL and body["device_flow"] is True
    seen.append(query(body["url"])["link_token"])
    return str(body["url"])


def fresh_browser() -> requests.Session:
    """A browser that never saw the hub: no hub login, no service cookie, no Jupyter."""
    return requests.Session()


def press_continue(browser: requests.Session, url: str) -> requests.Response:
    """Open the link's page and press its button; the answer to the button's POST."""
    page = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert page.status_code == 200, page.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf is not None
    return browser.post(
        urljoin(url, path(url)),
        data={**query(url), "_xsrf": html.unescape(xsrf.group(1))},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )


def test_a_link_opens_the_services_page_without_any_hub_login(
    hub: ServiceHub, alice: HubBrowser, seen: list[str]
) -> None:
    url = ask_link(hub, "alice", seen)
    assert url.startswith(hub.url + SERVICE + "link?link_token=")

    with fresh_browser() as browser:
        for _ in range(2):  # opening the page does not use the link up
            page = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            assert page.status_code == 200, page.text
            assert "for the JupyterHub user alice" in page.text
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["Referrer-Policy"] == "no-referrer"
        assert not [c.name for c in browser.cookies if c.name.startswith("jupyterhub")]


def test_a_link_signs_its_user_in_once_in_the_browser_that_used_it(
    hub: ServiceHub,
    alice: HubBrowser,
    bob: HubBrowser,
    device_provider: OIDCTestProvider,
    seen: list[str],
) -> None:
    url = ask_link(hub, "alice", seen)
    with fresh_browser() as browser, fresh_browser() as other:
        pressed = press_continue(browser, url)
        assert pressed.status_code == 302, pressed.text
        authorize = pressed.headers["Location"]
        assert authorize.startswith(device_provider.authorization_endpoint)
        assert query(authorize)["redirect_uri"] == hub.redirect_uri

        # Used up by the button: opened again, anywhere, it says so.
        for again in (browser, other):
            gone = again.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            assert gone.status_code == 410
            assert "expired, was already used" in gone.text and "Traceback" not in gone.text

        callback = provider_login(authorize, "alice", redirect_prefix=hub.redirect_uri)
        seen.extend(query(callback)[k] for k in ("code", "state"))
        # Another browser with the callback URL gets nothing, and leaves the sign-in alone.
        stolen = other.get(callback, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert stolen.status_code == 403 and "started in another browser" in stolen.text
        assert service_api(hub, "GET", "api/token", hub.server_token("alice")).status_code == 401

        answer = browser.get(callback, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert answer.status_code == 302, answer.text
        assert answer.headers["Location"] == SERVICE + "link/done"
        done = browser.get(urljoin(hub.url, SERVICE + "link/done"), timeout=HTTP_TIMEOUT)
        assert "Signed in as Alice Example" in done.text
        assert not [c.name for c in browser.cookies if c.name.startswith("jupyterhub")]

    token = service_api(hub, "GET", "api/token", hub.server_token("alice"))
    assert token.status_code == 200 and token.json()["claims"]["sub"] == "alice"
    seen.append(token.json()["access_token"])
    assert service_api(hub, "GET", "api/token", hub.server_token("bob")).status_code == 401


def test_a_link_completed_by_another_person_signs_nobody_in(
    hub: ServiceHub, alice: HubBrowser, seen: list[str]
) -> None:
    held = service_api(hub, "GET", "api/token", hub.server_token("alice"))
    assert held.status_code == 200 and held.json()["claims"]["sub"] == "alice"
    url = ask_link(hub, "alice", seen)
    with fresh_browser() as browser:
        authorize = press_continue(browser, url).headers["Location"]
        # mallory, at the same provider, opens alice's link and signs in as herself.
        callback = provider_login(authorize, "mallory", redirect_prefix=hub.redirect_uri)
        seen.extend(query(callback)[k] for k in ("code", "state"))
        answer = browser.get(callback, allow_redirects=False, timeout=HTTP_TIMEOUT)

    assert answer.status_code == 403, answer.text
    assert "This sign-in is Mallory Example (subject mallory)&#39;s" in answer.text
    assert "holds the sign-in of Alice Example (subject alice)" in answer.text
    after = service_api(hub, "GET", "api/token", hub.server_token("alice"))
    assert after.status_code == 200 and after.json()["claims"]["sub"] == "alice"
    assert "Sign-in of alice at default refused: it names subject 'mallory'" in hub.log()


@pytest.mark.parametrize(
    "token",
    ["", "x", secrets.token_urlsafe(32), "../../etc", "%00", "a" * 5000],
    # Named, so that every pytest-xdist worker collects the same tests.
    ids=["empty", "short", "random", "path", "nul", "long"],
)
def test_a_forged_link_is_refused(hub: ServiceHub, token: str) -> None:
    with fresh_browser() as browser:
        page = browser.get(
            hub.url + SERVICE + "link",
            params={"link_token": token},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert page.status_code == 410 and "Traceback" not in page.text
        posted = browser.post(
            hub.url + SERVICE + "link",
            data={"link_token": token},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert posted.status_code in (403, 410) and "Location" not in posted.headers


def test_another_users_server_can_neither_get_nor_drop_her_links(
    hub: ServiceHub, alice: HubBrowser, bob: HubBrowser, seen: list[str]
) -> None:
    url = ask_link(hub, "alice", seen)
    token = query(url)["link_token"]
    bobs = ask_link(hub, "bob", seen)
    page = requests.get(bobs, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert "for the JupyterHub user bob" in page.text and "alice" not in page.text

    # bob's server cannot drop hers; her server can.
    dropped = service_api(
        hub, "DELETE", "api/token/link", hub.server_token("bob"), params={"link_token": token}
    )
    assert dropped.status_code == 200
    assert requests.get(url, timeout=HTTP_TIMEOUT).status_code == 200
    service_api(
        hub, "DELETE", "api/token/link", hub.server_token("alice"), params={"link_token": token}
    )
    assert requests.get(url, timeout=HTTP_TIMEOUT).status_code == 410

    # Only a server's own token gets links: not a user's, not none.
    user_token = alice.api_token()
    seen.append(user_token)
    for credential in (user_token, None):
        refused = service_api(hub, "POST", "api/token/link", credential, data={})
        assert refused.status_code == 403 and "link_token" not in refused.text


def test_another_users_server_cannot_see_or_end_her_device_sign_in(
    hub: ServiceHub, alice: HubBrowser, bob: HubBrowser
) -> None:
    started = service_api(hub, "POST", "api/token/device", hub.server_token("alice"), data={})
    assert started.status_code == 200, started.text
    body = started.json()
    assert "device_code" not in body and body["user_code"]
    sign_in = {"id": body["id"]}
    for method in ("GET", "DELETE"):
        answer = service_api(
            hub, method, "api/token/device", hub.server_token("bob"), params=sign_in
        )
        assert answer.status_code in (200, 404) and "pending" not in answer.text
    mine = service_api(hub, "GET", "api/token/device", hub.server_token("alice"), params=sign_in)
    assert mine.json() == {"status": "pending", "message": ""}
    service_api(hub, "DELETE", "api/token/device", hub.server_token("alice"), params=sign_in)
    gone = service_api(hub, "GET", "api/token/device", hub.server_token("alice"), params=sign_in)
    assert gone.status_code == 404


def test_an_expired_link_is_refused(hub: ServiceHub, alice: HubBrowser, seen: list[str]) -> None:
    url = ask_link(hub, "alice", seen)
    time.sleep(LINK_TTL + 1)
    page = requests.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert page.status_code == 410 and "expired" in page.text


@pytest.mark.browser
def test_a_console_kernel_in_hub_mode_signs_in_with_a_link_in_a_browser_without_cookies(
    hub: ServiceHub, alice: HubBrowser, seen: list[str]
) -> None:
    chromium_or_skip()
    signed_out = service_api(hub, "DELETE", "api/token", hub.server_token("alice"))
    assert signed_out.status_code == 200 and not signed_out.json()["logged_in"]
    server = alice.start_server("hubmode")  # in hub mode: it asks the service
    code = "from jupyter_nevis_auth import get_access_token\nprint('got', repr(get_access_token()))"
    with ConsoleCell(alice, server, code) as cell:
        url = cell.shows(LINK)
        seen.append(query(url)["link_token"])
        cell.shows(re.compile(r"waits for you to sign in: \d:\d\d left"))

        def sign_in(page: Any) -> None:
            page.get_by_text("for the JupyterHub user alice").wait_for()
            page.get_by_role("button", name="Continue to sign in").click()
            sign_in_at_provider(page, "alice")
            page.get_by_text("You can close this window").wait_for()

        text = in_fresh_browser(url, sign_in)
        output = cell.result()

    assert "Signed in as Alice Example" in text
    assert not cell.errors, cell.errors
    assert re.search(r"got <access token, expires in \d+ s>", output), output
    again = in_fresh_browser(url, lambda page: None)
    assert "expired, was already used" in again


@pytest.mark.browser
def test_in_hub_mode_an_interrupt_after_continue_ends_the_sign_in_and_the_wait_logs_nothing(
    hub: ServiceHub, alice: HubBrowser, seen: list[str]
) -> None:
    chromium_or_skip()
    signed_out = service_api(hub, "DELETE", "api/token", hub.server_token("alice"))
    assert signed_out.status_code == 200 and not signed_out.json()["logged_in"]
    running = alice.hub_api("GET", "users/alice").json().get("servers", {}).get("hubmode")
    # In hub mode: it asks the service (started by the test before, if that one ran).
    server = running["url"] if running and running["ready"] else alice.start_server("hubmode")
    refused = re.compile(r"401 GET \S*(/user/alice/hubmode/nevis|/services/nevis-auth)/api/token\b")
    before = len(refused.findall(hub.log()))
    callbacks: list[int] = []
    code = "from jupyter_nevis_auth import get_access_token\nget_access_token()"
    with ConsoleCell(alice, server, code) as cell:
        url = cell.shows(LINK)
        seen.append(query(url)["link_token"])

        def sign_in(page: Any) -> None:
            page.on("response", lambda r: "/callback" in r.url and callbacks.append(r.status))
            page.get_by_role("button", name="Continue to sign in").click()
            page.locator('input[name="login"]').wait_for()
            time.sleep(3)  # the cell goes on waiting meanwhile
            cell.interrupt()
            cell.result()
            sign_in_at_provider(page, "alice")
            page.get_by_text("stopped waiting").wait_for()

        text = in_fresh_browser(url, sign_in)

    assert cell.errors and cell.errors[0].startswith("KeyboardInterrupt"), cell.errors
    assert " ".join(WAIT_ENDED.split()) in " ".join(text.split())
    assert callbacks == [410]
    # The kernel's first request found no sign-in (logged by the server and the service);
    # its wait, several seconds long, added nothing above debug level.
    assert len(refused.findall(hub.log())) - before <= 2
    assert service_api(hub, "GET", "api/token", hub.server_token("alice")).status_code == 401


@pytest.mark.browser
def test_a_console_kernel_in_hub_mode_signs_in_with_a_device_code(
    hub: ServiceHub, bob: HubBrowser
) -> None:
    chromium_or_skip()
    assert service_api(hub, "GET", "api/token", hub.server_token("bob")).status_code == 401
    server = bob.start_server("hubmode")
    code = (
        "import jupyter_nevis_auth as nevis\nnevis.login(method='device')\n"
        "print('me', nevis.whoami()['sub'])"
    )
    with ConsoleCell(bob, server, code) as cell:
        complete = cell.shows(DEVICE_LINK)

        def confirm(page: Any) -> None:
            page.get_by_role("button", name="Continue").first.click()
            sign_in_at_provider(page, "bob")
            page.get_by_text("Sign-in Success").wait_for()

        in_fresh_browser(complete, confirm)
        output = cell.result()

    assert not cell.errors, cell.errors
    assert "me bob" in output, output
    # The service holds bob's sign-in: his other servers get his token too.
    token = service_api(hub, "GET", "api/token", hub.server_token("bob"))
    assert token.status_code == 200 and token.json()["claims"]["sub"] == "bob"


def test_the_hub_log_holds_no_link_code_or_token(hub: ServiceHub, seen: list[str]) -> None:
    log = hub.log()
    assert "GET /services/nevis-auth/link" in log and "Signed in alice at" in log
    leaked = [value for value in seen if value in log]
    assert len(seen) > 5 and not leaked
