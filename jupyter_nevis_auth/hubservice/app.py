"""`jupyter-nevis-auth-hub`: the JupyterHub service, as a traitlets Application on tornado."""

from __future__ import annotations

import asyncio
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
from tornado import web
from traitlets import Bool, Int, Unicode, default
from traitlets.config import Application

from ..config import NevisAuth
from ..env import EnvConfigurable
from ..errors import SettingsError
from ..refresh import TokenManager
from ..secret_files import read_secret_file
from ..service import AuthService
from ..stores import MemoryTokenStore, TokenStore, make_fernet
from . import base
from .api import ApisHandler, StatusHandler, TokenHandler
from .auth import ServerTokens
from .authstate import AuthStateService
from .client_jwks import ClientJwksHandler
from .cookie_secret import load_cookie_secret
from .hook import PATH as HUB_TOKENS
from .hubgrants import HubUsers
from .hubtokens import HubTokensHandler
from .links import HANDLERS as LINK_HANDLERS
from .pages import CallbackHandler, DoneHandler, LoginHandler, LogoutHandler, OAuthCallbackHandler
from .pending import keep_pending, take_back_pending
from .store import SQLTokenStore

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
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


class NevisAuthHub(EnvConfigurable):
    """Settings of the JupyterHub service; each one can also come from its env var."""

    env_names = {  # noqa: RUF012 (EnvConfigurable's own class attribute)
        "db_url": "NEVIS_AUTH_HUB_DB_URL",
        "db_url_file": "NEVIS_AUTH_HUB_DB_URL_FILE",
        "hub_cache_seconds": "NEVIS_AUTH_HUB_CACHE_SECONDS",
        "auth_state": "NEVIS_AUTH_HUB_AUTH_STATE",
        "cookie_secret": "NEVIS_AUTH_HUB_COOKIE_SECRET",
        "cookie_secret_file": "NEVIS_AUTH_HUB_COOKIE_SECRET_FILE",
    }

    db_url = Unicode(
        "sqlite:///nevis_auth_hub.sqlite",
        config=True,
        help="""SQLAlchemy URL of the database keeping every user's tokens (encrypted with
        NevisAuth.store_key): SQLite in the service's working directory by default, or e.g.
        postgresql://user@host/db with a driver installed (a password: db_url_file). The
        SQLite file is made readable by the service only, and refused when anybody may read
        it. Default: $NEVIS_AUTH_HUB_DB_URL""",
    )
    db_url_file = Unicode(
        "",
        config=True,
        help="""Path of a file holding db_url, for a URL with a password (e.g. a mounted
        Kubernetes Secret); wins over db_url. Read at start; refused when anybody may read it
        (chmod 600). Default: $NEVIS_AUTH_HUB_DB_URL_FILE""",
    )
    hub_cache_seconds = Int(
        60,
        config=True,
        help="""Seconds JupyterHub's answer about a server's token is reused: a stopped server's
        token keeps working at most this long (JupyterHub's own services reuse such answers
        for 300 s). Every token in use is asked about again within this time: shorter means
        more questions to JupyterHub. Default: $NEVIS_AUTH_HUB_CACHE_SECONDS""",
    )
    cookie_secret = Unicode(
        "",
        config=True,
        help="""The secret signing the service's cookies, in hex (`openssl rand -hex 32`);
        instead of cookie_secret_file. Default: $NEVIS_AUTH_HUB_COOKIE_SECRET""",
    )
    cookie_secret_file = Unicode(
        "nevis_auth_hub_cookie_secret",
        config=True,
        help="""File keeping the secret that signs the service's cookies, so that sign-ins under
        way survive a restart: made (readable by the service only) when missing, refused when
        others may read it; relative to the service's working directory. Empty: a new secret
        each start. Default: $NEVIS_AUTH_HUB_COOKIE_SECRET_FILE""",
    )
    auth_state = Bool(
        False,
        config=True,
        help="""Sign in once: start from the tokens the hub's OAuthenticator keeps in each user's
        auth_state (same provider and client; the service needs the scopes admin:auth_state and
        read:users:name), and answer the hub's refresh_user (jupyter_nevis_auth.hubservice.hook).
        Default: $NEVIS_AUTH_HUB_AUTH_STATE""",
    )

    def get_db_url(self) -> str:
        """The database's URL, from db_url_file when set, else db_url; or SettingsError."""
        if self.db_url_file:
            option = f"NevisAuthHub.db_url_file (${self.env_var('db_url_file')})"
            return read_secret_file(self.db_url_file, "database URL file", option)
        return self.db_url


def make_app(
    service: AuthService,
    hub_auth: HubOAuth,
    prefix: str,
    log: logging.Logger,
    cookie_secret: bytes | None = None,
) -> web.Application:
    """The tornado application of the service below `prefix` (/services/<name>/)."""
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    handlers = list(HANDLERS)
    if isinstance(service, AuthStateService):
        handlers.append((HUB_TOKENS, HubTokensHandler))
    return web.Application(
        [(prefix + path, handler) for path, handler in handlers],
        # Signs the sign-in cookies and JupyterHub's OAuth cookie (cookie_secret.py).
        cookie_secret=cookie_secret or secrets.token_bytes(32),
        xsrf_cookies=True,
        log_function=base.log_request,
        nevis_auth=service,
        nevis_auth_prefix=prefix,
        nevis_auth_log=log,
        nevis_auth_templates=templates,
        hub_auth=hub_auth,
        server_tokens=ServerTokens(hub_auth),
    )


class NevisAuthHubApp(Application):
    """Signs JupyterHub's users in to an OpenID provider and serves their servers' tokens."""

    name = "jupyter-nevis-auth-hub"
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

    def build_service(self, settings: NevisAuthHub) -> tuple[AuthService, TokenStore]:
        """The AuthService over the encrypted database (memory only when no key is set).

        SettingsError when the database cannot be used as configured.
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
            self.log.error(
                "jupyter-nevis-auth: %s Sign-ins are kept in memory only and end "
                "when the service stops.",
                e,
            )
            store = MemoryTokenStore(parent=config)
        else:
            store = SQLTokenStore(settings.get_db_url(), fernet, parent=config)
            self.log.info("jupyter-nevis-auth: tokens are kept in %s", store.where)
        service: AuthService
        if settings.auth_state:
            hub = HubUsers.from_env(self.log, config.http_timeout)
            service = AuthStateService(config, store, hub, log=self.log)
            self.log.info("jupyter-nevis-auth: users' JupyterHub sign-ins are used (auth_state)")
        else:
            service = AuthService(config, store, log=self.log)
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
        if isinstance(store, SQLTokenStore):
            # Older keys can be dropped from NevisAuth.store_key once this has run.
            rotated = await store.rotate()
            self.log.info("jupyter-nevis-auth: %d sign-ins kept from before", rotated)
            under_way = await take_back_pending(store, service.pending)
            self.log.info("jupyter-nevis-auth: %d sign-ins under way at the last stop", under_way)
        hub_auth = HubOAuth(parent=self, cache_max_age=settings.hub_cache_seconds)
        app = make_app(service, hub_auth, prefix, self.log, secret)
        # What the start made (modules, the application) lives as long as the service: out of
        # the collector's way, so that a full collection no longer stalls every request for
        # tens of milliseconds at a thousand users.
        gc.collect()
        gc.freeze()
        where = urlsplit(service_url)
        server = app.listen(where.port or 80, where.hostname or "127.0.0.1", xheaders=True)
        self.log.info(
            "jupyter-nevis-auth: the service listens at %s%s", service_url.rstrip("/"), prefix
        )
        checking = asyncio.ensure_future(service.check_provider())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        checking.cancel()
        server.stop()
        await service.tokens.drain()
        if isinstance(store, SQLTokenStore):
            await keep_pending(store, service.pending)
            store.close()
        self.log.info("jupyter-nevis-auth: the service stopped")


main = NevisAuthHubApp.launch_instance

if __name__ == "__main__":
    main()
