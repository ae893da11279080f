"""A graceful stop of the service: answer what came in, keep every refreshed token, then exit.

On SIGTERM (a rolling restart, `kubectl delete pod`, JupyterHub stopping the service) the
service says it is stopping (`health` answers 503), takes no new connection, answers every
request that came in (each with `Connection: close`), waits for the refreshes under way and
writes what the store could not take yet (TokenManager.drain), and only then exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tornado import httputil, web
from tornado.httpserver import HTTPServer

from ...core.auth import AuthCore

#: Seconds a stop waits for the requests under way (a cell's wait for a sign-in is cut short).
REQUESTS_SECONDS = 20.0
#: Seconds without a new request after which a stop closes the connections kept open: one
#: the proxy still uses meanwhile gets its next answer (with Connection: close) instead of
#: being closed under a request on its way.
QUIET_SECONDS = 1.0


class ServiceApplication(web.Application):
    """The service's tornado application, counting the requests it is answering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = 0
        #: When the last request's head came (time.monotonic()).
        self.last_request = 0.0
        #: Set at SIGTERM: `health` answers 503 from then on.
        self.stopping = False

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        """A connection waits for its next request: counted once that request's head came.

        Not before: a kept-alive connection (the proxy's) waits here between its requests,
        and an idle one must not hold a stop up for REQUESTS_SECONDS.
        """
        return _Counted(self, super().start_request(server_conn, request_conn))

    def log_request(self, handler: web.RequestHandler) -> None:
        """A request was answered (tornado logs each answer once)."""
        self.in_flight = max(self.in_flight - 1, 0)
        super().log_request(handler)


class _Counted(httputil.HTTPMessageDelegate):
    """One request's delegate, counting the request in flight from its head on."""

    def __init__(self, app: ServiceApplication, delegate: httputil.HTTPMessageDelegate) -> None:
        self.app = app
        self.delegate = delegate
        self.counted = self.whole = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Any:
        """The request began: it is answered before a stop ends (log_request uncounts it)."""
        self.app.in_flight += 1
        self.app.last_request = time.monotonic()
        self.counted = True
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        """Part of the body."""
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        """The whole request came."""
        self.whole = True
        self.delegate.finish()

    def on_connection_close(self) -> None:
        """The connection closed before the request was whole: nothing will answer it."""
        if self.counted and not self.whole:
            self.app.in_flight = max(self.app.in_flight - 1, 0)
        self.delegate.on_connection_close()


async def stop_gracefully(
    app: ServiceApplication, server: HTTPServer, service: AuthCore, log: logging.Logger
) -> None:
    """Stop taking requests, answer those under way, then let the refreshes end and be kept."""
    app.stopping = True
    server.stop()
    # Connections kept open by the proxy carry one more request at most, then close.
    server.conn_params.no_keep_alive = True
    deadline = time.monotonic() + REQUESTS_SECONDS
    if app.in_flight:
        log.info("jupyter-nevis-auth: stopping; answering %d requests first", app.in_flight)
    while time.monotonic() < deadline:
        kept_open = getattr(server, "_connections", ())
        quiet = time.monotonic() - app.last_request >= QUIET_SECONDS
        if not app.in_flight and (not kept_open or quiet):
            break
        await asyncio.sleep(0.05)
    await service.tokens.drain()
    await server.close_all_connections()
