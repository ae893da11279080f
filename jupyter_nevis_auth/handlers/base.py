"""What every handler of the extension shares: Jupyter's login and authorizer, pages and JSON."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin, ExtensionHandlerMixin

from ..errors import NevisAuthError
from ..web.base import NevisHandlerMixin, error_code, error_sentence

#: The resource Jupyter's Authorizer is asked about for every page and API of the extension.
AUTH_RESOURCE = "nevis_auth"


class NevisPageHandler(
    NevisHandlerMixin, ExtensionHandlerJinjaMixin, ExtensionHandlerMixin, JupyterHandler
):
    """Base of the browser-facing pages: rendered from templates; errors are one sentence."""

    auth_resource = AUTH_RESOURCE

    def page(self, title: str, message: str, status: int = 200, **parts: Any) -> None:
        """Answer with the extension's page: a title, a sentence, and optional parts."""
        self.set_status(status)
        parts.setdefault("notes", [])
        parts.setdefault("links", [])
        self.finish(self.render_template("nevis_page.html", title=title, message=message, **parts))

    def fail(self, error: NevisAuthError) -> None:
        """Answer a failed sign-in with its sentence and a link to try again."""
        self.page(
            "Sign-in failed",
            str(error),
            error.status_code,
            links=[(self.login_url(), "Sign in again")],
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Any other error: a sentence for a person, no traceback."""
        self.page("Error", error_sentence(status_code, kwargs), status_code)


class NevisAPIHandler(NevisHandlerMixin, APIHandler):
    """Base of the JSON endpoints: errors are one sentence in JSON, never a traceback."""

    auth_resource = AUTH_RESOURCE

    def answer(self, status: int, body: dict[str, Any]) -> None:
        """Finish with JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer any error as {"error", "message"} JSON."""
        error = error_code(status_code, kwargs)
        self.answer(status_code, {"error": error, "message": error_sentence(status_code, kwargs)})
