"""The service's configuration: its own file, NEVIS_AUTH_* variables, and its store."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from jupyter_nevis_auth.core.stores import MemoryTokenStore
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.errors import SettingsError
from jupyter_nevis_auth.hub.service import settings
from jupyter_nevis_auth.hub.service.app import NevisAuthHub, NevisAuthHubApp
from jupyter_nevis_auth.hub.service.base import log_request, shows
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet

pytestmark = pytest.mark.hub


@pytest.fixture
def app_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no NEVIS_AUTH_* variables set."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("NEVIS_AUTH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example/services/nevis-auth/")
    return tmp_path


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The umask most services run with: files are made 0644 unless their maker says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def secret_file(path: Path, text: str, mode: int = 0o600) -> str:
    """A file holding `text`, as a mounted secret; its path."""
    path.write_text(text + "\n")
    path.chmod(mode)
    return str(path)


def errors_of(app: NevisAuthHubApp, caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """The lines of `level` or above the application logged."""
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


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


@pytest.mark.usefixtures("umask_022")
def test_the_store_key_and_the_database_url_come_from_files(
    app_in: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = Fernet.generate_key().decode()
    database = app_in / "db" / "tokens.sqlite"
    database.parent.mkdir()
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY_FILE", secret_file(app_in / "store-key", key))
    monkeypatch.setenv(
        "NEVIS_AUTH_HUB_DB_URL_FILE", secret_file(app_in / "db-url", f"sqlite:///{database}")
    )
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY", "a literal the file wins over")
    app = launch([])
    app.log.addHandler(caplog.handler)
    try:
        _service, store = app.build_service(NevisAuthHub(parent=app))
    finally:
        app.log.removeHandler(caplog.handler)
    assert isinstance(store, SQLTokenStore)
    tokens = TokenSet("alice-access", refresh_token="alice-refresh", claims={"sub": "alice"})
    asyncio.run(store.set("alice", tokens))
    store.close()
    # Made readable by the service only, under a umask that would have made it 0644.
    assert database.stat().st_mode & 0o777 == 0o600
    assert not (app_in / "nevis_auth_hub.sqlite").exists()
    again = SQLTokenStore(f"sqlite:///{database}", make_fernet(key))
    assert asyncio.run(again.get("alice")) == tokens
    # No word of the key or the database among the errors (the provider is not configured).
    assert not [e for e in errors_of(app, caplog, logging.ERROR) if "store" in e or "data" in e]
    assert key not in caplog.text


@pytest.mark.parametrize(
    ("content", "mode", "sentence"),
    [
        (None, None, "cannot be read (No such file or directory); fix NevisAuth.store_key_file"),
        ("key", 0o644, "can be read or written by anybody; make it readable by its owner only"),
        ("", 0o600, "is empty; fix NevisAuth.store_key_file ($NEVIS_AUTH_STORE_KEY_FILE)"),
    ],
)
def test_an_unusable_store_key_file_stops_the_service_with_one_sentence(
    app_in: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    mode: int,
    sentence: str,
) -> None:
    # Set, the key is meant to keep sign-ins across restarts: running on memory would
    # lose them all at the next stop, with health saying ready.
    path = app_in / "store-key"
    if content is not None:
        secret_file(path, content, mode)
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY_FILE", str(path))
    app = launch([])
    with pytest.raises(SettingsError) as raised:
        app.build_service(NevisAuthHub(parent=app))
    assert sentence in str(raised.value) and str(path) in str(raised.value)
    assert not (app_in / "nevis_auth_hub.sqlite").exists()


def test_a_malformed_store_key_stops_the_service(
    app_in: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY", "not a Fernet key")
    app = launch([])
    with pytest.raises(SettingsError, match="store_key"):
        app.build_service(NevisAuthHub(parent=app))


@pytest.mark.usefixtures("umask_022")
def test_a_database_anybody_may_read_stops_the_service_with_one_sentence(
    app_in: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    database = app_in / "nevis_auth_hub.sqlite"
    sqlite3.connect(database).close()  # as an earlier version left it: 0644
    monkeypatch.setenv("NEVIS_AUTH_STORE_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:1")
    app = launch([])
    app.log.addHandler(caplog.handler)
    try:
        with pytest.raises(SystemExit) as stopped:
            # A service that started anyway would serve until stopped: 30 s, not forever.
            asyncio.run(asyncio.wait_for(app.serve(), 30))
    finally:
        app.log.removeHandler(caplog.handler)
    assert stopped.value.code == 1
    assert errors_of(app, caplog, logging.CRITICAL) == [
        f"jupyter-nevis-auth: The database file {database.name} can be read or written by "
        f"anybody; make it readable by its owner only (chmod 600 {database.name})."
    ]
    assert database.stat().st_mode & 0o777 == 0o644


def test_token_answers_make_access_lines_only_when_the_log_level_shows_them(app_in: Path) -> None:
    # traitlets keeps the application's logger at DEBUG and its handler at the log level.
    quiet = launch([])
    assert quiet.log.isEnabledFor(logging.DEBUG)
    assert shows(quiet.log, logging.INFO)
    assert not shows(quiet.log, logging.DEBUG)
    assert shows(launch(["--debug"]).log, logging.DEBUG)  # the same logger, now at DEBUG

    made: list[str] = []
    log = logging.getLogger("test-access-lines")
    log.setLevel(logging.DEBUG)
    log.addFilter(lambda record: bool(made.append(record.getMessage())) or True)

    def answer(path: str, status: int, access_debug: bool) -> None:
        settings = {"nevis_auth_log": log, "nevis_auth_access_debug": access_debug}
        start = RequestStartLine("GET", path, "HTTP/1.1")
        request = HTTPServerRequest(start_line=start, headers=HTTPHeaders(Host="hub"))
        log_request(SimpleNamespace(request=request, get_status=lambda: status, settings=settings))

    answer("/services/nevis-auth/api/token", 200, access_debug=False)
    assert made == []
    answer("/services/nevis-auth/api/token", 401, access_debug=False)
    answer("/services/nevis-auth/api/status", 200, access_debug=False)
    answer("/services/nevis-auth/api/token", 200, access_debug=True)
    assert [line.rsplit(" ", 1)[0] for line in made] == [
        "401 GET /services/nevis-auth/api/token",
        "200 GET /services/nevis-auth/api/status",
        "200 GET /services/nevis-auth/api/token",
    ]


def test_health_probes_are_logged_at_debug_and_a_replica_not_ready_as_a_warning() -> None:
    # Kubernetes asks every few seconds; a 503 is a stopping replica's or a database away,
    # which the store says itself: neither is an error of the service.
    made: list[tuple[int, str]] = []
    log = logging.getLogger("test-health-lines")
    log.setLevel(logging.DEBUG)
    log.addFilter(lambda record: bool(made.append((record.levelno, record.getMessage()))))

    for path, status in [
        ("health", 200),
        ("health/live", 200),
        ("health", 503),
        ("api/status", 200),
        ("api/status", 503),
    ]:
        settings = {"nevis_auth_log": log, "nevis_auth_access_debug": True}
        start = RequestStartLine("GET", "/services/nevis-auth/" + path, "HTTP/1.1")
        request = HTTPServerRequest(start_line=start, headers=HTTPHeaders(Host="hub"))
        log_request(
            SimpleNamespace(request=request, get_status=lambda s=status: s, settings=settings)
        )
    assert [(level, line.rsplit(" ", 1)[0]) for level, line in made] == [
        (logging.DEBUG, "200 GET /services/nevis-auth/health"),
        (logging.DEBUG, "200 GET /services/nevis-auth/health/live"),
        (logging.WARNING, "503 GET /services/nevis-auth/health"),
        (logging.INFO, "200 GET /services/nevis-auth/api/status"),
        (logging.ERROR, "503 GET /services/nevis-auth/api/status"),
    ]


@pytest.mark.parametrize(
    ("switch", "reset"), [("0\n", True), ("1\n", False), (None, False)], ids=["0", "1", "none"]
)
def test_whether_a_stopping_replicas_waiting_connections_are_reset_is_read_from_linux(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str | None, reset: bool
) -> None:
    path = tmp_path / "tcp_migrate_req"
    if switch is not None:
        path.write_text(switch)
    monkeypatch.setattr(settings, "MIGRATE_REQ", path)
    assert settings.waiting_connections_reset() is reset
