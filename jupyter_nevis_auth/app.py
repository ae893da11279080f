"""The Jupyter server extension: wires configuration, token store, service and handlers."""

from __future__ import annotations

import getpass
import os

from jupyter_server.extension.application import ExtensionApp

from .config import NevisAuth
from .handlers import default_handlers
from .service import AuthService


def server_owner() -> str:
    """The person this server belongs to: the JupyterHub user, else the OS user."""
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


class NevisAuthApp(ExtensionApp):
    """Signs the server's user in to an OpenID provider and serves tokens to kernels."""

    name = "jupyter_nevis_auth"
    description = "Jupyter Server with jupyter-nevis-auth; `--help-all` lists every NevisAuth option."
    load_other_extensions = True
    classes = [NevisAuth]

    def initialize_settings(self) -> None:
        """Build the service from the configuration; a bad configuration is logged, not fatal."""
        config = NevisAuth(parent=self)
        for problem in config.problems():
            self.log.error("jupyter-nevis-auth: %s", problem)
        store = config.token_store_class(parent=config)
        service = AuthService(config, store, log=self.log)
        self.settings.update(nevis_auth=service, nevis_auth_owner=server_owner())

    def initialize_handlers(self) -> None:
        """Register nevis/login, nevis/callback and the API handlers."""
        self.handlers.extend(default_handlers)


main = launch_new_instance = NevisAuthApp.launch_instance

if __name__ == "__main__":
    main()
