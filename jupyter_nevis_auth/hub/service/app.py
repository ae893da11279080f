"""`jupyter-nevis-auth-service`: the JupyterHub service, as a traitlets Application on tornado."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuth
from sqlalchemy.engine import make_url
from tornado import web
from traitlets import Unicode, default
from traitlets.config import Application

from ...core.auth import AuthCore
from ...core.config import NevisAuth
from ...core.refresh import TokenManager
from ...core.stores import MemoryTokenStore, TokenStore, make_fernet
from ...errors import SettingsError, StoreUnavailableError
from ..refresh_hook import PATH as HUB_TOKENS
from . import base
from .auth_state import AuthStateCore
from .auth_state_api import HubTokensHandler
from .caller import ServerTokens
from .client_jwks import ClientJwksHandler
from .cookie_secret import load_cookie_secret
from .grants import HubUsers
from .health import HANDLERS as HEALTH_HANDLERS
from .health import StoreCheck
from .lifecycle import ServiceApplication, stop_gracefully
from .link_api import HANDLERS as LINK_HANDLERS
from .pages import CallbackHandler, DoneHandler, LoginHandler, LogoutHandler, OAuthCallbackHandler
from .pending_store import keep_pending, take_back_pending
from .replicas import ReplicaCallbackHandler, SharedSignIns
from .server_api import ApisHandler, StatusHandler, TokenHandler
from .settings import NevisAuthHub, waiting_connections_reset
from .shared_links import ReplicaDeviceAPIHandler, ReplicaLinkHandler, SharedLinks
from .sql_store import SQLTokenStore

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
CONFIG_FILE = "nevis_auth_hub_config.py"
#: The service's handlers, by their path below its prefix.
HANDLERS: list[tuple[str, type[web.RequestHandler]]] = [
    ("", base.HomeHandler),
    (base.LOGIN, LoginHandler),
    (base.CALLBACK, CallbackHandler),
    (base.LOGOUT, LogoutHandler),
    (base.DONE, DoneHandler),
    (base.OAUTH_CALLBACK, OAuthCallbackHandler),
    ("api/token", TokenHandler),
    ("api/status", StatusHandler),
    ("api/apis", ApisHandler),
    ("jwks.json", ClientJwksHandler),
    *LINK_HANDLERS,
]


def make_app(
    service: AuthCore,
    hub_auth: HubOAuth,
    prefix: str,
    log: logging.Logger,
    cookie_secret: bytes | None = None,
    sign_ins: SharedSignIns | None = None,
    links: SharedLinks | None = None,
) -> ServiceApplication:
    """The tornado application of the service below `prefix` (/services/<name>/).

    With `sign_ins` and `links`, sign-ins under way, one-time links and device sign-ins are
    shared with other replicas through the database.
    """
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    handlers = [*HANDLERS, *HEALTH_HANDLERS]
    if sign_ins is not None:
        shared: dict[str, type[web.RequestHandler]] = {base.CALLBACK: ReplicaCallbackHandler}
        if links is not None:
            shared |= {base.LINK: ReplicaLinkHandler, "api/token/device": ReplicaDeviceAPIHandler}
        handlers = [(p, shared.get(p, h)) for p, h in handlers]
    if isinstance(service, AuthStateCore):
        handlers.append((HUB_TOKENS, HubTokensHandler))
    return ServiceApplication(
        [(prefix + path, handler) for path, handler in handlers],
        nevis_auth_sign_ins=sign_ins,
        nevis_auth_links=links,
        nevis_auth_store_check=StoreCheck(service.tokens.store),
        # Signs the sign-in cookies and JupyterHub's OAuth cookie (cookie_secret.py).
        cookie_secret=cookie_secret or secrets.token_bytes(32),
        xsrf_cookies=True,
        log_function=base.log_request,
        nevis_auth=service,
        nevis_auth_prefix=prefix,
        nevis_auth_log=log,
        nevis_auth_access_debug=base.shows(log, logging.DEBUG),
        nevis_auth_templates=templates,
        hub_auth=hub_auth,
        server_tokens=ServerTokens(hub_auth),
    )


class NevisAuthHubApp(Application):
    """Signs JupyterHub's users in to an OpenID provider and serves their servers' tokens."""

    name = "jupyter-nevis-auth-service"
    description = """The JupyterHub service of jupyter-nevis-auth. Started by the hub
    (c.JupyterHub.services); reads NevisAuth and NevisAuthHub options from its config file
    and NEVIS_AUTH_* environment variables."""
    classes = [NevisAuth, NevisAuthHub, TokenManager]  # noqa: RUF012 (traitlets' own)
    aliases = {  # noqa: RUF012 (traitlets' own)
        **Application.aliases,
        "f": "NevisAuthHubApp.config_file",
        "config": "NevisAuthHubApp.config_file",
    }

    config_file = Unicode(
        "",
        config=True,
        help=f"The configuration file; default: {CONFIG_FILE} in the working directory, if there.",
    )

    @default("log_level")
    def _log_level_default(self) -> int:
        # Sign-ins, sign-outs and refresh failures are what an admin reads the log for.
        return logging.INFO

    @default("log_format")
    def _log_format_default(self) -> str:
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    def initialize(self, argv: Any = None) -> None:
        """Read the command line, then the config file (the command line still wins)."""
        super().initialize(argv)
        path = self.config_file or CONFIG_FILE
        if self.config_file and not Path(path).is_file():
            self.log.critical("The config file %s does not exist.", path)
            self.exit(1)
        if Path(path).is_file():
            self.load_config_file(str(Path(path).resolve()))
        # JupyterHub's service helpers log to tornado's loggers: into this log. Their info
        # lines (cookie ids, user models) are for debugging only.
        for name in ("tornado.access", "tornado.application", "tornado.general"):
            logger = logging.getLogger(name)
            logger.parent = self.log
            debugging = self.log.getEffectiveLevel() < logging.INFO
            logger.setLevel(logging.DEBUG if debugging else logging.WARNING)

    def start(self) -> None:
        """Serve until the hub stops the service."""
        asyncio.run(self.serve())

    def build_service(self, settings: NevisAuthHub) -> tuple[AuthCore, TokenStore]:
        """The AuthCore over the encrypted database (memory only when no key is set).

        SettingsError when the database or a store key that is set cannot be used: the
        service does not then run on memory, losing every sign-in at its next stop.
        """
        config = NevisAuth(parent=self)
        public = os.environ.get("JUPYTERHUB_PUBLIC_URL", "")
        if not config.redirect_uri and public:
            config.redirect_uri = public.rstrip("/") + "/" + base.CALLBACK
        for problem in config.problems():
            self.log.error("jupyter-nevis-auth: %s", problem)
        store: TokenStore
        try:
            fernet = make_fernet(config.get_store_key())
        except SettingsError as e:
            if config.store_key or config.store_key_file:
                raise
            self.log.error(
                "jupyter-nevis-auth: %s Sign-ins are kept in memory only and end "
                "when the service stops.",
                e,
            )
            store = MemoryTokenStore(parent=config)
        else:
            db_url = settings.get_db_url()
            store = SQLTokenStore(
                db_url,
                fernet,
                # Anything but SQLite may be shared by several processes: replicas.
                shared=make_url(db_url).get_backend_name() != "sqlite",
                cache_seconds=settings.replica_cache_seconds,
                lease_seconds=settings.lease_seconds,
                parent=config,
            )
            self.log.info("jupyter-nevis-auth: tokens are kept in %s", store.where)
        service: AuthCore
        if settings.auth_state:
            hub = HubUsers.from_env(self.log, config.http_timeout)
            service = AuthStateCore(config, store, hub, log=self.log)
            self.log.info("jupyter-nevis-auth: users' JupyterHub sign-ins are used (auth_state)")
        else:
            service = AuthCore(config, store, log=self.log)
        for problem in service.problems:
            self.log.error("jupyter-nevis-auth: %s", problem)
        self.log.info(
            "jupyter-nevis-auth: the redirect URI is %s",
            config.redirect_uri or "derived from each request",
        )
        return service, store

    async def serve(self) -> None:
        """Listen on JUPYTERHUB_SERVICE_URL's port until SIGTERM or SIGINT."""
        service_url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/nevis-auth/")
        if not service_url:
            self.log.critical(
                "JUPYTERHUB_SERVICE_URL is not set: start %s as a JupyterHub "
                "service (c.JupyterHub.services) with a url.",
                self.name,
            )
            self.exit(1)
        settings = NevisAuthHub(parent=self)
        try:
            secret = load_cookie_secret(
                settings.cookie_secret, settings.cookie_secret_file, self.log
            )
            service, store = self.build_service(settings)
        except SettingsError as e:
            self.log.critical("jupyter-nevis-auth: %s", e)
            self.exit(1)
        sign_ins, links = None, None
        taking_over: asyncio.Future[None] | None = None
        if isinstance(store, SQLTokenStore):
            # Older keys can be dropped from NevisAuth.store_key once this has run.
            rotated = await store.rotate()
            self.log.info(
                "jupyter-nevis-auth: %d token sets (sign-ins and API tokens) in the database, "
                "encrypted with the newest store key",
                rotated,
            )
            if store.shared:
                store.listen()
                taking_over = asyncio.ensure_future(
                    take_over_abandoned(service.tokens, store.lease_seconds / 4)
                )
                # Written as they start: any replica finishes them, none keeps them at stop.
                sign_ins = SharedSignIns(store, service.pending, self.log)
                links = SharedLinks(store, service.links, service.devices, self.log)
            else:
                under_way = await take_back_pending(store, service.pending)
                self.log.info(
                    "jupyter-nevis-auth: %d sign-ins under way at the last stop", under_way
                )
        hub_auth = HubOAuth(parent=self, cache_max_age=settings.hub_cache_seconds)
        app = make_app(service, hub_auth, prefix, self.log, secret, sign_ins, links)
        # What the start made (modules, the application) lives as long as the service: out of
        # the collector's way, so that a full collection no longer stalls every request for
        # tens of milliseconds at a thousand users.
        gc.collect()
        gc.freeze()
        where = urlsplit(service_url)
        try:
            server = app.listen(
                where.port or 80,
                where.hostname or "127.0.0.1",
                xheaders=True,
                reuse_port=settings.reuse_port,
            )
        except (OSError, ValueError) as e:  # the port taken; SO_REUSEPORT not on this system
            self.log.critical(
                "jupyter-nevis-auth: cannot listen at %s (%s).", service_url.rstrip("/"), e
            )
            self.exit(1)
        self.log.info(
            "jupyter-nevis-auth: the service listens at %s%s", service_url.rstrip("/"), prefix
        )
        if settings.reuse_port and waiting_connections_reset():
            self.log.warning(
                "jupyter-nevis-auth: net.ipv4.tcp_migrate_req is 0 on this host, so connections "
                "still waiting at this replica when it stops are reset, not passed to another "
                "on the port (user servers ask once more); set it to 1."
            )
        checking = asyncio.ensure_future(service.check_provider())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        checking.cancel()
        if taking_over is not None:
            taking_over.cancel()
        await stop_gracefully(app, server, service, self.log)
        if sign_ins is not None and links is not None:
            await sign_ins.stop()
            await links.stop()
        elif isinstance(store, SQLTokenStore):
            await keep_pending(store, service.pending)
        if isinstance(store, SQLTokenStore):
            await store.stop_listening()
            store.close()
        self.log.info("jupyter-nevis-auth: the service stopped")


async def take_over_abandoned(tokens: TokenManager, every: float) -> None:
    """Every `every` seconds, refresh again the grants whose refresh a replica began and
    never ended (TokenManager.take_over)."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(StoreUnavailableError):  # the store logs the database gone
            await tokens.take_over()


main = NevisAuthHubApp.launch_instance

if __name__ == "__main__":
    main()
