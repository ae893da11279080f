"""A real JupyterHub for tests, and a person's browser session on it (requests)."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import psutil
import requests
import websocket

from tests.support.process import Process, ProcessError, free_port
from tests.support.provider import HTTP_TIMEOUT

HUB_DIR = Path(__file__).resolve().parent
CONFIG_FILE = HUB_DIR / "jupyterhub_config.py"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
STARTUP_TIMEOUT = 60.0
SPAWN_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
MAX_REDIRECTS = 20


def query(url: str) -> dict[str, str]:
    """The query parameters of `url`."""
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def path(url: str) -> str:
    """The path of `url`."""
    return urlparse(url).path


class HubError(RuntimeError):
    """The hub did not start, or a server of it did not."""


class JupyterHub:
    """`jupyterhub -f tests/hub/jupyterhub_config.py` with its proxy, on free loopback ports."""

    #: The hub's configuration file.
    config_file = CONFIG_FILE

    def __init__(self, work_dir: Path, issuer: str) -> None:
        """Prepare a hub keeping its database, homes and log in `work_dir`; call start()."""
        self.work_dir = work_dir
        self.url = f"http://127.0.0.1:{free_port()}"
        self.password = secrets.token_urlsafe(12)
        self.redirect_uri = self.url + "/hub/user-redirect/nevis/callback"
        self.log_file = work_dir / "jupyterhub.log"
        self._env = {
            "HUB_TEST_DIR": str(work_dir),
            "HUB_TEST_URL": self.url,
            "HUB_TEST_HUB_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_TEST_PROXY_API_URL": f"http://127.0.0.1:{free_port()}",
            "HUB_TEST_PROXY_TOKEN": secrets.token_urlsafe(24),
            "HUB_TEST_PASSWORD": self.password,
            "HUB_TEST_ISSUER": issuer,
        }
        self._process: Process | None = None

    @property
    def redirect_uris(self) -> list[str]:
        """What the hub's client must be registered for at the provider."""
        return [self.redirect_uri]

    def add_config(self, lines: str) -> None:
        """Run `lines` of configuration after the hub's configuration file."""
        extended = self.work_dir / "jupyterhub_extra_config.py"
        extended.write_text(f"load_subconfig({str(self.config_file)!r})\n{lines}", encoding="utf-8")
        self.config_file = extended

    def start(self, client_id: str, client_secret: str) -> None:
        """Start the hub for a client registered for `redirect_uris`; wait until it answers."""
        if not PROXY.exists():
            raise HubError(f"{PROXY} is missing; run `npm ci --prefix {HUB_DIR}`")
        secret_file = self.work_dir / "client_secret"
        # As a Kubernetes Secret would be mounted: a file only its owner reads.
        secret_file.write_text(client_secret + "\n", encoding="utf-8")
        secret_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEVIS_AUTH_", "JUPYTER"))}
        self._process = Process(
            "jupyterhub",
            [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(self.config_file)],
            cwd=self.work_dir,
            env={**env, **self._env, "HUB_TEST_CLIENT_ID": client_id},
            log_file=self.log_file,
            # Most hubs' umask: files are 0644 unless their maker says otherwise.
            umask=0o022,
        )
        self._process.start()
        try:
            self._process.wait_for_url(self.url + "/hub/health", STARTUP_TIMEOUT, status=200)
        except ProcessError as e:
            raise HubError(str(e)) from None

    def stop(self) -> None:
        """Stop the hub, which stops the proxy and the servers; kill what outlives it."""
        process = self._process
        if process is None:
            return
        try:
            descendants = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            descendants = []
        process.stop(STOP_TIMEOUT)
        # The spawner starts servers in sessions of their own: a hung one survives the hub.
        for child in descendants:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(descendants, timeout=STOP_TIMEOUT)
        self._process = None

    def log(self) -> str:
        """Everything the hub, its proxy and the single-user servers printed."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    @contextmanager
    def running(self, client_id: str, client_secret: str) -> Iterator[JupyterHub]:
        """Start the hub; stop it and everything it started on the way out."""
        try:
            self.start(client_id, client_secret)
            yield self
        finally:
            self.stop()

    def browser(self, name: str) -> HubBrowser:
        """A browser of the hub user `name`, not yet signed in."""
        return HubBrowser(self, name)

    def user(self, name: str) -> Iterator[HubBrowser]:
        """For a fixture: the hub user `name` signed in to the hub, their default server running."""
        with self.browser(name) as browser:
            browser.log_in()
            assert browser.start_server() == f"/user/{name}/"
            yield browser


class HubBrowser:
    """One person's browser on the hub: cookies, redirects followed as a browser does."""

    def __init__(self, hub: JupyterHub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.http = requests.Session()
        # The provider's own cookies (its login session) live in this browser too.
        self.provider = requests.Session()
        self._api_token = ""

    def __enter__(self) -> HubBrowser:
        """Use the browser in a with block."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close its connections."""
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self.http.close()
        self.provider.close()

    def get(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        """GET one URL (or hub path) without following redirects."""
        url = urljoin(self.hub.url, path_or_url)
        return self.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs)

    def follow(self, path_or_url: str) -> tuple[requests.Response, list[str]]:
        """GET and follow redirects on the hub; stop at the first that leaves it.

        Returns the last response and every hub URL visited.
        """
        url = urljoin(self.hub.url, path_or_url)
        visited = [url]
        for _ in range(MAX_REDIRECTS):
            response = self.get(url)
            if not response.is_redirect:
                return response, visited
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(self.hub.url + "/"):
                return response, visited
            visited.append(url)
        raise HubError(f"more than {MAX_REDIRECTS} redirects from {path_or_url}")

    def approve(self, form_page: requests.Response) -> tuple[requests.Response, list[str]]:
        """Press "Authorize" on JupyterHub's page asking to open another user's server."""
        fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form_page.text)
        posted = self.http.post(
            form_page.url,
            data=[(name, html.unescape(value)) for name, value in fields],
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert posted.is_redirect, posted.text
        return self.follow(urljoin(form_page.url, posted.headers["Location"]))

    def log_in(self) -> None:
        """Sign in to the hub with DummyAuthenticator's login form."""
        form = self.get("/hub/login")
        assert form.status_code == 200, form.text
        xsrf = self.http.cookies.get("_xsrf", path="/hub/")
        response = self.http.post(
            self.hub.url + "/hub/login",
            data={"username": self.name, "password": self.hub.password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 302, response.text

    def hub_api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the hub's REST API as this browser's JavaScript would (cookie and XSRF)."""
        headers = {"X-XSRFToken": self.http.cookies.get("_xsrf", path="/hub/") or ""}
        url = self.hub.url + "/hub/api/" + path
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self.http.request(method, url, headers=headers, **kwargs)

    def start_server(self, server_name: str = "") -> str:
        """Start one of this user's servers and wait until it is ready; return its URL path."""
        server = f"servers/{server_name}" if server_name else "server"
        # JupyterHub answers a spawn after up to slow_spawn_timeout (10 s): wait longer.
        response = self.hub_api("POST", f"users/{self.name}/{server}", timeout=SPAWN_TIMEOUT)
        assert response.status_code in (201, 202), response.text
        deadline = time.monotonic() + SPAWN_TIMEOUT
        while time.monotonic() < deadline:
            servers = self.hub_api("GET", f"users/{self.name}").json().get("servers", {})
            server = servers.get(server_name)
            if server and server["ready"]:
                return str(server["url"])
            time.sleep(0.5)
        raise HubError(f"{self.name}'s server {server_name!r} did not start:\n{self.hub.log()}")

    def start_sign_in(self, server_url: str, next_url: str) -> str:
        """Open nevis/login (JupyterHub's own OAuth first); return the provider URL it leads to."""
        response, visited = self.follow(f"{server_url}nevis/login?next={next_url}")
        assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
        return urljoin(visited[-1], response.headers["Location"])

    def api_token(self) -> str:
        """A JupyterHub API token of this user, as a client outside the browser would use."""
        if not self._api_token:
            response = self.hub_api("POST", f"users/{self.name}/tokens", json={"note": "hub test"})
            assert response.status_code == 201, response.text
            self._api_token = response.json()["token"]
        return self._api_token

    def run_code(self, server_url: str, code: str, timeout: float = 60.0) -> str:
        """Run `code` in a new kernel of a server over its websocket; return its stdout."""
        headers = {"Authorization": f"token {self.api_token()}"}
        api = self.hub.url + server_url + "api/kernels"
        response = requests.post(api, headers=headers, json={}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 201, response.text
        kernel_id = response.json()["id"]
        try:
            ws_url = api.replace("http://", "ws://", 1) + f"/{kernel_id}/channels"
            return _execute(ws_url, headers, code, timeout)
        finally:
            requests.delete(f"{api}/{kernel_id}", headers=headers, timeout=HTTP_TIMEOUT)


def _execute(ws_url: str, headers: dict[str, str], code: str, timeout: float) -> str:
    """Send one execute_request on a kernel's channels websocket; collect its stdout."""
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "buffers": [],
        "channel": "shell",
        # No stdin, as from nbclient: a cell that needs a sign-in fails instead of waiting.
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }
    ws = websocket.create_connection(
        ws_url, header=[f"{k}: {v}" for k, v in headers.items()], timeout=timeout
    )
    try:
        ws.send(json.dumps(request))
        stdout: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                raise HubError(f"the cell raised {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(stdout)
        raise HubError(f"the cell did not finish within {timeout:.0f} s")
    finally:
        ws.close()
