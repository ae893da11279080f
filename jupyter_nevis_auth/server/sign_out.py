"""The sign-out page, nevis/logout: of one provider or of all, naming whom it signs out of."""

from __future__ import annotations

from ..core import urls
from ..web.sign_out import SignOutPageMixin
from .base import NevisPageHandler, jupyter_user_only


class LogoutHandler(SignOutPageMixin, NevisPageHandler):
    """nevis/logout: drops and revokes the tokens, optionally ends the provider session too."""

    def back_link(self) -> tuple[str, str]:
        """Back to Jupyter."""
        return self.base_url, "go back to Jupyter"

    def form(self) -> dict[str, str]:
        """This page, and `next` when the request gives one (else the form ends here)."""
        next_url = self.get_argument("next", None)
        return {
            "action": self.page_paths.url(urls.LOGOUT),
            "next": urls.safe_next(next_url, self.base_url) if next_url else "",
        }

    get = jupyter_user_only(SignOutPageMixin.get)
    post = jupyter_user_only(SignOutPageMixin.post)
