"""The kernel helper in real kernels started by the server: tokens, BearerAuth, errors, caching."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nbclient import NotebookClient

from jupyter_nevis_auth import kernel as kernel_api
from jupyter_nevis_auth.errors import (
    KernelSecretRejectedError,
    NevisAuthError,
    NotConfiguredError,
    TokenServiceError,
    TokenServiceTimeoutError,
    TokenServiceUnreachableError,
)
from tests.conftest import Browser
from tests.support.jupyter_process import JupyterServerProcess, run_cell
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer

CELL_TIMEOUT = 60.0

#: Run first in every kernel: the API under test and two small helpers.
PRELUDE = """
import hashlib, json, os, time, requests
import jupyter_nevis_auth as nevis
from jupyter_nevis_auth import (
    BearerAuth, LoginRequiredError, get_access_token, get_id_token, session, whoami,
)

def sha(value):
    return hashlib.sha256(str(value).encode()).hexdigest()

def out(**values):
    print(json.dumps(values))
"""

#: Kernel code: `serve(status, location=None)` starts a loopback server answering every GET
#: with `status` and returns (its URL, the Authorization headers it received).
SERVE = """
import http.server, threading

def serve(status, location=None):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization", "")[:7])
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_port}/", seen
"""


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Execution:
    """What a cell produced."""

    stdout: str
    result: str
    error: str


class Kernel:
    """A kernel started by the server's kernel manager, and a client talking to it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def run(self, code: str, *, allow_stdin: bool = False) -> Execution:
        """Execute a cell as a frontend would (allow_stdin=True) or as nbclient does."""
        stdout, result, error = [], [], []

        def collect(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif msg["msg_type"] == "execute_result":
                result.append(content["data"]["text/plain"])
            elif msg["msg_type"] == "error":
                error.append(f"{content['ename']}: {content['evalue']}")

        await self.client.execute_interactive(
            textwrap.dedent(code),
            allow_stdin=allow_stdin,
            timeout=CELL_TIMEOUT,
            output_hook=collect,
        )
        return Execution("".join(stdout), "".join(result), "".join(error))

    async def values(self, code: str, *, allow_stdin: bool = False) -> dict[str, Any]:
        """Run a cell that ends with `out(...)`; what it printed."""
        execution = await self.run(code, allow_stdin=allow_stdin)
        assert not execution.error, execution.error
        return json.loads(execution.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def kernel(jp_serverapp: Any, http_server: Any, jp_asyncio_loop: Any) -> Iterator[Kernel]:
    """A fresh kernel of the listening test server, with PRELUDE run; shut down afterwards."""
    manager = jp_serverapp.kernel_manager
    kernel_id = jp_asyncio_loop.run_until_complete(manager.start_kernel())
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        jp_asyncio_loop.run_until_complete(client.wait_for_ready(timeout=CELL_TIMEOUT))
        kernel = Kernel(client)
        prelude = jp_asyncio_loop.run_until_complete(kernel.run(PRELUDE + SERVE))
        assert not prelude.error, prelude.error
        yield kernel
    finally:
        client.stop_channels()
        jp_asyncio_loop.run_until_complete(manager.shutdown_kernel(kernel_id))


def service_of(jp_serverapp: Any) -> tuple[Any, str]:
    settings = jp_serverapp.web_app.settings
    return settings["nevis_auth"], settings["nevis_auth_owner"]


async def stored(jp_serverapp: Any) -> Any:
    service, owner = service_of(jp_serverapp)
    return await service.tokens.store.get(owner)


async def revoke_access_token(jp_serverapp: Any) -> None:
    """Leave the server holding an access token the API refuses (revoked, say)."""
    service, owner = service_of(jp_serverapp)
    tokens = await service.tokens.store.get(owner)
    await service.tokens.store.set(owner, dataclasses.replace(tokens, access_token="revoked"))


def count_token_requests(jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the min_ttl of every token request the server handles."""
    manager = service_of(jp_serverapp)[0].tokens
    seen: list[float] = []
    current = manager.current

    async def counting(user: str, min_ttl: float | None = None, **kwargs: Any) -> Any:
        seen.append(min_ttl)
        return await current(user, min_ttl, **kwargs)

    monkeypatch.setattr(manager, "current", counting)
    return seen


async def test_a_kernel_gets_the_users_tokens_and_calls_the_api(
    kernel: Kernel,
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    resource_server: ResourceServer,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    resource_server.reset()
    hello = resource_server.hello_url

    values = await kernel.values(f"""
        import httpx
        token = get_access_token()
        with_auth = requests.get({hello!r}, auth=BearerAuth(), timeout=10)
        with_session = session().get({hello!r}, timeout=10)
        without = requests.get({hello!r}, timeout=10)
        with_httpx = httpx.get({hello!r}, auth=nevis.HTTPXBearerAuth())
        async with httpx.AsyncClient(auth=nevis.HTTPXBearerAuth()) as client:
            with_async_httpx = await client.get({hello!r})
        responses = [with_auth, with_session, without, with_httpx, with_async_httpx]
        out(
            token=sha(token), id_token=sha(get_id_token()), who=whoami(),
            codes=[r.status_code for r in responses], sub=with_auth.json()["sub"],
        )
    """)

    assert values["token"] == sha(tokens.access_token)
    assert values["id_token"] == sha(tokens.id_token)
    assert values["who"]["sub"] == username
    assert "nonce" not in values["who"]
    assert values["codes"] == [200, 200, 401, 200, 200]
    assert values["sub"] == username
    assert resource_server.stats() == {"requests": 5, "unauthorized": 1}


async def test_cached_tokens_need_no_round_trip_but_honour_min_ttl(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_serverapp, monkeypatch
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    requests_seen = count_token_requests(jp_serverapp, monkeypatch)

    values = await kernel.values("""
        first = get_access_token()
        started = time.perf_counter()
        same = all(get_access_token() is first for _ in range(10_000))
        out(same=same, seconds=time.perf_counter() - started, left=first.expires_at - time.time())
    """)
    assert values["same"] is True
    assert requests_seen == [60]
    assert values["seconds"] < 1.0

    # A token with less than min_ttl left is never served from the cache.
    left = values["left"]
    await kernel.values(f"out(t=sha(get_access_token(min_ttl={left - 30:.0f})))")
    assert len(requests_seen) == 1
    await kernel.values(f"out(t=sha(get_access_token(min_ttl={left + 30:.0f})))")
    assert requests_seen[1:] == [round(left + 30)]


async def test_bearer_auth_refreshes_and_retries_once_after_a_401(
    kernel: Kernel,
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    resource_server: ResourceServer,
    oidc_provider: OIDCTestProvider,
    oidc_client,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await revoke_access_token(jp_serverapp)
    resource_server.reset()

    values = await kernel.values(f"""
        response = requests.get({resource_server.hello_url!r}, auth=BearerAuth(), timeout=10)
        out(code=response.status_code, history=[r.status_code for r in response.history],
            sub=response.json().get("sub"), token=sha(get_access_token()))
    """)

    assert values["code"] == 200
    assert values["history"] == [401]
    assert values["sub"] == username
    assert resource_server.stats() == {"requests": 2, "unauthorized": 1}
    assert oidc_provider.token_calls(oidc_client.client_id, "refresh_token") == 1
    assert values["token"] == sha((await stored(jp_serverapp)).access_token)

    values = await kernel.values("""
        url, seen = serve(401)
        refused = requests.get(url, auth=BearerAuth(), timeout=10)
        # A redirect to another host: requests drops the token, and no retry may add it back.
        elsewhere, seen_elsewhere = serve(401)
        redirecting, _ = serve(302, location=elsewhere)
        redirected = requests.get(redirecting, auth=BearerAuth(), timeout=10)
        out(code=refused.status_code, seen=seen, redirected=redirected.status_code,
            seen_elsewhere=seen_elsewhere)
    """)
    assert values["code"] == 401
    assert values["seen"] == ["Bearer ", "Bearer "]
    assert values["redirected"] == 401
    assert values["seen_elsewhere"] == [""]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_httpx_auth_refreshes_and_retries_once_after_a_401(
    flavour: str,
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    resource_server: ResourceServer,
):
    # Run in this process (a plain Python program pointed at the server by its environment).
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await revoke_access_token(jp_serverapp)
    resource_server.reset()
    auth = kernel_api.HTTPXBearerAuth()

    if flavour == "sync":
        response = await asyncio.to_thread(httpx.get, resource_server.hello_url, auth=auth)
    else:
        async with httpx.AsyncClient(auth=auth) as client:
            response = await client.get(resource_server.hello_url)

    assert response.status_code == 200
    assert response.json()["sub"] == username
    assert resource_server.stats() == {"requests": 2, "unauthorized": 1}


async def test_signed_out_raises_at_once_with_the_login_url(
    kernel: Kernel, jp_base_url, resource_server: ResourceServer
):
    values = await kernel.values(f"""
        started = time.monotonic()
        try:
            get_access_token()
        except LoginRequiredError as e:
            error = [type(e).__name__, str(e), e.login_url]
        seconds = time.monotonic() - started
        try:
            requests.get({resource_server.hello_url!r}, auth=BearerAuth(), timeout=10)
        except LoginRequiredError as e:
            via_auth = type(e).__name__
        out(error=error, seconds=seconds, via_auth=via_auth,
            interactive=nevis.has_interactive_frontend())
    """)

    login_url = jp_base_url + "nevis/login"
    assert values["error"] == [
        "LoginRequiredError",
        f"You are not signed in; sign in first. Sign in at {login_url}, then run this again.",
        login_url,
    ]
    assert values["seconds"] < 1.0
    assert values["via_auth"] == "LoginRequiredError"
    assert values["interactive"] is False


async def test_an_interactive_frontend_gets_to_wait_for_the_login(kernel: Kernel):
    cell = """
        import jupyter_nevis_auth.kernel.frontend as frontend
        waits = []
        frontend.wait_for_login = lambda error, timeout: waits.append(timeout)
        try:
            get_access_token()
        except LoginRequiredError:
            pass
        out(waits=waits, interactive=nevis.has_interactive_frontend())
    """
    # nbclient and papermill execute with allow_stdin=False; JupyterLab with True.
    assert await kernel.values(cell) == {"waits": [], "interactive": False}
    assert await kernel.values(cell, allow_stdin=True) == {"waits": [300.0], "interactive": True}
    await kernel.run("os.environ['NEVIS_AUTH_LOGIN_TIMEOUT'] = '42'")
    assert (await kernel.values(cell, allow_stdin=True))["waits"] == [42.0]


async def test_a_kernel_started_before_the_sign_in_works_after_it(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    before = await kernel.run("get_access_token()")
    assert before.error.startswith("LoginRequiredError: You are not signed in")

    await browser.sign_in(username, redirect_uri=redirect_uri)

    after = await kernel.values("out(token=sha(get_access_token()))")
    assert after["token"] == sha((await stored(jp_serverapp)).access_token)


async def test_tokens_show_redacted(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)

    shown = await kernel.run("token = get_access_token()\ntoken")
    listed = await kernel.run("[token, get_id_token()]")
    values = await kernel.values(
        "out(str=sha(str(token)), f=sha(f'{token}'), repr=repr(token), id=repr(get_id_token()))"
    )

    assert shown.result.startswith("<access token, expires in ")
    assert shown.result.endswith(" s>")
    assert tokens.access_token not in shown.result
    assert tokens.access_token not in listed.result and tokens.id_token not in listed.result
    assert values["str"] == values["f"] == sha(tokens.access_token)
    assert values["repr"].startswith("<access token, expires in ")
    assert values["id"].startswith("<ID token, expires in ")


async def test_without_a_frontend_a_saved_notebook_holds_no_token_and_errors_at_once(
    browser: Browser, redirect_uri, username, jp_serverapp, tmp_path
):
    # nbclient (as papermill) starts its own kernel, which inherits the server's environment.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    cells = [
        "from jupyter_nevis_auth import get_access_token\nget_access_token()",
        # The widget's sign-out control does this.
        "import os, requests\n"
        "secret = {'X-Nevis-Kernel-Secret': os.environ['NEVIS_AUTH_KERNEL_SECRET']}\n"
        "requests.delete(os.environ['NEVIS_AUTH_KERNEL_URL'], headers=secret).status_code",
        "import time\nstarted = time.monotonic()\n"
        "try:\n    get_access_token(min_ttl=10**7)\n"
        "finally:\n    print(time.monotonic() - started)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        allow_errors=True,
        resources={"metadata": {"path": tmp_path}},
    )

    await client.async_execute()

    saved = nbformat.writes(notebook)
    assert tokens.access_token not in saved and tokens.id_token not in saved
    first, second, third = (cell.outputs for cell in notebook.cells)
    assert first[0]["data"]["text/plain"].startswith("<access token, expires in ")
    assert second[0]["data"]["text/plain"] == "200"
    assert float(third[0]["text"]) < 1.0
    assert (third[1]["ename"], third[1]["evalue"]) == (
        "LoginRequiredError",
        f"You signed out. Sign in at {jp_serverapp.base_url}nevis/login, then run this again.",
    )


async def test_after_a_sign_out_a_kernel_uses_its_cached_token_for_5_seconds_at_most(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await kernel.values("out(token=sha(get_access_token()))")
    service, owner = service_of(jp_serverapp)

    signed_out_at = time.time()
    await service.logout(owner)
    values = await kernel.values(
        """
        last_used = raised_at = None
        while time.time() < %r:
            try:
                get_access_token()
                last_used = time.time()
            except LoginRequiredError:
                raised_at = time.time()
                break
            time.sleep(0.01)
        out(last_used=last_used, raised_at=raised_at)
    """
        % (signed_out_at + 10)
    )

    assert values["raised_at"] is not None
    assert values["last_used"] - signed_out_at <= 5.0
    assert values["raised_at"] - signed_out_at <= 5.5


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python process with only `env` of the NEVIS_AUTH_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_outside_a_server_the_import_is_light_and_the_error_says_what_to_do():
    code = """
        import json, sys
        import jupyter_nevis_auth
        from jupyter_nevis_auth import BearerAuth, NotConfiguredError, get_access_token, whoami
        heavy = sorted({m.split(".")[0] for m in sys.modules} & {"jupyter_server", "tornado"})
        try:
            get_access_token()
        except NotConfiguredError as e:
            print(json.dumps({"heavy": heavy, "message": str(e)}))
    """
    plain = python(code, {})
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == {"heavy": [], "message": kernel_api.NOT_IN_SERVER}
    assert "set NEVIS_AUTH_KERNEL_URL and NEVIS_AUTH_KERNEL_SECRET" in kernel_api.NOT_IN_SERVER

    why = "This Jupyter server listens only on the unix socket /run/j.sock, which..."
    socket_only = python(code, {"NEVIS_AUTH_KERNEL_ERROR": why})
    assert json.loads(socket_only.stdout)["message"] == why


async def test_the_environment_can_point_a_script_at_a_server(
    browser: Browser, redirect_uri, username, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    env = {k: v for k, v in os.environ.items() if k.startswith("NEVIS_AUTH_KERNEL_")}
    script = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import hashlib, jupyter_nevis_auth as n;"
        "print(hashlib.sha256(str(n.get_access_token()).encode()).hexdigest())",
        env={k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")} | env,
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(script.communicate(), 60)
    assert stdout.decode().strip() == sha((await stored(jp_serverapp)).access_token)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("change", "error", "phrase"),
    [
        ({"URL": "http://127.0.0.1:{closed}/nevis/api/token"}, TokenServiceUnreachableError,
         "The Jupyter server at http://127.0.0.1:{closed} cannot be reached"),
        ({"SECRET": "guessed"}, KernelSecretRejectedError, "refused this kernel's secret"),
        ({"URL": "http://127.0.0.1:{silent}/t", "TIMEOUT": "0.5"}, TokenServiceTimeoutError,
         "did not answer within 0.5 s; try again, or set NEVIS_AUTH_KERNEL_TIMEOUT"),
        ({"URL": "{url}/wrong"}, TokenServiceError, "has no token endpoint at"),
        ({"TIMEOUT": "soon"}, NotConfiguredError, "NEVIS_AUTH_KERNEL_TIMEOUT must be a positive"),
        ({"CA": "/nonexistent.pem"}, NotConfiguredError, "cannot be read"),
    ],
)  # fmt: skip
async def test_failures_are_clear_and_quick(
    change: dict[str, str],
    error: type[NevisAuthError],
    phrase: str,
    jp_serverapp,
    http_server,
    closed_port,
    silent_port,
    monkeypatch,
):
    # This process plays the kernel: the server's environment is already in os.environ.
    fill = {
        "closed": closed_port,
        "silent": silent_port,
        "url": os.environ["NEVIS_AUTH_KERNEL_URL"],
    }
    for name, value in change.items():
        monkeypatch.setenv(f"NEVIS_AUTH_KERNEL_{name}", value.format(**fill))

    started = time.monotonic()
    with pytest.raises(error) as raised:
        await asyncio.to_thread(kernel_api.get_access_token)

    assert time.monotonic() - started < 2.0
    assert phrase.format(**fill) in str(raised.value)
    assert str(raised.value).endswith(".")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 with the extensions `openssl req -x509` adds."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "server.pem", directory / "server.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_a_real_server_with_tls_a_random_port_and_a_base_url(
    tmp_path: Path, oidc_provider: OIDCTestProvider, resource_server: ResourceServer, username
):
    certfile, keyfile = self_signed(tmp_path)
    client = oidc_provider.add_client(["https://127.0.0.1/placeholder"])
    nevis = client.nevis_settings(oidc_provider.issuer)
    server = JupyterServerProcess(
        tmp_path, {"NevisAuth": nevis}, base_url="/user/ada/", certfile=certfile, keyfile=keyfile
    )
    with server:
        oidc_provider.add_client(
            [server.url + "nevis/callback"],
            client_id=client.client_id,
            client_secret=client.client_secret,
        )
        with server.kernel() as kernel:
            signed_out = run_cell(
                kernel,
                PRELUDE
                + textwrap.dedent("""
                try:
                    get_access_token()
                except LoginRequiredError as e:
                    print(e.login_url)
            """),
            )
            server.sign_in(username)
            values = json.loads(
                run_cell(
                    kernel,
                    textwrap.dedent(f"""
                import warnings
                warnings.simplefilter("error")
                hello = {resource_server.hello_url!r}
                response = requests.get(hello, auth=BearerAuth(), timeout=10)
                out(url=os.environ["NEVIS_AUTH_KERNEL_URL"], ca=os.environ["NEVIS_AUTH_KERNEL_CA"],
                    code=response.status_code, sub=response.json()["sub"])
            """),
                )
            )

    assert signed_out.strip() == "/user/ada/nevis/login"
    assert server.port != 8888
    assert values == {
        "url": f"https://127.0.0.1:{server.port}/user/ada/nevis/api/token",
        "ca": str(certfile),
        "code": 200,
        "sub": username,
    }


async def test_a_unix_socket_server_tells_its_kernels_why_they_get_no_token(
    jp_configurable_serverapp, jp_asyncio_loop, tmp_path
):
    sock = str(tmp_path / "jupyter.sock")
    # The socket is never bound: the kernel environment is computed before that.
    app = jp_configurable_serverapp(sock=sock, http_port=8888)
    manager = app.kernel_manager
    kernel_id = await manager.start_kernel()
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=CELL_TIMEOUT)
        execution = await Kernel(client).run(
            "from jupyter_nevis_auth import get_access_token\nget_access_token()"
        )
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(kernel_id)

    assert execution.error == (
        f"NotConfiguredError: This Jupyter server listens only on the unix socket {sock}, "
        "which kernels cannot ask for tokens; start it on a TCP port (--port) to use "
        "jupyter_nevis_auth in notebooks."
    )


class TestSecretsStayOutOfKernels:
    @pytest.fixture
    def nevis_config(self, nevis_config, monkeypatch):
        monkeypatch.setenv("NEVIS_AUTH_CLIENT_SECRET", nevis_config.pop("client_secret"))
        return nevis_config

    async def test_the_client_secret_env_var_is_not_inherited(
        self, kernel: Kernel, browser: Browser, redirect_uri, username, oidc_client
    ):
        # The secret from the environment still works for the server...
        assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
        # ...but a kernel's `!env` cannot show it.
        env = await kernel.run("import os; print(sorted(os.environ.items()))")
        assert oidc_client.client_secret not in env.stdout
        assert "NEVIS_AUTH_KERNEL_URL" in env.stdout
