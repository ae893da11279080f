"""Configuration: env fallbacks, the not-configured page, documented options."""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import sys
from typing import Any

import pytest

from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.env import env_name
from jupyter_nevis_auth.errors import SettingsError
from jupyter_nevis_auth.oidc import client_auth
from jupyter_nevis_auth.oidc.client_auth import ClientAuthentication
from jupyter_nevis_auth.oidc.discovery import ProviderMetadata

ENV = {
    "NEVIS_AUTH_ISSUER": "https://example.id.nevis.cloud",
    "NEVIS_AUTH_CLIENT_ID": "a2091050cfdd15be",
    "NEVIS_AUTH_CLIENT_SECRET": "c091a151f0ce9635",
    "NEVIS_AUTH_SCOPES": "openid offline_access api:read",
    "NEVIS_AUTH_HTTP_TIMEOUT": "2.5",
    "NEVIS_AUTH_VALIDATE_CERT": "false",
    "NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS": '{"prompt": "login", "acr_values": "mfa"}',
    "NEVIS_AUTH_TOKEN_ENDPOINT_AUTH_METHOD": "client_secret_post",
}


def test_every_option_falls_back_to_its_env_var(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = NevisAuth()
    assert config.issuer == "https://example.id.nevis.cloud"
    assert config.client_id == "a2091050cfdd15be"
    assert config.get_client_secret() == "c091a151f0ce9635"
    assert config.scopes == ["openid", "offline_access", "api:read"]
    assert config.http_timeout == 2.5
    assert config.validate_cert is False
    assert config.extra_authorize_params == {"prompt": "login", "acr_values": "mfa"}
    assert config.token_endpoint_auth_method == "client_secret_post"
    assert config.problems() == []


def test_config_file_wins_over_env(monkeypatch):
    from traitlets.config import Config

    monkeypatch.setenv("NEVIS_AUTH_CLIENT_ID", "from-env")
    config = NevisAuth(config=Config({"NevisAuth": {"client_id": "from-config"}}))
    assert config.client_id == "from-config"


def test_help_names_each_env_var():
    for name, trait in NevisAuth.class_traits(config=True).items():
        assert env_name(name) in trait.help, name


def test_secret_file_is_read_each_time(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("first\n")
    config = NevisAuth(client_secret_file=str(secret))
    assert config.get_client_secret() == "first"
    secret.write_text("rotated")
    assert config.get_client_secret() == "rotated"


def one_sentence(message: str) -> bool:
    """Whether `message` is one sentence for a person: a capital, one full stop, at the end."""
    return bool(re.fullmatch(r"[A-Z][^\n]*\.", message)) and not re.search(r"\.\s+[A-Z]", message)


def test_the_store_key_file_wins_over_the_key(tmp_path, monkeypatch):
    key_file = tmp_path / "store-key"
    key_file.write_text("  new-key,old-key\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY", "from-env")
    assert NevisAuth().get_store_key() == "from-env"
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY_FILE", str(key_file))
    assert NevisAuth().get_store_key() == "new-key,old-key"
    # A Kubernetes Secret mounted with fsGroup is readable by the pod's group: that is fine.
    key_file.chmod(0o440)
    assert NevisAuth().get_store_key() == "new-key,old-key"


@pytest.mark.parametrize(
    ("content", "mode", "sentence"),
    [
        (None, None, "cannot be read (No such file or directory)"),
        ("a-key", 0o644, "can be read or written by anybody; make it readable by its owner only"),
        ("a-key", 0o606, "can be read or written by anybody"),
        ("\n", 0o600, "is empty"),
    ],
)
def test_an_unusable_store_key_file_is_one_sentence(tmp_path, content, mode, sentence):
    key_file = tmp_path / "store-key"
    if content is not None:
        key_file.write_text(content)
        key_file.chmod(mode)
    with pytest.raises(SettingsError) as raised:
        NevisAuth(store_key="ignored", store_key_file=str(key_file)).get_store_key()
    message = str(raised.value)
    assert sentence in message and one_sentence(message), message
    assert str(key_file) in message and "a-key" not in message
    assert "NevisAuth.store_key_file ($NEVIS_AUTH_STORE_KEY_FILE)" in message or "chmod" in message


@pytest.mark.parametrize(
    "settings, phrase",
    [
        ({}, "Set NevisAuth.issuer (or $NEVIS_AUTH_ISSUER)."),
        (
            {"issuer": "https://x.id.nevis.cloud"},
            "Set NevisAuth.client_id (or $NEVIS_AUTH_CLIENT_ID).",
        ),
        ({"issuer": "http://idp.example.com"}, "must use https://"),
        ({"issuer": "ftp://idp"}, "must be an https:// URL"),
        ({"issuer": "https://idp/?x=1"}, "query string"),
        ({"issuer": "http://[::1"}, "is not a valid URL"),
        ({"issuer": "https://idp:99999"}, "is not a valid URL"),
        ({"client_id": "c", "issuer": "https://i"}, "$NEVIS_AUTH_CLIENT_SECRET"),
        ({"client_secret_file": "/nonexistent/secret"}, "does not exist"),
        ({"scopes": ["profile"]}, "must include openid"),
        ({"id_token_signing_algs": ["none"]}, "id_token_signing_algs may only list"),
        ({"id_token_signing_algs": ["HS256"]}, "id_token_signing_algs may only list"),
        ({"http_timeout": 0.0}, "http_timeout must be a positive"),
    ],
)
def test_problems_name_the_option(settings, phrase, monkeypatch):
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    assert any(phrase in p for p in NevisAuth(**settings).problems())


def test_bad_env_value_is_logged_not_fatal(monkeypatch, caplog):
    monkeypatch.setenv("NEVIS_AUTH_HTTP_TIMEOUT", "soon")
    with caplog.at_level(logging.ERROR):
        config = NevisAuth()
    assert config.http_timeout == 10.0
    assert "Ignoring NEVIS_AUTH_HTTP_TIMEOUT" in caplog.text


def test_help_all_documents_the_options():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_nevis_auth.server.app", "--help-all"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "--NevisAuth.client_id" in out
    assert "$NEVIS_AUTH_CLIENT_ID" in out
    assert "--TokenManager.failure_cooldown" in out and "$NEVIS_AUTH_FAILURE_COOLDOWN" in out
    assert "--NevisAuth.store_path" in out and "$NEVIS_AUTH_STORE_PATH" in out


class TestNotConfigured:
    @pytest.fixture
    def nevis_config(self, monkeypatch) -> dict[str, Any]:
        for key in ENV:
            monkeypatch.delenv(key, raising=False)
        return {}

    async def test_server_starts_and_login_says_what_to_set(self, jp_fetch, caplog):
        response = await jp_fetch("nevis", "login", follow_redirects=False, raise_error=False)
        body = response.body.decode()
        assert response.code == 503
        assert "Set NevisAuth.issuer (or $NEVIS_AUTH_ISSUER)." in body
        assert "Set NevisAuth.client_id (or $NEVIS_AUTH_CLIENT_ID)." in body
        assert "Traceback" not in body
        assert "Set NevisAuth.issuer (or $NEVIS_AUTH_ISSUER)." in caplog.text

    async def test_status_still_answers(self, jp_fetch):
        response = await jp_fetch("nevis", "api", "status")
        assert response.code == 200


class TestConfiguredByEnv:
    @pytest.fixture
    def nevis_config(self, monkeypatch, oidc_provider, oidc_client) -> dict[str, Any]:
        monkeypatch.setenv("NEVIS_AUTH_ISSUER", oidc_provider.issuer)
        monkeypatch.setenv("NEVIS_AUTH_CLIENT_ID", oidc_client.client_id)
        monkeypatch.setenv("NEVIS_AUTH_CLIENT_SECRET", oidc_client.client_secret)
        monkeypatch.setenv("NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS", '{"prompt": "consent"}')
        return {}

    async def test_sign_in_with_three_env_vars(self, browser, redirect_uri, username, jp_fetch):
        response = await browser.sign_in(username, redirect_uri=redirect_uri)
        assert response.code == 302
        status = await browser.get("nevis", "api", "status")
        assert b'"logged_in": true' in status.body


class TestAProtectionsEnvVarWithATypo:
    """A typo in an env var that turns a protection on refuses sign-ins: ignored, the
    protection would be off while the administrator believes it on."""

    @pytest.fixture
    def nevis_config(self, monkeypatch, nevis_config) -> dict[str, Any]:
        monkeypatch.setenv("NEVIS_AUTH_DPOP", "yes please")
        return nevis_config

    async def test_sign_ins_are_refused_with_the_sentence(self, jp_fetch, caplog):
        response = await jp_fetch("nevis", "login", follow_redirects=False, raise_error=False)
        body = response.body.decode()
        assert response.code == 503
        sentence = "$NEVIS_AUTH_DPOP is not true or false; fix it (ignored, it could leave "
        assert sentence + "NevisAuth.dpop off)." in body
        assert sentence in caplog.text and "yes please" not in body + caplog.text


@pytest.mark.parametrize(
    ("env", "value", "refused"),
    [
        ("NEVIS_AUTH_PROFILE", "FAPI2", "$NEVIS_AUTH_PROFILE is not one of '', 'fapi2'; "),
        ("NEVIS_AUTH_USE_PAR", "sometimes", "$NEVIS_AUTH_USE_PAR is not one of "),
        ("NEVIS_AUTH_HTTP_TIMEOUT", "soon", None),
    ],
)
def test_which_malformed_env_vars_refuse_sign_ins(monkeypatch, caplog, env, value, refused):
    monkeypatch.setenv(env, value)
    with caplog.at_level(logging.ERROR):
        config = NevisAuth(issuer="https://idp.example", client_id="c", client_secret="s")
    problems = config.problems()
    said = f"{env} is not " if refused else f"Ignoring {env}: it is not "
    assert said in caplog.text and value not in caplog.text
    assert ("sign-ins are refused until it is." in caplog.text) == bool(refused)
    # The one problem of these settings: the protection's sentence, where there is one.
    assert len(problems) == (1 if refused else 0), problems
    assert all(p.startswith(refused) and p.endswith(" off).") for p in problems), problems


def test_installing_the_package_enables_the_extension():
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_server.extension.serverextension", "list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert re.search(r"jupyter_nevis_auth enabled", listing), listing
    assert re.search(r"jupyter_nevis_auth [0-9.]+ OK", listing), listing


def test_every_configurable_class_reads_its_env_vars_the_same_way(monkeypatch):
    from jupyter_nevis_auth.core.refresh import TokenManager
    from jupyter_nevis_auth.core.stores import MemoryTokenStore

    monkeypatch.setenv("NEVIS_AUTH_FAILURE_COOLDOWN", "7.5")
    monkeypatch.setenv("NEVIS_AUTH_STORE_PATH", "/srv/nevis/tokens.fernet")
    monkeypatch.setenv("NEVIS_AUTH_SCOPES", '["openid", "a scope with spaces"]')
    manager = TokenManager(MemoryTokenStore(), lambda k, t: t, leeway=1, retry_budget=1)
    assert manager.failure_cooldown == 7.5
    config = NevisAuth()
    assert config.store_path == "/srv/nevis/tokens.fernet"
    assert config.scopes == ["openid", "a scope with spaces"]


def test_a_malformed_json_option_is_ignored_with_one_line(monkeypatch, caplog):
    monkeypatch.setenv("NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS", "[1, 2]")
    with caplog.at_level(logging.ERROR):
        config = NevisAuth()
    assert config.extra_authorize_params == {}
    assert "Ignoring NEVIS_AUTH_EXTRA_AUTHORIZE_PARAMS: it is not a JSON object." in caplog.text
    assert "[1, 2]" not in caplog.text


def test_a_malformed_number_is_ignored_with_a_sentence_that_says_what_it_must_be(
    monkeypatch, caplog
):
    monkeypatch.setenv("NEVIS_AUTH_HTTP_TIMEOUT", "abc")
    with caplog.at_level(logging.ERROR):
        config = NevisAuth()
    assert config.http_timeout == NevisAuth.class_traits()["http_timeout"].default_value
    assert "Ignoring NEVIS_AUTH_HTTP_TIMEOUT: it is not a float." in caplog.text


async def test_an_inline_secret_is_sent_without_a_thread_and_a_secret_file_is_read_each_time(
    tmp_path, monkeypatch
):
    metadata = ProviderMetadata("https://op.test", "https://op.test/a", "https://op.test/t", "")
    threads: list[object] = []
    real_to_thread = client_auth.asyncio.to_thread

    async def counted(function, *args):
        threads.append(function)
        return await real_to_thread(function, *args)

    monkeypatch.setattr(client_auth.asyncio, "to_thread", counted)
    inline = ClientAuthentication(NevisAuth(client_id="app", client_secret="s3cret"))
    _body, headers = await inline.add(metadata, {"grant_type": "refresh_token"})
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"app:s3cret"
    assert threads == []

    secret = tmp_path / "secret"
    secret.write_text("first\n")
    from_file = ClientAuthentication(NevisAuth(client_id="app", client_secret_file=str(secret)))
    for expected in ("first", "rotated"):
        secret.write_text(expected)
        _body, headers = await from_file.add(metadata, {"grant_type": "refresh_token"})
        sent = base64.b64decode(headers["Authorization"].removeprefix("Basic ")).decode()
        assert sent == f"app:{expected}"
    assert len(threads) == 2
