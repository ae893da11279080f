"""The encrypted token file: survives a real server restart, never holds plaintext, fails safe."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.file_store import EncryptedFileTokenStore
from jupyter_nevis_auth.core.tokens import TokenSet
from tests.conftest import Browser
from tests.support.process import Process, free_port

ROOT = Path(__file__).resolve().parent.parent
STORE_CLASS = "jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore"
KEY = Fernet.generate_key().decode()
STARTUP_TIMEOUT = 60.0


def token_set(marker: str = "a") -> TokenSet:
    return TokenSet(
        access_token=f"access-{marker}-" + "x" * 20,
        expires_at=time.time() + 300,
        refresh_token=f"refresh-{marker}-" + "y" * 20,
        id_token=f"id-{marker}-" + "z" * 20,
        scope=("openid", "api"),
        claims={"sub": "alice", "iss": "https://issuer.example"},
        obtained_at=time.time(),
    )


def secrets_of(tokens: TokenSet | dict[str, Any]) -> list[bytes]:
    data = tokens.to_dict() if isinstance(tokens, TokenSet) else tokens
    return [data[k].encode() for k in ("access_token", "refresh_token", "id_token")]


def store(path: Path, key: str = KEY) -> EncryptedFileTokenStore:
    return EncryptedFileTokenStore(parent=NevisAuth(store_key=key, store_path=str(path)))


def decrypt(path: Path, key: str = KEY) -> dict[str, Any]:
    return json.loads(Fernet(key.encode()).decrypt(path.read_bytes()))  # type: ignore[no-any-return]


# -- the store itself --------------------------------------------------------------------


async def test_round_trip_is_encrypted_private_and_atomic(tmp_path):
    path = tmp_path / "state" / "tokens.fernet"
    tokens = token_set()
    await store(path).set("alice", tokens)
    first_inode = path.stat().st_ino
    await store(path).set("bob", token_set("b"))  # a second writer of the same file

    # Replaced by a rename, never rewritten in place: a crash cannot leave half a file.
    assert path.stat().st_ino != first_inode

    raw = path.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not any(secret in raw for secret in secrets_of(tokens))
    assert b"alice" not in raw
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.fernet"]
    assert await store(path).get("alice") == tokens
    assert decrypt(path)["users"]["alice"]["refresh_token"] == tokens.refresh_token


async def test_readers_during_the_first_load_wait_for_it(tmp_path):
    path = tmp_path / "tokens.fernet"
    tokens = token_set()
    await store(path).set("alice", tokens)
    restarted = store(path)
    assert await asyncio.gather(restarted.get("alice"), restarted.get("alice")) == [tokens] * 2


async def test_delete_is_written_through(tmp_path):
    path = tmp_path / "tokens.fernet"
    first = store(path)
    await first.set("alice", token_set())
    await first.delete("alice")
    assert decrypt(path)["users"] == {}
    assert await store(path).get("alice") is None


async def test_a_new_key_listed_first_takes_over_from_the_old_one(tmp_path):
    path = tmp_path / "tokens.fernet"
    old, new = KEY, Fernet.generate_key().decode()
    tokens = token_set()
    await store(path, old).set("alice", tokens)

    rotating = store(path, f"{new}, {old}")
    assert await rotating.get("alice") == tokens
    await rotating.set("bob", token_set("b"))

    assert set(decrypt(path, new)["users"]) == {"alice", "bob"}


@pytest.mark.parametrize("key", ["", "not-a-fernet-key"])
async def test_without_a_usable_key_tokens_stay_in_memory(tmp_path, caplog, key):
    path = tmp_path / "tokens.fernet"
    memory_only = store(path, key)
    tokens = token_set()
    await memory_only.set("alice", tokens)

    assert await memory_only.get("alice") == tokens
    assert not path.exists()
    assert "memory only" in caplog.text
    assert "`jupyter nevis-auth make-key` makes one" in caplog.text


async def test_the_key_can_come_from_a_file(tmp_path, monkeypatch):
    key_file = tmp_path / "store-key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY_FILE", str(key_file))
    path = tmp_path / "tokens.fernet"
    tokens = token_set()
    await EncryptedFileTokenStore(parent=NevisAuth(store_path=str(path))).set("alice", tokens)
    assert decrypt(path)["users"]["alice"]["refresh_token"] == tokens.refresh_token


async def test_a_key_file_anybody_may_read_keeps_tokens_in_memory(tmp_path, caplog):
    key_file = tmp_path / "store-key"
    key_file.write_text(KEY)
    key_file.chmod(0o644)
    path = tmp_path / "tokens.fernet"
    config = NevisAuth(store_path=str(path), store_key_file=str(key_file))
    memory_only = EncryptedFileTokenStore(parent=config)
    await memory_only.set("alice", token_set())

    assert await memory_only.get("alice") is not None
    assert not path.exists()
    (line,) = [r.getMessage() for r in caplog.records if str(key_file) in r.getMessage()]
    assert "can be read or written by anybody; make it readable by its owner only" in line
    assert "memory only" in line and KEY not in caplog.text


async def test_without_a_key_an_existing_file_is_left_alone(tmp_path, caplog):
    path = tmp_path / "tokens.fernet"
    await store(path).set("alice", token_set())
    before = path.read_bytes()

    keyless = store(path, "")
    assert await keyless.get("alice") is None
    await keyless.set("bob", token_set("b"))

    assert path.read_bytes() == before
    assert "exists but no valid key is set" in caplog.text


def test_default_path_is_in_the_jupyter_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEVIS_AUTH_STORE_PATH", raising=False)
    assert store_without_path().file == tmp_path / "data" / "nevis_auth" / "tokens.fernet"
    monkeypatch.setenv("NEVIS_AUTH_STORE_PATH", str(tmp_path / "elsewhere.fernet"))
    assert store_without_path().file == tmp_path / "elsewhere.fernet"


def test_named_hub_servers_get_their_own_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEVIS_AUTH_STORE_PATH", raising=False)
    named = EncryptedFileTokenStore(parent=NevisAuth(store_key=KEY), server_name="gpu/1")
    assert named.file == tmp_path / "data" / "nevis_auth" / "tokens-gpu_1.fernet"


async def test_a_sign_out_that_cannot_be_written_removes_the_file(tmp_path, monkeypatch):
    path = tmp_path / "tokens.fernet"
    first = store(path)
    await first.set("ada", token_set())
    assert path.exists()

    def fail(payload: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(first, "_write", fail)
    await first.delete("ada")
    # A restart must not sign the user back in.
    assert await store(path).get("ada") is None
    assert not path.exists()


def store_without_path() -> EncryptedFileTokenStore:
    return EncryptedFileTokenStore(parent=NevisAuth(store_key=KEY))


# -- inside the server: unreadable files sign out, cleanly -------------------------------


def written_with_another_key() -> bytes:
    payload = {"version": 1, "users": {"someone": token_set().to_dict()}}
    return Fernet(Fernet.generate_key()).encrypt(json.dumps(payload).encode())


class TestUnreadableFileInTheServer:
    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "token_store_class": STORE_CLASS, "store_key": KEY}

    @pytest.mark.parametrize(
        "content",
        [
            pytest.param(written_with_another_key(), id="wrong-key"),
            pytest.param(b"\x00not a token file at all", id="garbage"),
            pytest.param(Fernet(KEY.encode()).encrypt(b'{"users": 3}'), id="bad-content"),
            pytest.param(written_with_another_key()[:40], id="truncated"),
        ],
    )
    async def test_signs_out_with_a_warning_and_keeps_the_file(
        self, content, jp_serverapp, jp_data_dir, browser, redirect_uri, username, caplog
    ):
        path = jp_data_dir / "nevis_auth" / "tokens.fernet"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

        status = await browser.get("nevis", "api", "status")
        assert status.code == 200
        assert json.loads(status.body)["logged_in"] is False
        assert f"Ignoring the token file {path}" in caplog.text
        assert path.read_bytes() == content

        # The next sign-in works, and moves the old file aside rather than over-writing it.
        assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
        (kept,) = path.parent.glob("tokens.fernet.unreadable-*")
        assert kept.read_bytes() == content
        assert set(decrypt(path)["users"]) == {jp_serverapp.web_app.settings["nevis_auth_owner"]}


# -- a real restart ----------------------------------------------------------------------


class JupyterProcess:
    """A `jupyter server` process with the extension, restartable on the same port."""

    def __init__(self, directory: Path, port: int, nevis_config: dict[str, Any]) -> None:
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.token = os.urandom(12).hex()
        self.data_dir = directory / "data"
        self.log = directory / "server.log"
        config_dir = directory / "config"
        config_dir.mkdir(parents=True)
        extensions = (
            "jupyterlab",
            "notebook",
            "notebook_shim",
            "jupyter_lsp",
            "jupyter_server_terminals",
        )
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {"jupyter_nevis_auth": True}
                        | dict.fromkeys(extensions, False),
                        "ip": "127.0.0.1",
                        "port": port,
                        "port_retries": 0,
                        "open_browser": False,
                        "allow_root": True,
                        "root_dir": str(directory),
                    },
                    "IdentityProvider": {"token": self.token},
                    "NevisAuth": {**nevis_config, "token_store_class": STORE_CLASS},
                }
            )
        )
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(self.data_dir),
            "JUPYTER_RUNTIME_DIR": str(directory / "runtime"),
            "PYTHONPATH": str(ROOT),
        }
        self.process: Process | None = None

    async def start(self, store_key: str) -> None:
        """Start the server with `store_key` in $NEVIS_AUTH_STORE_KEY; wait until it answers."""
        # Each start appends to the log: what the earlier runs printed is kept.
        self.process = Process(
            "jupyter server",
            [sys.executable, "-m", "jupyter_server"],
            cwd=self.directory,
            env={**self.env, "NEVIS_AUTH_STORE_KEY": store_key},
            log_file=self.log,
            append=True,
        )
        self.process.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.running, self.log.read_text()
            try:
                if (await self.fetch("api", "status", raise_error=False)).code == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"the server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, as a restart by a supervisor does."""
        if self.process is not None:
            self.process.stop(20)
        self.process = None

    async def fetch(
        self, *parts: str, params: dict[str, str] | None = None, **kwargs: Any
    ) -> HTTPResponse:
        """Like jp_fetch, against this process."""
        url = self.url + "/".join(parts) + ("?" + urlencode(params) if params else "")
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return await AsyncHTTPClient().fetch(url, headers=headers, request_timeout=20, **kwargs)


class TestRestart:
    @pytest.fixture
    def port(self) -> int:
        return free_port()

    @pytest.fixture
    def redirect_uri(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/nevis/callback"

    @pytest.fixture
    def client_options(self) -> dict[str, Any]:
        return {"access_token_ttl": 4, "rotate_refresh_token": True}

    @pytest.fixture
    def server(self, tmp_path, port, nevis_config) -> Any:
        process = JupyterProcess(tmp_path, port, nevis_config)
        yield process
        process.stop()

    async def test_sign_in_survives_a_real_server_restart(
        self, server, redirect_uri, username, oidc_provider, oidc_client
    ):
        await server.start(KEY)
        browser = Browser(server.fetch, SimpleCookie())
        assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
        before = json.loads((await browser.get("nevis", "api", "status")).body)
        path = server.data_dir / "nevis_auth" / "tokens.fernet"
        raw = path.read_bytes()
        (saved,) = decrypt(path)["users"].values()
        assert path.stat().st_mode & 0o777 == 0o600
        assert not any(secret in raw for secret in secrets_of(saved))

        server.stop()
        await server.start(KEY)

        browser = Browser(server.fetch, SimpleCookie())
        after = json.loads((await browser.get("nevis", "api", "status")).body)
        assert after["logged_in"] is True
        assert after["claims"]["sub"] == username
        deadline = time.time() + 10
        while after["expires_at"] == before["expires_at"] and time.time() < deadline:
            # Not refreshed yet: asking again starts the refresh ahead of due, in the
            # background, and a later answer carries its token.
            await asyncio.sleep(0.1)
            after = json.loads((await browser.get("nevis", "api", "status")).body)
        assert after["logged_in"] is True and after["expires_at"] > before["expires_at"]
        counter = oidc_provider.stats(oidc_client.client_id)["token"]["refresh_token"]
        assert (counter["ok"], counter["error"]) == (1, 0)
        (rotated,) = decrypt(path)["users"].values()
        assert rotated["refresh_token"] != saved["refresh_token"]


async def test_every_provider_and_api_token_survives_a_restart(tmp_path):
    from jupyter_nevis_auth.core.apis import token_key

    path = tmp_path / "tokens.fernet"
    first = store(path)
    keys = ["ada", token_key("ada", "partner"), token_key("ada", "default", "sales")]
    for n, key in enumerate(keys):
        await first.set(key, token_set(str(n)))
    again = store(path)
    assert sorted(await again.keys()) == sorted(keys)
    for n, key in enumerate(keys):
        assert await again.get(key) == await first.get(key)
        assert (await again.get(key)).access_token.startswith(f"access-{n}-")
