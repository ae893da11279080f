"""JupyterHub configuration of the sign-in-once tests: users sign in to the hub itself.

The hub and service of tests/hub/service_config.py, but the hub's authenticator is
OAuthenticator's GenericOAuthenticator against the test provider, with the client the
service uses too, keeping the users' tokens in auth_state (JUPYTERHUB_CRYPT_KEY); the
service starts from them (NEVIS_AUTH_HUB_AUTH_STATE) and the hub's refresh_user asks the
service instead of the provider. tests/hub/service_harness.py's OAuthHub starts it.
"""

import os
from pathlib import Path

from jupyter_nevis_auth.hub.refresh_hook import refresh_user_hook

c = get_config()  # noqa: F821

here = Path(__file__).resolve().parent
load_subconfig(str(here / "service_config.py"))  # noqa: F821

env = os.environ
work = Path(env["HUB_TEST_DIR"])
issuer = env["HUB_TEST_ISSUER"]

c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = env["HUB_TEST_CLIENT_ID"]
c.GenericOAuthenticator.client_secret = (work / "client_secret").read_text().strip()
c.GenericOAuthenticator.oauth_callback_url = env["HUB_TEST_URL"] + "/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = issuer + "/auth/oauth2/authorize"
c.GenericOAuthenticator.token_url = issuer + "/auth/oauth2/token"
# The test provider's access tokens are for its APIs, not its userinfo endpoint.
c.GenericOAuthenticator.userdata_from_id_token = True
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.scope = ["openid", "offline_access", "profile", "api"]
c.GenericOAuthenticator.extra_authorize_params = {"prompt": "consent"}
c.GenericOAuthenticator.enable_auth_state = True
c.GenericOAuthenticator.refresh_user_hook = refresh_user_hook
c.Authenticator.allowed_users = {"alice", "bob", "carol"}
# Any browser request to the hub a second after the last one refreshes the user's auth,
# as every spawn does (refresh_pre_spawn, on with auth_state).
c.Authenticator.auth_refresh_age = 1

nevis_auth = c.JupyterHub.services[0]
nevis_auth["environment"]["NEVIS_AUTH_HUB_AUTH_STATE"] = "true"
# The tests play the part of a hub whose authenticator refreshes by itself: they write
# auth_state as OAuthenticator's refresh_user would, with this admin:users token.
c.JupyterHub.services.append({"name": "test-admin", "api_token": env["HUB_TEST_ADMIN_TOKEN"]})
c.JupyterHub.load_roles = [
    *c.JupyterHub.load_roles,
    {
        "name": "nevis-auth-auth-state",
        "scopes": ["admin:auth_state", "read:users:name"],
        "services": ["nevis-auth"],
    },
    {"name": "test-admin", "scopes": ["admin:users"], "services": ["test-admin"]},
]
