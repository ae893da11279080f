"""A real `jupyter server` process with jupyter-nevis-auth, signed in over HTTP, with kernels."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from jupyter_client.blocking.client import BlockingKernelClient

from tests.support.process import Process
from tests.support.provider import provider_login

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 10.0


class JupyterServerError(RuntimeError):
    """The Jupyter server process did not start or did not do what was asked."""


class JupyterServerProcess:
    """`python -m jupyter_server` on a free loopback port, configured by a config file."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        *,
        base_url: str = "/",
        certfile: Path | None = None,
        keyfile: Path | None = None,
        pythonpath: tuple[str, ...] = (),
    ) -> None:
        """Prepare a server whose files live under `workdir`; `config` is merged into its config."""
        self.workdir = workdir
        self.config = config
        self.base_url = base_url
        self.certfile = certfile
        self.keyfile = keyfile
        self.pythonpath = pythonpath
        self.runtime_dir = workdir / "runtime"
        self.log_file = workdir / "server.log"
        self.token = os.urandom(16).hex()
        self.port = 0
        self.http = requests.Session()
        # Else REQUESTS_CA_BUNDLE would take the place of the server's own certificate.
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"token {self.token}"
        self.http.verify = str(certfile) if certfile else True
        self._process: Process | None = None

    def __enter__(self) -> JupyterServerProcess:
        """Start the server."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server and its kernels."""
        self.stop()

    @property
    def url(self) -> str:
        """The server's base URL, ending in /."""
        scheme = "https" if self.certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.base_url}"

    def start(self) -> None:
        """Start the process and wait until it has written its server info file."""
        config_dir = self.workdir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        server: dict[str, Any] = {
            "ip": "127.0.0.1",
            "port": 0,
            "base_url": self.base_url,
            "open_browser": False,
            "allow_root": True,
            "root_dir": str(self.workdir),
            "jpserver_extensions": {"jupyter_nevis_auth": True},
        }
        if self.certfile:
            server.update(certfile=str(self.certfile), keyfile=str(self.keyfile))
        config = {"IdentityProvider": {"token": self.token}, **self.config}
        config["ServerApp"] = {**server, **config.get("ServerApp", {})}
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")}
        env.update(
            JUPYTER_CONFIG_DIR=str(config_dir),
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
            JUPYTER_DATA_DIR=str(self.workdir / "data"),
            PYTHONPATH=os.pathsep.join([*self.pythonpath, env.get("PYTHONPATH", "")]),
        )
        self._process = Process(
            "the Jupyter server",
            [sys.executable, "-m", "jupyter_server"],
            cwd=self.workdir,
            env=env,
            log_file=self.log_file,
        )
        self._process.start()
        info_file = self.runtime_dir / f"jpserver-{self._process.pid}.json"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.port:
            if not self._process.running or time.monotonic() > deadline:
                self.stop()
                raise JupyterServerError(f"the Jupyter server did not start:\n{self.output}")
            try:
                self.port = json.loads(info_file.read_text())["port"]
            except (OSError, ValueError):
                time.sleep(0.05)  # not written yet, or half written
        # The info file is written before the port is bound: wait for an answer too.
        while True:
            try:
                self.http.get(self.url + "api/status", timeout=HTTP_TIMEOUT).raise_for_status()
                return
            except requests.exceptions.SSLError:
                self.stop()
                raise
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise JupyterServerError(f"the server did not answer:\n{self.output}") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._process is None:
            raise JupyterServerError("the Jupyter server is not running")
        return self._process.pid

    @property
    def output(self) -> str:
        """The server's log so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def sign_in(self, username: str) -> None:
        """The browser's code flow: nevis/login, the provider's form, nevis/callback."""
        with self.http.get(
            self.url + "nevis/login", allow_redirects=False, timeout=HTTP_TIMEOUT
        ) as r:
            if r.status_code != 302:
                raise JupyterServerError(f"nevis/login answered {r.status_code}: {r.text[:300]}")
            authorize = r.headers["Location"]
        callback = provider_login(authorize, username, redirect_prefix=self.url + "nevis/callback")
        with self.http.get(callback, allow_redirects=False, timeout=HTTP_TIMEOUT) as r:
            if r.status_code != 302:
                raise JupyterServerError(f"nevis/callback answered {r.status_code}: {r.text[:300]}")

    @contextmanager
    def kernel(self) -> Iterator[BlockingKernelClient]:
        """A kernel started through the server's REST API, and a client connected to it."""
        with self.http.post(self.url + "api/kernels", json={}, timeout=HTTP_TIMEOUT) as r:
            r.raise_for_status()
            kernel_id = r.json()["id"]
        client = BlockingKernelClient(
            connection_file=str(self.runtime_dir / f"kernel-{kernel_id}.json")
        )
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=STARTUP_TIMEOUT)
            yield client
        finally:
            client.stop_channels()
            self.http.delete(self.url + f"api/kernels/{kernel_id}", timeout=HTTP_TIMEOUT)

    def stop(self) -> None:
        """Shut the server down (its kernels with it) and wait for the process to end."""
        process = self._process
        if process is None:
            return
        asked = False
        if process.running:
            try:
                self.http.post(self.url + "api/shutdown", timeout=HTTP_TIMEOUT)
                asked = True
            except requests.RequestException:
                pass  # then SIGTERM
        process.stop(STOP_TIMEOUT, asked=asked)
        self.http.close()
        self._process = None


def run_cell(client: BlockingKernelClient, code: str, timeout: float = 60.0) -> str:
    """Execute `code` in the kernel; its stdout, or JupyterServerError with the traceback."""
    stdout: list[str] = []
    errors: list[str] = []

    def collect(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            stdout.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    client.execute_interactive(code, timeout=timeout, output_hook=collect, allow_stdin=False)
    if errors:
        raise JupyterServerError("the cell failed:\n" + "\n".join(errors))
    return "".join(stdout)
