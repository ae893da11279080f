"""Calls to JupyterHub's REST API and to a JupyterHub service's, with a JupyterHub API token.

The service reads users' auth_state from the hub (hubservice/hubgrants.py), the hub's
refresh_user asks the service (hubservice/hook.py) and a user server in hub mode asks the
service (hubclient.py): all through the machinery of the provider's calls (oidc/http.py),
so with a timeout, a limit on an answer's size, URLs logged without their query and a
sentence for every failure. Runs in all three processes: imports no Jupyter Server and no
JupyterHub.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient

from ..oidc.http import BoundedHTTP, HTTPAnswer


class HubHTTP:
    """Calls one API below `url` (the hub's, or a service's) with one JupyterHub API token."""

    def __init__(
        self,
        url: str,
        api_token: str,
        log: logging.Logger,
        *,
        what: str,
        timeout: float,
        http_client: AsyncHTTPClient | None = None,
        validate_cert: bool = True,
        ca_certs: str | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self.api_token = api_token
        #: What the API is called in sentences ("JupyterHub", "the hub's sign-in service").
        self.what = what
        self.http = BoundedHTTP(
            http_client or AsyncHTTPClient(),
            log,
            timeout=timeout,
            validate_cert=validate_cert,
            ca_certs=ca_certs,
        )

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> HTTPAnswer:
        """One call to `path` below the API's URL, answered within `timeout` (else the client's).

        The parameters that have a value go in the body of a POST, else in the query.
        UpstreamError (UpstreamTimeoutError when it took too long) with a sentence when no
        answer came.
        """
        query = {k: v for k, v in (params or {}).items() if v}
        body = query if method == "POST" else None
        url = self.url + path + ("?" + urlencode(query) if query and body is None else "")
        headers = {"Authorization": f"token {self.api_token}"}
        return await self.http.fetch(
            url, method=method, body=body, headers=headers, what=self.what, timeout=timeout
        )
