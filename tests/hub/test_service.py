"""The JupyterHub service: sign-ins at /services/nevis-auth/, tokens for user servers only.

A real JupyterHub (tests/hub/service_config.py) starts jupyter-nevis-auth-service; the real
test provider has one client, registered for the service's callback. User servers ask
with their own JUPYTERHUB_API_TOKEN. Tests share one hub and build on each other's
sign-ins, in file order.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.hub.harness import HubBrowser, path, query
from tests.hub.service_harness import SERVICE, ServiceHub, service_api, stop_server
from tests.support.hub import HubSpec
from tests.support.provider import HTTP_TIMEOUT, OIDCTestProvider, RegisteredClient, provider_login
from tests.support.resource_server import SALES_AUDIENCE, ResourceServer

pytestmark = pytest.mark.hub

KERNEL_CALLS_API = """
import requests
from jupyter_nevis_auth import BearerAuth, whoami
answer = requests.get({url!r}, auth=BearerAuth(), timeout=10)
print(answer.status_code, answer.json()["sub"], whoami()["sub"])
"""


def bearer(api: ResourceServer, token: str) -> int:
    """The status a protected API answers to `token`."""
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(api.hello_url, headers=headers, timeout=HTTP_TIMEOUT).status_code


@pytest.fixture(scope="module")
def hub_spec(sales_api: ResourceServer) -> HubSpec:
    """One hub with the service for the module, which knows the sales API."""
    apis = {
        "sales": {"url": sales_api.url + "/", "scopes": ["sales.read"], "resource": SALES_AUDIENCE}
    }
    return HubSpec(kind="service", name="service-hub", apis=apis)


@pytest.fixture(scope="module")
def alice_signed_in(hub: ServiceHub, alice: HubBrowser, seen: list[str]) -> requests.Response:
    """alice's code flow at the service, from its login page to its "signed in" page."""
    response, visited = alice.follow(SERVICE + "login?next=" + SERVICE + "done")
    assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
    authorize = response.headers["Location"]
    assert query(authorize)["redirect_uri"] == hub.redirect_uri
    assert query(authorize)["code_challenge_method"] == "S256"
    callback = provider_login(
        authorize, "alice", redirect_prefix=hub.redirect_uri, session=alice.provider
    )
    seen.extend(query(callback)[k] for k in ("code", "state"))
    response, visited = alice.follow(callback)
    assert [path(url) for url in visited] == [SERVICE + "callback", SERVICE + "done"]
    return response


def test_alice_signs_in_at_the_service_through_its_one_redirect_uri(
    alice_signed_in: requests.Response,
) -> None:
    assert alice_signed_in.status_code == 200
    assert "Signed in as Alice Example" in alice_signed_in.text
    assert alice_signed_in.headers["Cache-Control"] == "no-store"


def test_alices_server_gets_her_token_and_the_api_accepts_it(
    hub: ServiceHub,
    alice: HubBrowser,
    alice_signed_in: requests.Response,
    resource_server: ResourceServer,
    sales_api: ResourceServer,
    seen: list[str],
) -> None:
    token = hub.server_token("alice")
    seen.append(token)
    answer = service_api(hub, "GET", "api/token", token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    seen.append(body["access_token"])
    assert body["claims"]["sub"] == "alice"
    assert body["provider"] == "default" and body["api"] is None
    assert bearer(resource_server, body["access_token"]) == 200

    # The sales API's token comes from a refresh narrowed to it, in the service.
    sales = service_api(hub, "GET", "api/token", token, params={"api": "sales"}).json()
    seen.append(sales["access_token"])
    assert sales["api"] == "sales"
    assert bearer(sales_api, sales["access_token"]) == 200

    status = service_api(hub, "GET", "api/status", token).json()
    assert status["logged_in"] is True and status["claims"]["sub"] == "alice"
    assert status["login_url"] == SERVICE + "login"
    assert status["apis"]["sales"]["obtained_by"] == "narrowed refresh"
    assert status["apis"]["sales"]["login_url"] == SERVICE + "login?api=sales"
    apis = service_api(hub, "GET", "api/apis", token).json()
    assert [api["name"] for api in apis["apis"]] == ["sales"]

    # The same answers straight from the service, as a server that skips the proxy gets them.
    direct = requests.get(
        hub.service_url + SERVICE + "api/status",
        timeout=HTTP_TIMEOUT,
        headers={"Authorization": f"token {token}"},
    )
    assert direct.json()["claims"]["sub"] == "alice"


def test_bobs_server_gets_a_sign_in_link_not_alices_token(
    hub: ServiceHub, bob: HubBrowser, alice_signed_in: requests.Response
) -> None:
    token = hub.server_token("bob")
    for params in ({}, {"api": "sales"}):
        answer = service_api(hub, "GET", "api/token", token, params=params)
        assert answer.status_code == 401
        body = answer.json()
        assert body["error"] == "login_required"
        assert body["login_url"] == SERVICE + "login"
        assert "alice" not in answer.text
    status = service_api(hub, "GET", "api/status", token)
    assert status.json()["logged_in"] is False
    assert "alice" not in status.text
    signed_out = service_api(hub, "DELETE", "api/token", token)
    assert signed_out.status_code == 200 and signed_out.json()["logged_in"] is False
    bad = service_api(hub, "GET", "api/token", token, params={"api": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    bad = service_api(hub, "GET", "api/token", token, params={"min_ttl": "soon"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_a_callback_with_alices_state_gets_bob_nothing(
    hub: ServiceHub,
    alice: HubBrowser,
    bob: HubBrowser,
    alice_signed_in: requests.Response,
    seen: list[str],
) -> None:
    response, _ = alice.follow(SERVICE + "login")
    callback = provider_login(
        response.headers["Location"],
        "alice",
        redirect_prefix=hub.redirect_uri,
        session=alice.provider,
    )
    seen.extend(query(callback)[k] for k in ("code", "state"))
    page, visited = bob.follow(callback)
    assert path(visited[-1]) == SERVICE + "callback"
    assert page.status_code == 403 and "another browser" in page.text

    # Even with alice's browser cookie, bob (signed in to the hub as bob) gets nothing.
    for cookie in alice.http.cookies:
        if cookie.path == SERVICE + "callback":
            bob.http.cookies.set(cookie.name, cookie.value, path=cookie.path)
    page, _ = bob.follow(callback)
    assert page.status_code == 403 and "another JupyterHub user" in page.text
    assert service_api(hub, "GET", "api/token", hub.server_token("bob")).status_code == 401

    # Neither attempt used up alice's sign-in.
    page, visited = alice.follow(callback)
    assert path(visited[-1]) == SERVICE + "done" and page.status_code == 200


def refused(answer: requests.Response) -> str:
    """The sentence of a 403 answer, which holds no token."""
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["error"] == "request_refused" and "access_token" not in answer.text
    sentence: str = body["message"]
    assert sentence.endswith(".") and sentence.count(". ") == 0
    return sentence


def test_anything_but_a_servers_own_token_is_refused(
    hub: ServiceHub, alice: HubBrowser, alice_signed_in: requests.Response, seen: list[str]
) -> None:
    assert "Authorization header" in refused(service_api(hub, "GET", "api/token", None))
    assert "does not know" in refused(service_api(hub, "GET", "api/token", "made-up"))
    user_token = alice.api_token()  # alice's own token, as a script of hers would use
    seen.append(user_token)
    for method, endpoint in (("GET", "api/token"), ("DELETE", "api/token"), ("GET", "api/status")):
        assert "not a user server's own" in refused(service_api(hub, method, endpoint, user_token))

    made = alice.hub_api("POST", "users/alice/tokens", json={"note": "to revoke"}).json()
    assert alice.hub_api("DELETE", f"users/alice/tokens/{made['id']}").status_code == 204
    assert "does not know" in refused(service_api(hub, "GET", "api/token", made["token"]))

    # An admin's browser, signed in to the service's pages, holds no server's token.
    with hub.browser("admin") as admin:
        admin.log_in()
        page, _ = admin.follow(SERVICE + "done")
        assert page.status_code == 200 and "Not signed in" in page.text
        for endpoint in ("api/token", "api/status"):
            assert "Authorization header" in refused(admin.get(SERVICE + endpoint))
    assert service_api(hub, "GET", "api/status", hub.server_token("alice")).json()["logged_in"]


def test_a_named_server_shares_her_sign_in_until_it_stops(
    hub: ServiceHub,
    alice: HubBrowser,
    alice_signed_in: requests.Response,
    resource_server: ResourceServer,
) -> None:
    alice.start_server("lab2")
    token = hub.server_token("alice", "lab2")
    answer = service_api(hub, "GET", "api/token", token)
    assert answer.status_code == 200, answer.text
    assert bearer(resource_server, answer.json()["access_token"]) == 200
    stop_server(alice, "lab2")
    # JupyterHub deleted the server's token; the service's answer cache (1 s here) lets it go.
    deadline = time.monotonic() + 5
    while (answer := service_api(hub, "GET", "api/token", token)).status_code == 200:
        assert time.monotonic() < deadline, "a stopped server's token still gets tokens"
        time.sleep(0.2)
    assert "does not know" in refused(answer)


def test_a_kernel_of_a_hub_mode_server_calls_the_api_with_her_token(
    alice: HubBrowser, alice_signed_in: requests.Response, sales_api: ResourceServer
) -> None:
    """kernel → its server (hub mode, no client of its own) → the service → the sales API."""
    server = alice.start_server("hubmode")
    output = alice.run_code(server, KERNEL_CALLS_API.format(url=sales_api.hello_url))
    assert output == "200 alice alice\n"
    stop_server(alice, "hubmode")


def test_servers_asking_at_once_cause_one_refresh_in_the_service(
    hub_and_client: tuple[ServiceHub, RegisteredClient],
    oidc_provider: OIDCTestProvider,
    alice_signed_in: requests.Response,
) -> None:
    hub, client = hub_and_client
    token = hub.server_token("alice")
    before = oidc_provider.token_calls(client.client_id, "refresh_token")
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: service_api(
                    hub, "GET", "api/token", token, params={"force_refresh": "1"}
                ),
                range(4),
            )
        )
    assert [a.status_code for a in answers] == [200] * 4
    assert oidc_provider.token_calls(client.client_id, "refresh_token") == before + 1
    assert "Refresh" not in hub.log() or "retrying" not in hub.log()


def test_the_service_keeps_her_sign_in_across_a_restart(
    hub_and_client: tuple[ServiceHub, RegisteredClient],
    alice: HubBrowser,
    alice_signed_in: requests.Response,
    seen: list[str],
) -> None:
    hub, client = hub_and_client
    before = service_api(hub, "GET", "api/token", hub.server_token("alice")).json()
    hub.stop()
    assert (hub.work_dir / "nevis_auth_hub.sqlite").exists()
    hub.start(client.client_id, client.client_secret)
    alice.start_server()  # the hub stopped the servers with it
    token = hub.server_token("alice")
    seen.append(token)
    after = service_api(hub, "GET", "api/token", token)
    assert after.status_code == 200, after.text
    assert after.json()["access_token"] == before["access_token"]


def test_signing_out_at_the_service_ends_her_tokens_for_every_server(
    hub: ServiceHub, alice: HubBrowser, alice_signed_in: requests.Response
) -> None:
    # After the restart her browser passes the hub's OAuth again, unseen, on the way.
    form, _ = alice.follow(SERVICE + "logout")
    assert form.status_code == 200 and "Sign out" in form.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text)
    assert xsrf is not None
    posted = alice.http.post(
        urljoin(hub.url, SERVICE + "logout"),
        data={"_xsrf": html.unescape(xsrf.group(1))},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert posted.status_code == 302, posted.text
    page, _ = alice.follow(posted.headers["Location"])
    assert "Signed out" in page.text
    answer = service_api(hub, "GET", "api/token", hub.server_token("alice"))
    assert answer.status_code == 401 and answer.json()["error"] == "login_required"


def test_the_hub_log_holds_no_code_state_token_or_secret(
    hub: ServiceHub, alice_signed_in: requests.Response, seen: list[str]
) -> None:
    log = hub.log()
    assert "Signed in alice" in log
    secret = Path(hub.work_dir, "client_secret").read_text(encoding="utf-8").strip()
    leaked = [value for value in [*seen, secret, hub.store_key] if value in log]
    assert len(seen) > 5 and not leaked


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`jupyter nevis-auth doctor` in a user server's environment, as a person would run it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEVIS_AUTH_", "JUPYTERHUB"))}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_nevis_auth.server.app", "doctor"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_doctor_in_a_hub_mode_server_checks_the_service(
    hub: ServiceHub, alice: HubBrowser, alice_signed_in: requests.Response
) -> None:
    url = hub.service_url + SERVICE
    token = hub.server_token("alice")
    good = doctor({"NEVIS_AUTH_HUB_SERVICE_URL": url, "JUPYTERHUB_API_TOKEN": token})
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("✓ hub service: ") and "answers this server" in good.stdout
    assert token not in good.stdout + good.stderr
    user_token = alice.api_token()
    bad = doctor({"NEVIS_AUTH_HUB_SERVICE_URL": url, "JUPYTERHUB_API_TOKEN": user_token})
    assert bad.returncode == 1 and "✗ hub service: " in bad.stdout and "refused" in bad.stdout
    assert "JUPYTERHUB_API_TOKEN" in bad.stdout
    gone = doctor(
        {
            "NEVIS_AUTH_HUB_SERVICE_URL": "http://127.0.0.1:9/services/nevis-auth/",
            "JUPYTERHUB_API_TOKEN": token,
        }
    )
    assert gone.returncode == 1 and "c.JupyterHub.services" in gone.stdout
