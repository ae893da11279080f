"""A user server in hub mode whose sign-in service fails: a fitting status, no secret logged.

JupyterHub's single-user server writes the headers of a request it answers with a 5xx
(but 502 and 503) into its log, hiding only the values of Authorization and Cookie. A real
JupyterHub runs alice's `hubmode` server (tests/hub/service_config.py), which asks a
stand-in for the hub's service answering the failures each test sets; a real kernel of
that server asks it for tokens with the kernel helper.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.hub.harness import HubBrowser
from tests.hub.service_harness import SERVICE, ServiceHub
from tests.support.hub import HubSpec

pytestmark = pytest.mark.hub

#: The service's own sentences for its failures (hubservice's write_error and store).
SERVICE_ANSWERS = {
    200: {
        "access_token": "stand-in-access-token",
        "token_type": "Bearer",
        "expires_at": None,
        "expires_in": None,
        "scope": "",
        "id_token": None,
        "claims": {"sub": "alice"},
        "api": None,
        "provider": "default",
    },
    500: {
        "error": "internal_error",
        "message": "Something unexpected went wrong in "
        "jupyter-nevis-auth; try again, and if it happens again, ask your administrator "
        "to look at the server's log.",
    },
    501: {"error": "internal_error", "message": "Not implemented."},
    503: {
        "error": "store_unavailable",
        "message": "The sign-in store cannot be reached; try again in a minute.",
    },
    504: {
        "error": "provider_timeout",
        "message": "The provider did not answer within 10 seconds; try again later.",
    },
}

#: Kernel code: each request of the kernel helper's own client (the secret as it sends it),
#: a token asked for as a notebook does, and a request as an earlier kernel helper sent it.
KERNEL_ASKS = """
import json, os
import requests
from jupyter_nevis_auth import get_access_token
from jupyter_nevis_auth.kernel.client import default_client

answers = []
for _ in range({requests}):
    answer = default_client().request("GET")
    answers.append([answer.status_code, answer.json()])
try:
    get_access_token()
except Exception as e:
    error = [type(e).__name__, str(e)]
secret = os.environ["NEVIS_AUTH_KERNEL_SECRET"]
earlier = requests.get(os.environ["NEVIS_AUTH_KERNEL_URL"], timeout=30,
                       headers={{"X-Nevis-Kernel-Secret": secret}})
print(json.dumps({{"answers": answers, "error": error, "secret": secret,
                  "earlier": [earlier.status_code, earlier.json()]}}))
"""


class StandInService:
    """Answers every request with the next status of `statuses`, as the service would."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        #: Seconds the service takes for a 200, as while it waits for a slow provider.
        self.delay = 0.0
        #: The Authorization header of every request.
        self.authorizations: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.authorizations.append(self.headers.get("Authorization", ""))
                status = stand_in.statuses.pop(0)
                if status == 200:
                    time.sleep(stand_in.delay)
                body = json.dumps(SERVICE_ANSWERS[status]).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet: the test reads what it needs from the attributes."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}{SERVICE}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop answering."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandInService]:
    """The failing service."""
    service = StandInService()
    yield service
    service.close()


@pytest.fixture(scope="module")
def hub_spec(stand_in: StandInService) -> HubSpec:
    """A hub whose `hubmode` servers ask the stand-in instead of the service."""
    return HubSpec(kind="service", name="failing-service-hub", hub_mode_service_url=stand_in.url)


@pytest.fixture(scope="module")
def alice(hub: ServiceHub) -> Iterator[HubBrowser]:
    """alice, signed in to the hub, with no server running yet."""
    with hub.browser("alice") as browser:
        browser.log_in()
        yield browser


@pytest.fixture(scope="module")
def server(alice: HubBrowser) -> str:
    """alice's `hubmode` server, asking the stand-in; its URL path."""
    return alice.start_server("hubmode")


def test_a_failing_service_is_relayed_as_502_503_or_504_and_no_secret_is_logged(
    hub: ServiceHub, alice: HubBrowser, stand_in: StandInService, server: str
) -> None:
    stand_in.statuses = [500, 501, 503, 504, 500, 504]

    inside = json.loads(alice.run_code(server, KERNEL_ASKS.format(requests=4)))

    failed = "try again, and if it happens again, ask the hub's administrator to look at the"
    answers = inside["answers"]
    for (status, body), code in zip(answers[:2], (500, 501), strict=True):
        assert status == 502 and body == {
            "error": "provider_error",
            "message": f"The hub's sign-in service failed (HTTP {code}); {failed} service's log.",
        }
    # The service's own sentences of these are passed on with their status.
    assert answers[2:] == [[503, SERVICE_ANSWERS[503]], [504, SERVICE_ANSWERS[504]]]
    assert inside["error"] == ["TokenServiceError", answers[0][1]["message"]]
    # A kernel of an earlier version is still served: relayed too, not refused.
    assert inside["earlier"] == [504, SERVICE_ANSWERS[504]]
    assert stand_in.statuses == []

    secret = inside["secret"]
    log = hub.log()
    # JupyterHub wrote the headers of both 504s, the kernel helper's Authorization hidden.
    assert log.count('"Authorization": "NevisKernel [secret]"') == 1
    assert log.count('"Host": ') >= 2
    assert secret not in log
    # The server asks the service with its own JupyterHub token, never with the secret.
    assert len(stand_in.authorizations) == 6
    assert all(a.startswith("token ") and secret not in a for a in stand_in.authorizations)


#: NevisAuth.http_timeout of the `hubmode` server, and of the service.
HTTP_TIMEOUT = 10.0


def test_a_service_answering_after_waiting_for_a_slow_provider_is_waited_for(
    alice: HubBrowser, stand_in: StandInService, server: str
) -> None:
    """The service answers with the still-valid token only after its callers' timeout: the
    server, which has the same timeout, must wait longer, or the answer is lost (a 504)."""
    stand_in.statuses, stand_in.delay = [200], HTTP_TIMEOUT + 2
    code = (
        "from jupyter_nevis_auth.kernel.client import default_client\n"
        "answer = default_client().request('GET')\n"
        "print(answer.status_code, answer.json().get('access_token'))"
    )

    printed = alice.run_code(server, code, timeout=90)

    assert printed.split() == ["200", "stand-in-access-token"]
    assert stand_in.statuses == []
