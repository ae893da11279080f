"""The client of the kernel endpoints: its cache, the environment, and clear, quick errors."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from jupyter_nevis_auth import kernel as kernel_api
from jupyter_nevis_auth.errors import (
    KernelSecretRejectedError,
    LoginRequiredError,
    NevisAuthError,
    NotConfiguredError,
    TokenServiceError,
    TokenServiceTimeoutError,
    TokenServiceUnreachableError,
)
from jupyter_nevis_auth.kernel import client
from jupyter_nevis_auth.protocol import LOGIN_REQUIRED, PROVIDER_ERROR, PROVIDER_TIMEOUT
from tests.conftest import Browser
from tests.kernel.conftest import (
    CELL_TIMEOUT,
    CannedServer,
    Kernel,
    count_token_requests,
    python,
    service_of,
    sha,
    stored,
)


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
        (
            {"URL": "http://127.0.0.1:{closed}/nevis/api/token"},
            TokenServiceUnreachableError,
            "The Jupyter server at http://127.0.0.1:{closed} cannot be reached",
        ),
        ({"SECRET": "guessed"}, KernelSecretRejectedError, "refused this kernel's secret"),
        (
            {"URL": "http://127.0.0.1:{silent}/t", "TIMEOUT": "0.5"},
            TokenServiceTimeoutError,
            "did not answer within 0.5 s; try again, or set NEVIS_AUTH_KERNEL_TIMEOUT",
        ),
        ({"URL": "{url}/wrong"}, TokenServiceError, "has no token endpoint at"),
        ({"TIMEOUT": "soon"}, NotConfiguredError, "NEVIS_AUTH_KERNEL_TIMEOUT must be a positive"),
        ({"CA": "/nonexistent.pem"}, NotConfiguredError, "cannot be read"),
    ],
)
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


#: Each endpoint of the server, called as the kernel API and the widget call it.
ENDPOINTS = {
    "token": lambda token_client: token_client.cached_or_fetched(60.0),
    "status": lambda token_client: token_client.status(),
    "sign-out": lambda token_client: token_client.sign_out(),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (
            401,
            {"error": LOGIN_REQUIRED, "message": "You signed out.", "login_url": "/nevis/login"},
            LoginRequiredError,
            "You signed out. Sign in at /nevis/login, then run this again.",
        ),
        (
            403,
            {"message": "This endpoint is only for kernels of this server."},
            KernelSecretRejectedError,
            "The Jupyter server refused this kernel's secret (the "
            "server was probably restarted after the kernel started); restart the kernel, or the "
            "server if jupyter-nevis-auth was upgraded after the server started.",
        ),
        (
            404,
            b"<html>Not found</html>",
            TokenServiceError,
            "The Jupyter server has no token endpoint at {url}; check that the jupyter_nevis_auth "
            "server extension is enabled, then restart the kernel.",
        ),
        (
            502,
            {"error": PROVIDER_ERROR, "message": "The provider answered 500."},
            TokenServiceError,
            "The provider answered 500.",
        ),
        (
            504,
            {"error": PROVIDER_TIMEOUT, "message": "The provider did not answer in 5 s."},
            TokenServiceTimeoutError,
            "The provider did not answer in 5 s.",
        ),
        (
            500,
            b"<html>Internal error</html>",
            TokenServiceError,
            "The Jupyter server answered a token request with 500 and no JSON; check that the "
            "jupyter_nevis_auth server extension is enabled.",
        ),
    ],
)
def test_every_endpoint_maps_a_refusal_to_the_same_error(
    endpoint: str,
    status: int,
    body: dict[str, str] | bytes,
    error: type[NevisAuthError],
    message: str,
    canned_server: CannedServer,
):
    canned_server.answer(status, body)
    token_client = client.TokenClient(canned_server.url, "canned-secret", timeout=5.0)
    try:
        with pytest.raises(error) as raised:
            ENDPOINTS[endpoint](token_client)
    finally:
        token_client.close()

    assert str(raised.value) == message.format(url=canned_server.url)


def test_the_endpoints_get_the_secret_and_the_contracts_paths(canned_server: CannedServer):
    canned_server.answer(200, {"access_token": "at", "expires_in": 600, "claims": {"sub": "s"}})
    answer = client.default_client().cached_or_fetched(60.0)
    client.token_status()
    client.sign_out()
    client.default_client().cached_or_fetched(60.0, rejected=answer.access_token)

    path = "/nevis/api/token"
    assert canned_server.seen == [
        ("GET", f"{path}?min_ttl=60", "canned-secret"),
        ("GET", f"{path}/status", "canned-secret"),
        ("DELETE", path, "canned-secret"),
        ("GET", f"{path}?min_ttl=60&force_refresh=1", "canned-secret"),
    ]
