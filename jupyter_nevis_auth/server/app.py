"""The Jupyter server extension: wires configuration, token store, service and handlers."""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp, ExtensionAppJinjaMixin
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.config.manager import ConfigManager
from traitlets import Unicode
from traitlets.config import Config

from ..core.auth import AuthCore
from ..core.config import NevisAuth
from ..core.file_store import EncryptedFileTokenStore
from ..core.refresh import TokenManager
from . import default_handlers
from .hub_client import HubServiceClient
from .hub_mode import hub_handlers
from .kernel_env import KernelEnvironment

#: Options whose env vars are removed once read, so kernels never inherit them.
SECRET_OPTIONS = ("client_secret", "store_key")
TEMPLATES = str(Path(__file__).resolve().parents[1] / "web" / "templates")


class NevisAuthApp(ExtensionAppJinjaMixin, ExtensionApp):
    """Signs the server's user in to an OpenID provider and serves tokens to kernels."""

    name = "jupyter_nevis_auth"
    description = "Jupyter Server with jupyter-nevis-auth; --help-all lists the NevisAuth options."
    subcommand_description = Unicode(
        "Subcommands are launched as `jupyter nevis-auth cmd [args]`. For information on "
        "using subcommand 'cmd', do: `jupyter nevis-auth cmd -h`."
    )
    load_other_extensions = True
    classes = [NevisAuth, TokenManager, EncryptedFileTokenStore]  # noqa: RUF012 (traitlets')
    template_paths = [TEMPLATES]  # noqa: RUF012 (traitlets' own class attribute)
    subcommands = {  # noqa: RUF012 (traitlets' own class attribute)
        "doctor": ("jupyter_nevis_auth.doctor.app.DoctorApp", "Diagnose sign-in setup"),
        "make-key": (
            "jupyter_nevis_auth.core.store_key.MakeKeyApp",
            "Print a new key for NevisAuth.store_key",
        ),
        "make-client-key": (
            "jupyter_nevis_auth.core.client_key_app.MakeClientKeyApp",
            "Make a key pair for private_key_jwt (NevisAuth.client_key_file)",
        ),
    }

    def load_config_file(self, *args: Any, **kwargs: Any) -> None:
        """Also read NevisAuth from jupyter_server_config.d/*.json files, as images ship them."""
        super().load_config_file(*args, **kwargs)
        # Jupyter Server takes only jpserver_extensions from the .d directories.
        files = ConfigManager(read_config_path=self.config_file_paths)
        section = files.get("jupyter_server_config").get("NevisAuth")
        if section:
            config = Config({"NevisAuth": section})
            config.merge(self.config)  # regular config files and the command line win
            self.update_config(config)

    def initialize_settings(self) -> None:
        """Build the service from the configuration; a bad configuration is logged, not fatal."""
        config = NevisAuth(parent=self)
        # The owner and the server are read once: under JupyterHub, from the spawner's env.
        hub_user = os.environ.get("JUPYTERHUB_USER", "")
        self.settings.update(
            nevis_auth_owner=hub_user or getpass.getuser(), nevis_auth_hub_user=hub_user
        )
        if config.hub_mode:
            self._initialize_hub_mode(config)
        else:
            self._initialize_server_mode(config)
        self.kernel_env = KernelEnvironment(secrets.token_urlsafe(32), config.login_timeout)
        self.settings["nevis_auth_kernel_secret"] = self.kernel_env.secret
        self._export_kernel_env()

    def _initialize_server_mode(self, config: NevisAuth) -> None:
        for problem in config.problems():
            self.log.error("jupyter-nevis-auth: %s", problem)
        if not config.validate_cert:
            self.log.warning(
                "jupyter-nevis-auth: NevisAuth.validate_cert is off: the provider's TLS "
                "certificate is not checked; use a CA bundle (ca_bundle) instead outside tests."
            )
        server_name = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
        store_options = (
            {"server_name": server_name}
            if issubclass(config.token_store_class, EncryptedFileTokenStore)
            else {}
        )
        store = config.token_store_class(parent=config, **store_options)
        # Kernels and terminals inherit the server's environment, where `!env` would print it.
        for name in SECRET_OPTIONS:
            os.environ.pop(NevisAuth.env_var(name), None)
        # A named JupyterHub server's states carry its name, for the hub's user_redirect_hook.
        service = AuthCore(config, store, log=self.log, server_name=server_name)
        for problem in service.problems:
            self.log.error("jupyter-nevis-auth: %s", problem)
        self.settings["nevis_auth"] = service

    def _initialize_hub_mode(self, config: NevisAuth) -> None:
        hub = HubServiceClient(config, os.environ.get("JUPYTERHUB_API_TOKEN", ""), self.log)
        for problem in hub.problems():
            self.log.error("jupyter-nevis-auth: %s", problem)
        self.log.info("jupyter-nevis-auth: hub mode, sign-ins and tokens at %s", hub.url)
        self.settings["nevis_auth_hub"] = hub

    def initialize_handlers(self) -> None:
        """Register the sign-in pages, the status API and the kernel endpoints."""
        hub_mode = "nevis_auth_hub" in self.settings
        self.handlers.extend(hub_handlers if hub_mode else default_handlers)

    async def _start_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Export the kernel environment again (the port is final only now); check the provider."""
        self._export_kernel_env()
        service = self.settings.get("nevis_auth")
        if service is not None:
            # In the background: a slow provider must not hold up the server's start.
            self._provider_check = asyncio.ensure_future(service.check_provider())

    async def stop_extension(self) -> None:
        """Keep what refreshes under way bring, then give the process its environment back."""
        service = self.settings.get("nevis_auth")
        if service is not None:
            await service.tokens.drain()
        self.kernel_env.restore()

    def _export_kernel_env(self) -> None:
        assert self.serverapp is not None
        problem = self.kernel_env.export(self.serverapp)
        if problem:
            self.log.warning("jupyter-nevis-auth: %s", problem)


main = launch_new_instance = NevisAuthApp.launch_instance

if __name__ == "__main__":
    main()
