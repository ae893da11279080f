"""What every handler of the extension shares: Jupyter's login, authorizer and templates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin, ExtensionHandlerMixin
from tornado import web

from ..web.base import NevisAPIMixin
from ..web.pages import NevisPageMixin

#: The resource Jupyter's Authorizer is asked about for every page and API of the extension.
AUTH_RESOURCE = "nevis_auth"
Method = TypeVar("Method", bound=Callable[..., Any])


def jupyter_user_only(method: Method) -> Method:
    """`method` for a user signed in to Jupyter whom its authorizer lets use the extension."""
    return cast(Method, web.authenticated(authorized(method)))


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
