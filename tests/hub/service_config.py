"""JupyterHub configuration of the service tests: the hub runs jupyter-nevis-auth-service.

The hub, proxy, authenticator and spawner are those of tests/hub/jupyterhub_config.py;
the sign-ins and tokens live in the `nevis-auth` service instead of the user servers.
tests/hub/service_harness.py starts `jupyterhub -f` on this file.
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

here = Path(__file__).resolve().parent
load_subconfig(str(here / "jupyterhub_config.py"))  # noqa: F821

env = os.environ
work = Path(env["HUB_TEST_DIR"])
public_url = env["HUB_TEST_URL"]

c.JupyterHub.services = [
    {
        "name": "nevis-auth",
        "url": env["HUB_TEST_SERVICE_URL"],
        "command": [str(Path(sys.executable).with_name("jupyter-nevis-auth-service"))],
        # The database (nevis_auth_hub.sqlite) is kept in the service's working directory.
        "cwd": str(work),
        "oauth_no_confirm": True,
        # The client secret and the store key reach the service only, never a user server.
        "environment": {
            "NEVIS_AUTH_ISSUER": env["HUB_TEST_ISSUER"],
            "NEVIS_AUTH_CLIENT_ID": env["HUB_TEST_CLIENT_ID"],
            "NEVIS_AUTH_CLIENT_SECRET_FILE": str(work / "client_secret"),
            "NEVIS_AUTH_REDIRECT_URI": public_url + "/services/nevis-auth/callback",
            # A file, as a mounted secret: JupyterHub keeps this environment in its database.
            "NEVIS_AUTH_STORE_KEY_FILE": str(work / "store_key"),
            "NEVIS_AUTH_SCOPES": "openid offline_access profile api",
            "NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS": '{"prompt": "consent"}',
            "NEVIS_AUTH_APIS": env["HUB_TEST_APIS"],
            # A stopped server's token must stop working within the tests' patience.
            "NEVIS_AUTH_HUB_CACHE_SECONDS": "1",
            # What a test module adds (ServiceHub's service_env).
            **json.loads(env.get("HUB_TEST_SERVICE_ENV", "{}")),
        },
    }
]
# Every user may open the service's pages (sign-in, sign-out); the service itself needs
# no permission: JupyterHub tells any holder of a token whose token it is.
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", "access:services!service=nevis-auth"]},
]

# Most tests call the service with each server's own token: those servers need nothing of
# the extension. A server named `hubmode` runs it in hub mode, asking the service.
c.Spawner.environment = {}
c.Spawner.args = ["--allow-root", '--ServerApp.jpserver_extensions={"jupyter_nevis_auth": False}']


def hub_mode(spawner):
    """The `hubmode` server: the extension on, pointed at the service; no client, no secret."""
    if spawner.name == "hubmode":
        spawner.args = ["--allow-root"]
        service = (
            env.get("HUB_TEST_HUB_MODE_SERVICE_URL")
            or env["HUB_TEST_SERVICE_URL"] + "/services/nevis-auth/"
        )
        spawner.environment = {"NEVIS_AUTH_HUB_SERVICE_URL": service}


c.Spawner.pre_spawn_hook = hub_mode
