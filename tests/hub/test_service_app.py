"""The service's configuration: its own file, NEVIS_AUTH_* variables, and its store."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from jupyter_nevis_auth.hubservice.app import NevisAuthHub, NevisAuthHubApp
from jupyter_nevis_auth.hubservice.store import SQLTokenStore
from jupyter_nevis_auth.stores import MemoryTokenStore

pytestmark = pytest.mark.hub


@pytest.fixture
def app_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no NEVIS_AUTH_* variables set."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("NEVIS_AUTH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example/services/nevis-auth/")
    return tmp_path


def launch(argv: list[str]) -> NevisAuthHubApp:
    """The application as its console script configures it, not started."""
    app = NevisAuthHubApp()
    app.initialize(argv)
    return app


def test_the_config_file_in_the_working_directory_wins_over_the_environment(
    app_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (app_in / "nevis_auth_hub_config.py").write_text(
        "c.NevisAuth.issuer = 'https://id.example'\n"
        f"c.NevisAuthHub.db_url = 'sqlite:///{app_in / 'from-file.sqlite'}'\n"
    )
    monkeypatch.setenv("NEVIS_AUTH_ISSUER", "https://env.example")
    monkeypatch.setenv("NEVIS_AUTH_CLIENT_ID", "from-env")
    monkeypatch.setenv("NEVIS_AUTH_HUB_DB_URL", "sqlite:///from-env.sqlite")
    monkeypatch.setenv("NEVIS_AUTH_HUB_CACHE_SECONDS", "3")
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY", Fernet.generate_key().decode())
    app = launch([])
    settings = NevisAuthHub(parent=app)
    assert settings.db_url.endswith("from-file.sqlite") and settings.hub_cache_seconds == 3
    service, store = app.build_service(settings)
    assert service.config.issuer == "https://id.example"
    assert service.config.client_id == "from-env"
    # Behind the hub's proxy, the one redirect URI is the service's callback.
    assert service.config.redirect_uri == "https://hub.example/services/nevis-auth/callback"
    assert isinstance(store, SQLTokenStore) and (app_in / "from-file.sqlite").exists()
    store.close()


def test_without_a_store_key_sign_ins_stay_in_memory_with_one_error(
    app_in: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (app_in / "other.py").write_text("c.NevisAuth.issuer = 'https://id.example'\n")
    app = launch(["-f", str(app_in / "other.py"), "--NevisAuth.client_id=cli"])
    app.log.addHandler(caplog.handler)
    try:
        service, store = app.build_service(NevisAuthHub(parent=app))
    finally:
        app.log.removeHandler(caplog.handler)
    assert service.config.issuer == "https://id.example" and service.config.client_id == "cli"
    assert isinstance(store, MemoryTokenStore)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len([e for e in errors if "store_key" in e]) == 1
    assert not (app_in / "nevis_auth_hub.sqlite").exists()


def test_every_option_names_its_env_var() -> None:
    for name, trait in NevisAuthHub.class_traits(config=True).items():
        assert "$" + NevisAuthHub.env_var(name) in trait.help, name
