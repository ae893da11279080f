"""A real JupyterHub running jupyter-nevis-auth-service as its `nevis-auth` service."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import psutil
import requests
from cryptography.fernet import Fernet

from tests.hub.harness import HUB_DIR, HubBrowser, HubError, JupyterHub, free_port
from tests.support.process import ProcessError
from tests.support.provider import HTTP_TIMEOUT, provider_login

SERVICE_CONFIG = HUB_DIR / "service_config.py"
#: The service's prefix on the hub: its pages and API are below it.
SERVICE = "/services/nevis-auth/"


class ServiceHub(JupyterHub):
    """`jupyterhub -f tests/hub/service_config.py`: the hub with the nevis-auth service."""

    config_file = SERVICE_CONFIG

    def __init__(
        self,
        work_dir: Path,
        issuer: str,
        apis: dict[str, Any],
        service_env: dict[str, str] | None = None,
        hub_mode_service_url: str = "",
    ) -> None:
        """Prepare a hub whose service knows `apis`; its one redirect URI is the service's.

        `service_env` adds to the service's environment (NEVIS_AUTH_* settings);
        `hub_mode_service_url`, if given, is what `hubmode` servers ask instead of the service.
        """
        super().__init__(work_dir, issuer)
        self.service_url = f"http://127.0.0.1:{free_port()}"
        self.redirect_uri = self.url + SERVICE + "callback"
        self.store_key = Fernet.generate_key().decode()
        self._earlier_log = ""
        self._env.update(
            HUB_TEST_SERVICE_URL=self.service_url,
            HUB_TEST_APIS=json.dumps(apis),
            HUB_TEST_SERVICE_ENV=json.dumps(service_env or {}),
            HUB_TEST_HUB_MODE_SERVICE_URL=hub_mode_service_url,
        )

    def start(self, client_id: str, client_secret: str) -> None:
        """Start the hub (again), then wait until its service answers too."""
        # Each start writes the log file anew: keep what the earlier runs printed.
        if self.log_file.exists():
            self._earlier_log += super().log()
        # As a Kubernetes Secret would be mounted: a file only its owner reads.
        key_file = self.work_dir / "store_key"
        key_file.write_text(self.store_key + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        super().start(client_id, client_secret)
        assert self._process is not None
        try:
            # Any answer will do: the service listens.
            self._process.wait_for_url(self.service_url + SERVICE, 30, allow_redirects=False)
        except ProcessError:
            raise HubError(f"the nevis-auth service did not start:\n{self.log()}") from None

    def log(self) -> str:
        """Everything the hub, its proxy, the service and the servers printed, every run."""
        return self._earlier_log + super().log()

    def server_token(self, user: str, server: str = "") -> str:
        """The JUPYTERHUB_API_TOKEN the hub gave one running server (read from its process)."""
        if self._process is None:
            raise HubError("the hub is not running")
        # Only this hub's own servers: another hub of the test session may have an alice too.
        for process in psutil.Process(self._process.pid).children(recursive=True):
            try:
                env = process.environ()
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if (
                env.get("JUPYTERHUB_USER") == user
                and env.get("JUPYTERHUB_SERVER_NAME", "") == server
                and env.get("JUPYTERHUB_SERVICE_PREFIX", "").startswith("/user/")
            ):
                return env["JUPYTERHUB_API_TOKEN"]
        raise HubError(f"no running server {user}/{server}")


def service_api(
    hub: ServiceHub, method: str, path: str, token: str | None, **kwargs: Any
) -> requests.Response:
    """Call the service's server API through the hub's proxy, as a user server would."""
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(
        method, hub.url + SERVICE + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs
    )


def stop_server(browser: HubBrowser, server: str) -> None:
    """Stop one of the browser user's named servers and wait until it is gone."""
    response = browser.hub_api("DELETE", f"users/{browser.name}/servers/{server}")
    assert response.status_code in (202, 204), response.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        servers = browser.hub_api("GET", f"users/{browser.name}").json().get("servers", {})
        if server not in servers:
            return
        time.sleep(0.3)
    raise HubError(f"{browser.name}'s server {server!r} did not stop")


OAUTH_CONFIG = HUB_DIR / "oauth_config.py"


class OAuthHub(ServiceHub):
    """`jupyterhub -f tests/hub/oauth_config.py`: users sign in to the hub at the provider."""

    config_file = OAUTH_CONFIG

    def __init__(
        self,
        work_dir: Path,
        issuer: str,
        apis: dict[str, Any],
        service_env: dict[str, str] | None = None,
        hub_mode_service_url: str = "",
    ) -> None:
        """Prepare the hub; its client needs both redirect URIs, the hub's and the service's."""
        super().__init__(work_dir, issuer, apis, service_env, hub_mode_service_url)
        self.login_redirect_uri = self.url + "/hub/oauth_callback"
        self.admin_token = secrets.token_urlsafe(24)
        self._env.update(
            JUPYTERHUB_CRYPT_KEY=secrets.token_hex(32), HUB_TEST_ADMIN_TOKEN=self.admin_token
        )

    @property
    def redirect_uris(self) -> list[str]:
        """The hub's own login's redirect URI, then the service's."""
        return [self.login_redirect_uri, self.redirect_uri]

    def admin_api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the hub's REST API with the test's admin:users token."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(
            method, self.url + "/hub/api/" + path, headers=headers, timeout=HTTP_TIMEOUT, **kwargs
        )

    def auth_state(self, user: str) -> dict[str, Any]:
        """What the hub keeps in `user`'s auth_state."""
        response = self.admin_api("GET", f"users/{user}")
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()["auth_state"]
        return state


def hub_login(hub: OAuthHub, browser: HubBrowser) -> None:
    """Sign in to the hub itself: GenericOAuthenticator's code flow at the provider's form."""
    response, visited = browser.follow("/hub/oauth_login")
    assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
    callback = provider_login(
        response.headers["Location"],
        browser.name,
        redirect_prefix=hub.login_redirect_uri,
        session=browser.provider,
    )
    # Not followed further: the hub would start the default server on its own.
    answer = browser.get(callback)
    assert answer.status_code == 302, answer.text
