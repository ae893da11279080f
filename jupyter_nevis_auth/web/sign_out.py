"""The sign-out page of both apps: of one provider or of all, naming whom it signs out of."""

from __future__ import annotations

from typing import Any

from ..core import urls
from ..core.auth import SIGNED_OUT
from ..errors import RequestError
from .pages import NevisPageMixin


class SignOutPageMixin(NevisPageMixin):
    """The sign-out page of one provider (`provider=`) or of all: it names whom it signs out
    of, and says afterwards who is signed out; the app's handler says where things are."""

    #: Whose notebooks lose the sign-in, in a sentence: "notebooks <where>".
    where = "on this server"

    def back_link(self) -> tuple[str, str]:
        """Where a person goes on after signing out."""
        raise NotImplementedError

    def form(self) -> dict[str, str]:
        """The form's action and `next`."""
        raise NotImplementedError

    def return_url(self, provider: str | None) -> str:
        """Where the provider's logout sends the browser back to: this page (naming
        `provider`), unless one is configured."""
        return self.nevis.post_logout_uri(self.origin(), self.page_paths, provider)

    def named_provider(self) -> str | None:
        """The provider the request names, None for all; RequestError for an unknown one."""
        name = self.get_argument("provider", "")
        if name:
            self.nevis.selection({"provider": name})
        return name or None

    def signed_out_page(self, message: str, status: int = 200, **parts: Any) -> None:
        """The page saying the user is signed out, with the ways on."""
        links = [parts.pop("sign_in", (self.login_url(), "Sign in again")), self.back_link()]
        title = parts.pop("title", "Signed out")
        self.page(title, message, status, links=links, broadcast=True, **parts)

    async def get(self) -> None:
        """A form to confirm signing out (POST, with the xsrf token), or the signed-out page."""
        _user, status = await self.user_status()
        try:
            provider = self.named_provider()
        except RequestError as e:
            self.signed_out_page(str(e), e.status_code, title="Sign out")
            return
        text = sign_out_text(status, provider, self.where)
        if text is None:
            self.signed_out_page(**signed_out_text(status, provider))
            return
        title, message = text
        form = {**self.form(), "provider": provider or ""}
        # With no-referrer, browsers post the form with Origin: null, which Jupyter refuses
        # (404); this page's URL holds nothing secret, and same-origin sends the origin.
        self.set_header("Referrer-Policy", "same-origin")  # type: ignore[attr-defined]
        self.page(title, message, sign_out_form=form)

    async def post(self) -> None:
        """Sign out, then go to the provider's logout, or to `next`, or the signed-out page."""
        user, _status = await self.user_status()
        provider = self.get_argument("provider", "") or None
        if not await self.signed_out(user, self.return_url(provider)):
            return
        next_url = self.form()["next"] if self.get_argument("next", None) else ""
        confirm = urls.with_query(self.request.path, {"provider": provider} if provider else {})
        self.redirect(next_url or confirm)


def sign_out_text(
    status: dict[str, Any], provider: str | None, where: str
) -> tuple[str, str] | None:
    """The title and sentence of the form signing out of `provider` (None: of every provider);
    None when there is no sign-in to end."""
    providers: dict[str, dict[str, Any]] = status["providers"]
    held = {n: p for n, p in providers.items() if p["logged_in"] and n == (provider or n)}
    if not held:
        return None
    if len(providers) == 1:
        return "Sign out", (
            f"You are signed in as {status['display_name']}. After signing out, notebooks "
            f"{where} can no longer call APIs on your behalf."
        )
    if provider is None:
        at = " and ".join(f"at {n} as {p['display_name']}" for n, p in held.items())
        return "Sign out", (
            f"You are signed in {at}. After signing out of every provider, notebooks {where} "
            "can no longer call APIs on your behalf."
        )
    apis = [n for n, a in status["apis"].items() if a["provider"] == provider]
    calls = f"call {', '.join(apis)} on your behalf" if apis else "use your sign-in there"
    return f"Sign out of {provider}", (
        f"You are signed in at {provider} as {held[provider]['display_name']}. After signing "
        f"out of {provider}, notebooks {where} can no longer {calls}.{stays(status, provider)}"
    )


def signed_out_text(status: dict[str, Any], provider: str | None) -> dict[str, Any]:
    """The title, sentence and notes of the page saying the user is signed out (of `provider`)."""
    providers: dict[str, dict[str, Any]] = status["providers"]
    if provider is None or len(providers) == 1:
        return {"message": status["signed_out_reason"] or "You are signed out."}
    reason = providers[provider]["signed_out_reason"]
    if reason == SIGNED_OUT:
        message = f"You signed out of {provider}."
    else:
        message = f"You are signed out of {provider}. {reason or ''}".strip()
    return {
        "title": f"Signed out of {provider}",
        "message": message + stays(status, provider),
        "sign_in": (providers[provider]["login_url"], f"Sign in to {provider} again"),
    }


def stays(status: dict[str, Any], provider: str) -> str:
    """ " Your sign-in at … stays." for the user's sign-ins at other providers, else ""."""
    others = [n for n, p in status["providers"].items() if n != provider and p["logged_in"]]
    return f" Your sign-in at {' and '.join(others)} stays." if others else ""
