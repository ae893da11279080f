"""`make demo-fapi2`: the demo under the FAPI 2.0 profile, started as a person starts it, signs
in with a pushed request and a client key, and its kernels get DPoP-bound tokens."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
from jupyter_client.blocking.client import BlockingKernelClient

from tests.support.jupyter_process import run_cell
from tests.support.process import Process, free_port
from tests.support.provider import provider_login

ROOT = Path(__file__).resolve().parent.parent
OPEN = re.compile(r"Open JupyterLab:\s+(http://127\.0\.0\.1:\d+/)\S*\?token=(\w+)")


def test_the_fapi2_demo_signs_in_with_a_pushed_request_and_a_bound_token(tmp_path: Path):
    port, provider_port = free_port(), free_port()
    env = {
        **os.environ,
        "DEMO_PORT": str(port),
        "DEMO_PROVIDER_PORT": str(provider_port),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    demo = Process(
        "demo",
        [sys.executable, str(ROOT / "demo" / "run_demo.py"), "--fapi2"],
        cwd=tmp_path,
        env=env,
        log_file=tmp_path / "demo.log",
    )
    demo.start()
    try:
        demo.wait_until(lambda: OPEN.search(demo.output) is not None, 60, "print its URL")
        match = OPEN.search(demo.output)
        assert match is not None
        base, token = match.groups()
        assert "FAPI 2.0: pushed requests, private_key_jwt, DPoP-bound tokens" in demo.output
        demo.wait_for_url(base + "api/status?token=" + token, 60, status=200)

        with requests.Session() as browser:
            login = browser.get(
                base + "nevis/login", params={"token": token}, allow_redirects=False, timeout=30
            )
            assert login.status_code == 302, login.text
            authorize = login.headers["Location"]
            assert set(parse_qs(urlparse(authorize).query)) == {"client_id", "request_uri"}
            callback = provider_login(authorize, "alice", redirect_prefix=base + "nevis/callback")
            assert browser.get(callback, allow_redirects=False, timeout=30).status_code == 302
            status = browser.get(base + "nevis/api/status", timeout=30).json()
            # A kernel of the demo's server: its token is bound, and the demo's API takes it.
            output = in_a_kernel(browser, base, token, Path(env["JUPYTER_RUNTIME_DIR"]), KERNEL)
        assert status["logged_in"] is True and status["claims"]["sub"] == "alice"
        assert json.loads(output.splitlines()[-1]) == {"code": 200, "scheme": "DPoP"}
    finally:
        demo.stop()
    assert "Traceback" not in demo.output
    # Stopped as a person stops it, the demo leaves nothing running behind it.
    for left in (port, provider_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", left)) != 0, f"port {left} still answers"


def in_a_kernel(http: requests.Session, base: str, token: str, runtime: Path, code: str) -> str:
    """What `code` prints in a new kernel of the server at `base`."""
    auth = {"Authorization": f"token {token}"}
    started = http.post(base + "api/kernels", json={}, headers=auth, timeout=30)
    started.raise_for_status()
    kernel_id = started.json()["id"]
    client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        return run_cell(client, code)
    finally:
        client.stop_channels()
        http.delete(base + f"api/kernels/{kernel_id}", headers=auth, timeout=30)


KERNEL = """
import json, os
from jupyter_nevis_auth import session
response = session().get(os.environ["DEMO_API_URL"], timeout=10)
print(json.dumps({"code": response.status_code,
                  "scheme": response.request.headers["Authorization"].split()[0]}))
"""
