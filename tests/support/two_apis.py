"""The two-API configuration of the tests: sales at the session's provider, models at another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.resource_server import MODELS_AUDIENCE, SALES_AUDIENCE, ResourceServer

#: The scopes of a sign-in at the second provider for the models API.
MODELS_SIGN_IN_SCOPES = ["openid", "offline_access", "models.read"]


def two_apis_config(
    base: Mapping[str, Any],
    sales_api: ResourceServer,
    models_api: ResourceServer,
    second: Mapping[str, Any],
    *,
    provider: str = "partner",
    url_path: str = "/",
    sales: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`base` NevisAuth settings with the sales API and the models API behind `provider`.

    `second` is that provider's settings; `url_path` ends each API's URL; `sales` adds to
    the sales API's settings.
    """
    return {
        **base,
        "apis": {
            "sales": {
                "url": sales_api.url + url_path,
                "scopes": ["sales.read"],
                "resource": SALES_AUDIENCE,
                **(sales or {}),
            },
            "models": {
                "url": models_api.url + url_path,
                "scopes": ["models.read"],
                "resource": MODELS_AUDIENCE,
                "provider": provider,
            },
        },
        "providers": {provider: dict(second)},
    }
