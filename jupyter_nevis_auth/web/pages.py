"""What both apps' sign-in pages share: the callback's parameters, and whom a link's sign-in
signed in, for the page it ends on."""

from __future__ import annotations

import json

from ..claims import display_name
from ..flow import PendingLogin
from .base import NevisHandlerMixin

#: The authorization-response parameters the callback reads; each at most once.
CALLBACK_PARAMS = ("state", "code", "iss", "error", "error_description")
#: Holds, signed, whom a link's sign-in signed in, for the page it ends on.
LINK_DONE_COOKIE = "nevis_auth_link_done"
#: Seconds that cookie lives: the redirect follows at once.
LINK_DONE_TTL = 60


async def remember_link_sign_in(
    handler: NevisHandlerMixin, user: str, login: PendingLogin, done_page: str
) -> None:
    """Tell `done_page`, where a link's sign-in ends, whom it signed in and whether a cell of
    theirs waits for it (a signed cookie)."""
    cell_waits = handler.nevis.links.cells.waits(user)
    status = await handler.nevis.status(user, handler.base_url)
    claims = status["providers"][login.provider].get("claims") or {}
    handler.set_secure_cookie(  # type: ignore[attr-defined]
        LINK_DONE_COOKIE,
        json.dumps([display_name(claims), cell_waits]),
        expires_days=None,
        max_age=LINK_DONE_TTL,
        path=done_page,
        httponly=True,
        secure=handler.request.protocol == "https",
        samesite="Lax",
    )


def link_sign_in_done(raw: bytes | None) -> tuple[str, bool] | None:
    """Whom a link's sign-in signed in, and whether a cell waited: what remember_link_sign_in
    kept; None without it."""
    try:
        name, cell_waits = json.loads(raw or b"")
    except (ValueError, TypeError):
        return None
    return (name, cell_waits) if isinstance(name, str) and isinstance(cell_waits, bool) else None
