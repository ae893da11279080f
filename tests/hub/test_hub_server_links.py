"""Per-server mode on a real JupyterHub: a one-time link of alice's server, in another browser.

The registered redirect URI is the hub's user-redirect, so a browser that opens a link signs
in to the hub as well: as alice, the callback then completes at her server without that
server's own cookie; as bob, the hub sends it to his server, which says why in one sentence.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest

from tests.hub.harness import HubBrowser, JupyterHub, path, query
from tests.support.hub import HubSpec
from tests.support.provider import HTTP_TIMEOUT, provider_login

pytestmark = pytest.mark.hub

ALICE = "/user/alice/"
#: A kernel of the server asks for a link, as a waiting cell does.
ASK_LINK = """
from jupyter_nevis_auth.kernel import client, selection, signin_client
print(signin_client.sign_in_link(client.default_client(), selection.DEFAULT)["url"])
"""
WHOAMI = "from jupyter_nevis_auth import whoami\nprint(whoami()['sub'])"


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """A hub in per-server mode (tests/hub/jupyterhub_config.py), for the module."""
    return HubSpec(name="hub-server-links")


def ask_link(hub: JupyterHub, alice: HubBrowser, seen: list[str]) -> str:
    """A one-time link of alice's server, asked for by a kernel of hers."""
    url = alice.run_code(ALICE, ASK_LINK).strip()
    assert url.startswith(hub.url + ALICE + "nevis/link?link_token="), url
    seen.append(query(url)["link_token"])
    return url


def use_link(browser: HubBrowser, url: str, username: str) -> str:
    """Open the link, press its button, sign in at the provider; the callback URL."""
    page = browser.get(url)
    assert page.status_code == 200, page.text
    assert "for the Jupyter server of alice" in page.text
    # The page says the sign-in ends at JupyterHub, as alice, and links to its login.
    assert "JupyterHub will want this browser signed in as alice" in page.text
    assert 'href="/hub/login"' in page.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf is not None
    posted = browser.http.post(
        urljoin(url, path(url)),
        data={**query(url), "_xsrf": html.unescape(xsrf.group(1))},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert posted.status_code == 302, posted.text
    return provider_login(
        posted.headers["Location"],
        username,
        redirect_prefix=browser.hub.redirect_uri,
        session=browser.provider,
    )


def signed_in_at_her_server(browser: HubBrowser, callback: str) -> None:
    """Follow the callback: through the hub to her server, never through her server's login."""
    page, visited = browser.follow(callback)
    assert [path(u) for u in visited] == [
        "/hub/user-redirect/nevis/callback",
        ALICE + "nevis/callback",
        ALICE + "nevis/link/done",
    ]
    assert page.status_code == 200 and "Signed in as Alice Example" in page.text
    # Only the hub's cookies: none of her server's (jupyterhub-user-alice...).
    assert not [c.name for c in browser.http.cookies if c.name.startswith("jupyterhub-user")]


def test_a_link_signs_in_at_her_server_in_a_browser_signed_in_to_the_hub_only(
    hub: JupyterHub, alice: HubBrowser, seen: list[str]
) -> None:
    url = ask_link(hub, alice, seen)
    # Another browser of alice's, signed in to the hub first, as the link's page suggests.
    with hub.browser("alice") as browser:
        browser.log_in()
        callback = use_link(browser, url, "alice")
        seen.extend(query(callback)[k] for k in ("code", "state"))
        signed_in_at_her_server(browser, callback)
    assert alice.run_code(ALICE, WHOAMI) == "alice\n"


def test_a_link_signs_in_after_a_hub_login_on_the_way(
    hub: JupyterHub, alice: HubBrowser, seen: list[str]
) -> None:
    url = ask_link(hub, alice, seen)
    # A browser signed in nowhere: the hub asks who this is when the callback arrives.
    # (JupyterHub's log then shows the callback's code and state in its login's `next`.)
    with hub.browser("alice") as browser:
        callback = use_link(browser, url, "alice")
        _, visited = browser.follow(callback)
        assert path(visited[-1]) == "/hub/login", visited
        browser.log_in()
        signed_in_at_her_server(browser, callback)
    assert alice.run_code(ALICE, WHOAMI) == "alice\n"


def test_a_hub_login_as_another_user_gets_one_sentence(
    hub: JupyterHub, alice: HubBrowser, bob: HubBrowser, seen: list[str]
) -> None:
    url = ask_link(hub, alice, seen)
    callback = use_link(bob, url, "alice")
    seen.extend(query(callback)[k] for k in ("code", "state"))
    page, visited = bob.follow(callback)

    assert path(visited[-1]) == "/user/bob/nevis/callback"
    assert page.status_code == 403
    text = html.unescape(page.text)
    assert (
        "This sign-in came from a one-time link to alice's server, but JupyterHub sent it to "
        "bob's because this browser is signed in to JupyterHub as bob;" in text
    )
    assert "Traceback" not in text


def test_the_hub_log_holds_no_link_code_or_state(hub: JupyterHub, seen: list[str]) -> None:
    log = hub.log()
    assert "nevis/link" in log
    leaked = [value for value in seen if value in log]
    assert len(seen) >= 7 and not leaked
