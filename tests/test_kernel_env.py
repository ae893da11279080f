"""The environment a server gives its kernels: token endpoint URL, secret, errors, restore."""

from __future__ import annotations

import os
from typing import Any

import pytest
from jupyter_server.serverapp import ServerApp

from jupyter_nevis_auth.protocol import (
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_URL,
)
from jupyter_nevis_auth.server.kernel_env import (
    KernelEnvironment,
    kernel_environment,
    loopback_host,
)


async def test_the_server_exports_the_kernel_environment(jp_serverapp, jp_http_port, jp_base_url):
    assert os.environ[ENV_URL] == f"http://127.0.0.1:{jp_http_port}{jp_base_url}nevis/api/token"
    assert os.environ[ENV_SECRET] == jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    assert len(os.environ[ENV_SECRET]) >= 43
    assert os.environ[ENV_LOGIN_URL] == jp_base_url + "nevis/login"
    assert ENV_ERROR not in os.environ and ENV_CA not in os.environ

    # Started for real, the server knows its port only once it listens: the hook exports again.
    extension = jp_serverapp.extension_manager.extension_apps["jupyter_nevis_auth"]
    (app,) = extension
    jp_serverapp.port = 45678
    await app._start_jupyter_server_extension(jp_serverapp)
    assert os.environ[ENV_URL] == f"http://127.0.0.1:45678{jp_base_url}nevis/api/token"


def server(**traits: Any) -> ServerApp:
    return ServerApp(base_url="/user/ada/", port=8899, **traits)


@pytest.mark.parametrize(
    ("traits", "url"),
    [
        ({}, "http://127.0.0.1:8899/user/ada/nevis/api/token"),
        ({"ip": "0.0.0.0"}, "http://127.0.0.1:8899/user/ada/nevis/api/token"),  # noqa: S104
        ({"ip": "::"}, "http://[::1]:8899/user/ada/nevis/api/token"),
        ({"ip": "10.1.2.3"}, "http://10.1.2.3:8899/user/ada/nevis/api/token"),
        ({"ip": "jupyter-ada"}, "http://jupyter-ada:8899/user/ada/nevis/api/token"),
        ({"certfile": "server.pem"}, "https://127.0.0.1:8899/user/ada/nevis/api/token"),
    ],
)
def test_kernel_environment(traits: dict[str, Any], url: str):
    env = kernel_environment(server(**traits), "s3cret", 42.0)
    assert env[ENV_URL] == url
    assert env[ENV_LOGIN_TIMEOUT] == "42"
    assert env[ENV_SECRET] == "s3cret"
    assert env[ENV_LOGIN_URL] == "/user/ada/nevis/login"
    assert env.get(ENV_CA) == (os.path.abspath("server.pem") if "certfile" in traits else None)
    assert ENV_ERROR not in env


@pytest.mark.parametrize(
    ("traits", "phrase"),
    [
        ({"sock": "/run/jupyter.sock"}, "listens only on the unix socket /run/jupyter.sock"),
        ({"certfile": "s.pem", "client_ca": "ca.pem"}, "requires TLS client certificates"),
    ],
)
def test_kernel_environment_when_kernels_cannot_reach_the_server(
    traits: dict[str, Any], phrase: str
):
    env = kernel_environment(server(**traits), "s3cret", 300.0)
    assert phrase in env[ENV_ERROR]
    assert env[ENV_ERROR].endswith("to use jupyter_nevis_auth in notebooks.")
    assert ENV_URL not in env and ENV_SECRET not in env


@pytest.mark.parametrize(
    ("ip", "host"),
    [("", "127.0.0.1"), ("localhost", "127.0.0.1"), ("::1", "[::1]"), ("fd00::5", "[fd00::5]")],
)
def test_loopback_host(ip: str, host: str):
    assert loopback_host(ip) == host


def test_export_then_restore(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV_URL, "http://elsewhere/nevis/api/token")
    monkeypatch.setenv(ENV_CA, "/old.pem")
    monkeypatch.delenv(ENV_SECRET, raising=False)
    env = KernelEnvironment("s3cret", 300.0)

    assert env.export(server(sock="/run/j.sock")) is not None
    assert ENV_URL not in os.environ and ENV_CA not in os.environ
    assert env.export(server()) is None
    assert os.environ[ENV_SECRET] == "s3cret"

    env.restore()
    assert os.environ[ENV_URL] == "http://elsewhere/nevis/api/token"
    assert os.environ[ENV_CA] == "/old.pem"
    assert ENV_SECRET not in os.environ and ENV_ERROR not in os.environ
