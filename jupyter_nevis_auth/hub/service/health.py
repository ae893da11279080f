"""health: whether the service should get requests (readiness) and whether it runs (liveness).

For JupyterHub's proxy, Kubernetes probes and load balancers; needs no sign-in, says nothing
about any user. `health` (readiness) answers 200 while the token store is reachable and the
service is not stopping, else 503 with the sentence why. `health/live` (liveness) answers 200
whenever the process answers at all: a database that is down is not cured by a restart.
"""

from __future__ import annotations

import time

from tornado import web

from ...core.stores import TokenStore
from ...errors import StoreUnavailableError

#: Seconds a store check is reused: probes of every replica need not each reach the database.
CHECK_REUSE = 1.0
STOPPING = "The service is stopping; its other replicas take the requests."


class StoreCheck:
    """Whether the store was reachable at its last check (at most CHECK_REUSE seconds ago)."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self._checked = -CHECK_REUSE
        self._problem = ""

    async def problem(self) -> str:
        """Why the store cannot be used now, "" when it can."""
        if time.monotonic() - self._checked >= CHECK_REUSE:
            try:
                await self.store.ping()
                self._problem = ""
            except StoreUnavailableError as e:
                self._problem = str(e)
            self._checked = time.monotonic()
        return self._problem


class HealthHandler(web.RequestHandler):
    """health: readiness: the token store reachable and the service not stopping."""

    async def get(self) -> None:
        """200 when requests may come here, else 503 with the sentence why."""
        self.set_header("Cache-Control", "no-store")
        problem = STOPPING if getattr(self.application, "stopping", None) else ""
        problem = problem or await self.settings["nevis_auth_store_check"].problem()
        if problem:
            self.set_status(503)
            self.finish({"ready": False, "message": problem})
        else:
            self.finish({"ready": True})


class LiveHandler(web.RequestHandler):
    """health/live: liveness: the process answers."""

    def get(self) -> None:
        """Always 200."""
        self.set_header("Cache-Control", "no-store")
        self.finish({"live": True})


HANDLERS: list[tuple[str, type[web.RequestHandler]]] = [
    ("health", HealthHandler),
    ("health/live", LiveHandler),
]
