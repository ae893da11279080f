"""The doctor in a user server in hub mode: is the hub's service there, and does it answer us?"""

from __future__ import annotations

import logging
import os

from ..core.config import NevisAuth
from ..server.hub_client import HubServiceClient
from .report import Check, clause, failed, passed, shown


async def hub_service(config: NevisAuth, log: logging.Logger) -> Check:
    """The service answers this server's own token with the configured APIs."""
    name = "hub service"
    client = HubServiceClient(config, os.environ.get("JUPYTERHUB_API_TOKEN", ""), log)
    problems = client.problems()
    if problems:
        return failed(name, "hub mode is not complete", clause(" ".join(problems)))
    code, body = await client.call("GET", "api/apis")
    if code == 200:
        count = len(body.get("apis") or [])
        return passed(name, f"{client.url} answers this server ({count} APIs configured)")
    message = shown(body.get("message") or f"HTTP {code}")
    if code == 403:
        return failed(
            name,
            f"{client.url} refused this server's token: {message}",
            "Run the doctor in a terminal of a user server started by JupyterHub (it needs "
            "that server's own JUPYTERHUB_API_TOKEN), not with a user's or an admin's token.",
        )
    return failed(
        name,
        f"{client.url} did not answer as the service does: {message}",
        "Check NevisAuth.hub_service_url ($NEVIS_AUTH_HUB_SERVICE_URL) and that the hub "
        "started the nevis-auth service (c.JupyterHub.services).",
    )
