"""A one-time sign-in link's page and the page its sign-in ends on, for browsers without Jupyter.

Opening the link shows what it does; its button (a POST, so that link previews and mail
scanners cannot use the link up) starts the code flow bound to this browser. The mixins hold
the pages' work, for a server's own links (handlers/link_pages.py) and for the hub service's
(hubservice/links.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import urls
from ..core.links import EXPIRED, SignInLink
from ..core.pending import PendingLogin
from ..core.tokens import fingerprint
from ..errors import NevisAuthError
from ..protocol import LINK_TOKEN_PARAM
from .pages import LINK_DONE_COOKIE, NevisPageMixin, link_sign_in_done


class LinkPageMixin(NevisPageMixin):
    """A link's page: whose sign-in it is, and the button that starts it."""

    get_query_argument: Callable[..., str]
    get_body_argument: Callable[..., str]

    def link_page(self) -> str:
        """The path of this page."""
        return self.page_paths.url(urls.LINK)

    def whose(self, link: SignInLink) -> str:
        """Whose notebooks the sign-in is for, in a sentence."""
        return f"the Jupyter server of {link.owner}: its notebooks"

    def bind_link(self, login: PendingLogin, link: SignInLink) -> None:
        """Let only this browser finish the link's sign-in, for the link's user."""
        self.bind_sign_in(login, link.owner)

    def hints(self, link: SignInLink) -> dict[str, Any]:
        """Notes and links for the page, where the sign-in needs something first; none here."""
        return {}

    def usable(self, link: SignInLink) -> bool:
        """Whether this page may use `link`: a server's links are for its owner only."""
        return link.owner == self.owner

    def gone(self) -> None:
        """The page of a link that cannot be used."""
        self.page(
            "Sign-in link not valid",
            EXPIRED,
            410,
            links=[(self.login_url(), "Sign in from Jupyter instead")],
        )

    def live_link(self, token: str, *, redeem: bool) -> SignInLink | None:
        """The link of `token` if it is live and usable here (used up if `redeem`)."""
        links = self.nevis.links
        link = links.redeem(token) if redeem else links.peek(token)
        return link if link is not None and self.usable(link) else None

    async def get(self) -> None:
        """Say whose sign-in this is, with a button to go on."""
        token = self.get_query_argument(LINK_TOKEN_PARAM, "")
        link = self.live_link(token, redeem=False)
        if link is None:
            self.gone()
            return
        what = f" for {link.api.name}" if link.api and link.api.name else ""
        self.page(
            "Sign in",
            f"This one-time link signs you in{what} for {self.whose(link)} will call APIs "
            "as whoever signs in next. Go on only if you asked for this sign-in from your own "
            "notebook.",
            link_form={"action": self.link_page(), "token": token},
            **self.hints(link),
        )

    async def post(self) -> None:
        """Use the link up and send this browser to the provider."""
        token = self.get_body_argument(LINK_TOKEN_PARAM, "")
        link = self.live_link(token, redeem=True)
        if link is None:
            self.gone()
            return
        try:
            login, url = await self.nevis.start_login(
                self.callback_url(link.provider),
                self.link_done(),
                link.provider,
                link.api,
                via_link=True,
                owner=link.owner,
            )
        except NevisAuthError as e:
            self.log.warning("Sign-in from a link for %s not started: %s", link.owner, e)
            self.page("Sign-in is not available", str(e), e.status_code)
            return
        # The sign-in ends with the wait of the cell that asked for the link.
        self.nevis.pending.tie_to_link(login.state, fingerprint(token))
        self.bind_link(login, link)
        self.redirect(url)


class LinkDoneMixin(NevisPageMixin):
    """Where a link's sign-in ends (link_done); names whom only right after it."""

    async def get(self) -> None:
        """Say who signed in, once; and that the cell carries on if one waited."""
        done = link_sign_in_done(self.get_secure_cookie(LINK_DONE_COOKIE, max_age_days=1))
        self.clear_cookie(LINK_DONE_COOKIE, path=self.link_done())
        if done is None:
            self.page("Nothing to see here", "This page ends sign-ins from one-time links.")
            return
        name, cell_waits = done
        after = (
            ": the notebook cell that asked for the sign-in carries on."
            if cell_waits
            else "; no notebook cell is waiting for this sign-in any more, so run the cell "
            "again to use it."
        )
        self.page("Signed in", f"Signed in as {name}. You can close this window{after}")
