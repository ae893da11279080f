"""The browser's pages of the service: login, callback, logout, done, and the hub's OAuth.

The pages' work is web/pages.py's and web/sign_out.py's; here each asks for the hub user by
JupyterHub's OAuth (ServicePage says who that is, where the pages are and how a sign-in is bound).
"""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuthCallbackHandler

from ...web.pages import CallbackPageMixin, DonePageMixin, LoginPageMixin
from ...web.sign_out import SignOutPageMixin
from .base import LOGOUT, ServicePage, hub_user_only


class LoginHandler(LoginPageMixin, ServicePage):
    """login: starts the Authorization Code flow for the signed-in hub user."""

    get = hub_user_only(LoginPageMixin.get)


class CallbackHandler(CallbackPageMixin, ServicePage):
    """callback: the redirect URI registered at the provider; finishes the flow.

    A sign-in started from a one-time link finishes for the link's user in the browser that
    opened it, without a hub login; every other sign-in needs the hub user who started it.
    """

    finish_for_signer = hub_user_only(CallbackPageMixin.finish_for_signer)

    def link_user(self, state: str) -> str:
        """The user the link's sign-in `state` names; "" once it is gone."""
        pending = self.nevis.pending.peek(state)
        return pending.owner if pending else ""


class LogoutHandler(SignOutPageMixin, ServicePage):
    """logout: drops and revokes the user's tokens, optionally ends the provider session too."""

    where = "on your servers"
    get = hub_user_only(SignOutPageMixin.get)
    post = hub_user_only(SignOutPageMixin.post)

    def back_link(self) -> tuple[str, str]:
        """Back to JupyterHub."""
        return "/", "go back to JupyterHub"

    def form(self) -> dict[str, str]:
        """This page, and `next` when the request gives one (else the form ends here)."""
        given = self.get_argument("next", None)
        return {"action": self.path_of(LOGOUT), "next": self.next_url() if given else ""}


class DoneHandler(DonePageMixin, ServicePage):
    """done: where a sign-in started from a notebook ends."""

    get = hub_user_only(DonePageMixin.get)


class OAuthCallbackHandler(HubOAuthCallbackHandler, ServicePage):
    """oauth_callback: JupyterHub's own OAuth into the service; its failures as one sentence."""
