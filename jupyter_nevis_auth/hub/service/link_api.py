"""One-time sign-in links, device sign-ins and waits at the service, for user servers in hub mode.

A user server's kernel asks its server, which asks here with its own token (api/token/link,
api/token/device): links and device sign-ins are for the server's owner only. A link opens the
service's `link` page, which needs no hub login: its sign-in ends at the service's callback,
bound to the browser that pressed the page's button, and the tokens are kept for the link's
user.
"""

from __future__ import annotations

from tornado import web

from ...core.links import SignInLink
from ...web.link_pages import LinkDoneMixin, LinkPageMixin
from ...web.signin_api import DeviceAPIMixin, LinkAPIMixin, WaitAPIMixin
from .base import LINK, LINK_DONE, ServicePage
from .server_api import ServerAPI


class LinkHandler(LinkPageMixin, ServicePage):
    """link: whose sign-in a one-time link is, and the button that starts it."""

    def whose(self, link: SignInLink) -> str:
        """The link's hub user: every server of theirs shares the sign-in."""
        return f"the JupyterHub user {link.owner}: notebooks on their servers"

    def usable(self, link: SignInLink) -> bool:
        """Any live link: the service holds every user's, each for its own user."""
        return True


class LinkDoneHandler(LinkDoneMixin, ServicePage):
    """link/done: where a link's sign-in ends."""


class LinkAPIHandler(LinkAPIMixin, ServerAPI):
    """api/token/link: a one-time link for the calling server's user; DELETE drops it."""


class WaitAPIHandler(WaitAPIMixin, ServerAPI):
    """api/token/wait: a waiting cell's one request (relayed by its server) until it can go on."""


class DeviceAPIHandler(DeviceAPIMixin, ServerAPI):
    """api/token/device: device sign-ins for the calling server's user, polled here."""


#: The service's handlers of links and device sign-ins, by their path below its prefix.
HANDLERS: list[tuple[str, type[web.RequestHandler]]] = [
    (LINK, LinkHandler),
    (LINK_DONE, LinkDoneHandler),
    ("api/token/link", LinkAPIHandler),
    ("api/token/device", DeviceAPIHandler),
    ("api/token/wait", WaitAPIHandler),
]
