"""JupyterHub configuration of the hub tests: the deployment docs/jupyterhub.md describes.

tests/hub/harness.py starts `jupyterhub -f` on this file with HUB_TEST_* variables
naming the ports, directories and the provider client of one test run.
"""

import os
import sys
from pathlib import Path

from jupyter_nevis_auth.hub.redirect_hook import user_redirect_hook

c = get_config()  # noqa: F821

env = os.environ
here = Path(__file__).resolve().parent
work = Path(env["HUB_TEST_DIR"])
public_url = env["HUB_TEST_URL"]

c.JupyterHub.bind_url = public_url + "/"
c.JupyterHub.hub_bind_url = env["HUB_TEST_HUB_URL"]
c.JupyterHub.db_url = f"sqlite:///{work / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(work / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(work / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

c.ConfigurableHTTPProxy.command = [str(here / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = env["HUB_TEST_PROXY_API_URL"]
c.ConfigurableHTTPProxy.auth_token = env["HUB_TEST_PROXY_TOKEN"]
c.ConfigurableHTTPProxy.pid_file = str(work / "proxy.pid")

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = env["HUB_TEST_PASSWORD"]
c.Authenticator.allowed_users = {"alice", "bob"}
c.Authenticator.admin_users = {"admin"}

c.JupyterHub.spawner_class = "simple"
c.JupyterHub.allow_named_servers = True
c.SimpleLocalProcessSpawner.home_dir_template = str(work / "home" / "{username}")
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
# The tests run as root; SimpleLocalProcessSpawner runs every server as that same user.
c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# The one configuration of every user's server: the deployment's values from the hub,
# NEVIS_AUTH_REDIRECT_URI being the single callback registered at the provider ...
c.Spawner.environment = {
    "NEVIS_AUTH_ISSUER": env["HUB_TEST_ISSUER"],
    "NEVIS_AUTH_CLIENT_ID": env["HUB_TEST_CLIENT_ID"],
    "NEVIS_AUTH_CLIENT_SECRET_FILE": str(work / "client_secret"),
    "NEVIS_AUTH_REDIRECT_URI": public_url + "/hub/user-redirect/nevis/callback",
    # ... and the rest from a jupyter_server_config.d file, as baked into a user image.
    "JUPYTER_CONFIG_PATH": str(here / "etc"),
}

# Named servers: their callbacks arrive at /hub/user-redirect/ too.
c.JupyterHub.user_redirect_hook = user_redirect_hook
