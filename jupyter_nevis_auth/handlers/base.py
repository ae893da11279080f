"""What every handler of the extension shares: Jupyter's login, authorizer and templates."""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin, ExtensionHandlerMixin

from ..web.base import NevisAPIMixin, NevisPageMixin

#: The resource Jupyter's Authorizer is asked about for every page and API of the extension.
AUTH_RESOURCE = "nevis_auth"


class NevisPageHandler(
    NevisPageMixin, ExtensionHandlerJinjaMixin, ExtensionHandlerMixin, JupyterHandler
):
    """Base of the browser-facing pages: rendered from the extension's templates by Jupyter."""

    auth_resource = AUTH_RESOURCE

    def render_page(self, **namespace: Any) -> str:
        """The page template, with Jupyter's namespace (base_url, xsrf_form_html, ...)."""
        return self.render_template("nevis_page.html", **namespace)


class NevisAPIHandler(NevisAPIMixin, APIHandler):
    """Base of the JSON endpoints, behind Jupyter's API handler."""

    auth_resource = AUTH_RESOURCE
