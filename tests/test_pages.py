"""The pages and the status API answer to Jupyter's Authorizer, and render from templates."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer

from jupyter_nevis_auth.protocol import secret_header
from jupyter_nevis_auth.server.base import AUTH_RESOURCE

PAGES = [
    ("nevis", "login"),
    ("nevis", "callback"),
    ("nevis", "logout"),
    ("nevis", "done"),
    ("nevis", "api", "status"),
]


class NoNevisAuth(Authorizer):
    """An Authorizer that lets users do everything but use jupyter-nevis-auth."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        """Refuse the extension's resource only."""
        return resource != AUTH_RESOURCE


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    """The test server, with the restrictive Authorizer."""
    return {
        **jp_server_config,
        "ServerApp": {**jp_server_config["ServerApp"], "authorizer_class": NoNevisAuth},
    }


@pytest.mark.parametrize("path", PAGES, ids=["/".join(p) for p in PAGES])
async def test_the_authorizer_can_refuse_every_page(jp_fetch, path: tuple[str, ...]):
    response = await jp_fetch(*path, raise_error=False, follow_redirects=False)
    assert response.code == 403
    assert b"not authorized" in response.body and b"Traceback" not in response.body


async def test_other_resources_stay_allowed_and_kernels_keep_their_secret(jp_fetch, jp_serverapp):
    assert (await jp_fetch("api", "status")).code == 200
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    response = await jp_fetch(
        "nevis", "api", "token", "status", headers=secret_header(secret), raise_error=False
    )
    assert response.code == 200
