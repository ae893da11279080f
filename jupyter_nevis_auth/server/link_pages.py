"""nevis/link and nevis/link/done: a one-time sign-in link's pages, for browsers without Jupyter.

The pages' work is web/link_pages.py's; here a link's sign-in is bound to this browser, and
under JupyterHub the page says which hub login the sign-in needs. A link is its own
credential: the pages ask for no Jupyter login.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated

from ..core.links import SignInLink
from ..core.pending import PendingLogin
from ..web.link_pages import LinkDoneMixin, LinkPageMixin
from .base import NevisPageHandler
from .pages import hub_servers_path, name_link_owner


class LinkHandler(LinkPageMixin, NevisPageHandler):
    """nevis/link: what a one-time link signs in for, and the button that starts it."""

    get = allow_unauthenticated(LinkPageMixin.get)
    post = allow_unauthenticated(LinkPageMixin.post)

    def bind_link(self, login: PendingLogin, link: SignInLink) -> None:
        """Let only this browser finish the link's sign-in; under JupyterHub, name its owner."""
        super().bind_link(login, link)
        name_link_owner(self, login)

    def hints(self, link: SignInLink) -> dict[str, Any]:
        """Under JupyterHub, the hub login the sign-in needs."""
        servers = hub_servers_path()
        if not servers:
            return {}
        note = (
            f"This server runs on JupyterHub, where the sign-in ends: JupyterHub will want "
            f"this browser signed in as {link.owner}. Sign in to JupyterHub first if it is not."
        )
        login = servers[: -len("user/")] + "hub/login"
        return {"notes": [note], "links": [(login, "Sign in to JupyterHub")]}

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        """Any origin: the link's token is the credential, and a page holding it could as well
        open it; with Referrer-Policy no-referrer browsers send the form with Origin: null."""
        return True


class LinkDoneHandler(LinkDoneMixin, NevisPageHandler):
    """nevis/link/done: where a link's sign-in ends."""

    get = allow_unauthenticated(LinkDoneMixin.get)
