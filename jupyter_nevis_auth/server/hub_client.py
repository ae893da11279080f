"""A user server in hub mode: it asks the hub's jupyter-nevis-auth service, never a provider."""

from __future__ import annotations

import logging
import os
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from tornado.httpclient import AsyncHTTPClient

from ..core.config import NevisAuth
from ..core.links import public_origin
from ..errors import UpstreamError, UpstreamTimeoutError
from ..hub.rest import HubHTTP
from ..oidc.http import parse_json
from ..protocol import PROVIDER_ERROR, PROVIDER_TIMEOUT

#: What the service is called in sentences.
SERVICE = "the hub's sign-in service"
#: The service's failures passed on as they are (with its sentence): a bad gateway, a store
#: that is down, a provider that did not answer. Any other 5xx becomes a 502.
RELAYED_5XX = (502, 503, 504)
#: Calls to the service at once (tornado's shared client allows 10, and queues the rest).
MAX_CONNECTIONS = 64


def from_service(body: bytes) -> bool:
    """Whether an error answer is the service's own (JSON with a sentence), not a proxy's."""
    data = parse_json(body)
    return isinstance(data, dict) and isinstance(data.get("message"), str)


class HubServiceClient:
    """Calls the service's API as this server, with the server's own JupyterHub API token."""

    def __init__(self, config: NevisAuth, api_token: str, log: logging.Logger) -> None:
        self.url = config.hub_service_url.rstrip("/") + "/"
        self.api_token = api_token
        self.http_timeout = config.http_timeout
        self.log = log
        #: The hub's origin as browsers reach it, "" when the configuration does not say.
        self.public_origin = public_origin(
            config.public_url, os.environ.get("JUPYTERHUB_PUBLIC_URL", "")
        )
        # With a client of its own, so kernels' requests never queue behind ten others. The
        # service is checked with the provider's TLS settings, as hub mode always did.
        self.service = HubHTTP(
            self.url,
            api_token,
            log,
            what=SERVICE,
            timeout=config.http_timeout,
            http_client=AsyncHTTPClient(force_instance=True, max_clients=MAX_CONNECTIONS),
            validate_cert=config.validate_cert,
            ca_certs=config.ca_bundle or None,
        )

    def problems(self) -> list[str]:
        """Sentences naming what hub mode is missing."""
        found = []
        if not self.url.startswith(("http://", "https://")) or self.url == "/":
            found.append(
                "Set NevisAuth.hub_service_url ($NEVIS_AUTH_HUB_SERVICE_URL) to the URL of the "
                "hub's jupyter-nevis-auth service, e.g. http://127.0.0.1:10101/services/nevis-auth/."
            )
        if not self.api_token:
            found.append("Hub mode needs $JUPYTERHUB_API_TOKEN: start this server from JupyterHub.")
        return found

    def page(self, name: str, params: dict[str, str]) -> str:
        """The path of one of the service's browser pages, on the hub's public origin."""
        query = {k: v for k, v in params.items() if v}
        path = urlsplit(self.url).path + name
        return path + ("?" + urlencode(query) if query else "")

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        wait: float = 0.0,
    ) -> tuple[int, dict[str, Any]]:
        """One call to the service's API: its status and JSON, or a 502/503/504 with a sentence.

        The parameters go in the body of a POST, else in the query. `wait` is how many
        seconds the service may take before it starts to answer (a cell's wait for a sign-in).
        """
        # The service itself may wait http_timeout for a slow provider before it answers
        # (with the still-valid token): giving up at the same moment would lose that answer.
        deadline = time.monotonic() + 2 * self.http_timeout + wait
        # A read is asked again once: the service's replica that got it may have stopped, and
        # the proxy (or the Kubernetes Service) sends the second try to another.
        tries = 2 if method == "GET" else 1
        for left in range(tries - 1, -1, -1):
            try:
                answer = await self.service.call(
                    method, path, params, timeout=deadline - time.monotonic()
                )
            except UpstreamTimeoutError as e:
                return 504, {"error": PROVIDER_TIMEOUT, "message": str(e)}
            except UpstreamError as e:
                if left:
                    self.log.info("Asking %s again: %s", SERVICE, e)
                    continue
                return 502, {"error": PROVIDER_ERROR, "message": str(e)}
            if left and answer.code in RELAYED_5XX and not from_service(answer.body):
                # The proxy's own answer: no replica took the request.
                self.log.info("Asking %s again: the proxy answered %d.", SERVICE, answer.code)
                continue
            break
        data = parse_json(answer.body)
        if not isinstance(data, dict):
            message = (
                f"The hub's sign-in service answered {answer.code} without JSON; try again later."
            )
            return 502, {"error": PROVIDER_ERROR, "message": message}
        if answer.code in RELAYED_5XX and isinstance(data.get("message"), str):
            return answer.code, data
        if answer.code >= 500:
            # Passed on as a 500, the service's failure would look like this server's own
            # (and JupyterHub logs the request's headers then); its sentence would send a
            # person to "the server's log", which is the service's.
            message = (
                f"The hub's sign-in service failed (HTTP {answer.code}); try again, and if it "
                "happens again, ask the hub's administrator to look at the service's log."
            )
            status = answer.code if answer.code in RELAYED_5XX else 502
            error = PROVIDER_TIMEOUT if status == 504 else PROVIDER_ERROR
            return status, {"error": error, "message": message}
        return answer.code, data
