"""api/auth_state: the hub's refresh_user asks here for a user's current tokens.

Only the hub holds the service's own API token (JUPYTERHUB_API_TOKEN; JupyterHub made it
for this service), so only the hub is answered. The answer is what the hub keeps in the
user's auth_state: the tokens of the one grant the service refreshes.
"""

from __future__ import annotations

import hmac
import os

from tornado import web

from ...errors import LoginRequiredError, NevisAuthError
from ...protocol import LOGIN_REQUIRED, PROVIDER_ERROR
from ...web.answers import auth_state_answer, error_answer
from .auth_state import AuthStateCore
from .base import ServiceAPI
from .caller import request_token

NOT_THE_HUB = "Only JupyterHub itself, with this service's own token, is answered here."


class HubTokensHandler(ServiceAPI):
    """GET ?user=<name>: the user's current tokens, for the hub's auth_state."""

    async def prepare(self) -> None:
        """Refuse anyone but the hub."""
        own = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        given = request_token(self.request)
        if not own or not hmac.compare_digest(given.encode(), own.encode()):
            raise web.HTTPError(403, NOT_THE_HUB)

    async def get(self) -> None:
        """The tokens (fresh), 401 when the service holds no sign-in of the user."""
        user = self.get_argument("user", "")
        if not user:
            raise web.HTTPError(400, "Name the user: ?user=<name>.")
        service = self.nevis
        assert isinstance(service, AuthStateCore)  # registered only then
        try:
            tokens = await service.for_hub(user)
        except LoginRequiredError as e:
            self.answer(401, error_answer(LOGIN_REQUIRED, str(e)))
            return
        except NevisAuthError as e:
            self.log.warning("No tokens of %s for JupyterHub: %s", user, e)
            self.answer(e.status_code, error_answer(PROVIDER_ERROR, str(e)))
            return
        self.answer(200, auth_state_answer(tokens))
