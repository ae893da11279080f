"""`jupyter nevis-auth doctor` against the real test provider: configured right, then each fault."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conformance.fake_op import REMOVE, FakeOP, KeyPool, SigningKey, apply
from tests.support.provider import OIDCTestProvider, RegisteredClient

COMMAND = [sys.executable, "-m", "jupyter_nevis_auth.server.app"]
#: Registered at the provider; nothing listens there, and nothing needs to.
REDIRECT_URI = "http://127.0.0.1:8888/nevis/callback"
#: Not registered: REDIRECT_URI on another path, and on another host.
WRONG_PATH = "http://127.0.0.1:8888/other/nevis/callback"
WRONG_HOST = "http://localhost:8888/nevis/callback"
STEPS = [
    "configuration",
    "discovery",
    "provider features",
    "keys",
    "scopes",
    "client authentication",
    "redirect URI",
    "clock",
]
#: The marks of a check passed, failed, not confirmed and not run.
PASSED, FAILED, UNCONFIRMED, NOT_RUN = "\u2713", "\u2717", "!", "-"
#: A report line: its mark, then the check's name.
MARKS = PASSED + FAILED + UNCONFIRMED + NOT_RUN  # "-" last: a plain character in a set
CHECK = re.compile(rf"[{MARKS}] ((?:[\w-]+: )?(?:{'|'.join(STEPS)}|providers and APIs)): ")
#: The exit code when nothing failed but a check could not be confirmed.
NOT_CONFIRMED_EXIT = 3
#: Seconds the skewed provider's clock is ahead.
SKEW = 600
#: The encrypted file store's key, given in a file.
STORE_KEY = Fernet.generate_key().decode()
#: Runs at once: each is a Python process importing Jupyter Server.
PARALLEL = 4


@dataclass(frozen=True)
class Result:
    """What one doctor run printed, and its exit code."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """The report's lines."""
        return self.stdout.splitlines()

    @property
    def names(self) -> list[str]:
        """The checks reported, in order (a named provider's with its name in front)."""
        return [CHECK.match(line).group(1) for line in self.lines]  # type: ignore[union-attr]

    def line(self, name: str) -> str:
        """The line of the check `name`."""
        return next(line for line in self.lines if line[2:].startswith(name + ": "))


@dataclass(frozen=True)
class Setup:
    """The providers, client and files the runs are configured against."""

    provider: OIDCTestProvider
    client: RegisteredClient
    #: A provider that sends a signed-out browser to its login page before checking anything.
    login_first: OIDCTestProvider
    login_first_client: RegisteredClient
    skewed_issuer: str
    weak_op: FakeOP
    closed_port: int
    #: An empty Jupyter config directory, and one whose files configure NevisAuth.
    config_dir: Path
    files_dir: Path

    def env(self, **changes: str | None) -> dict[str, str]:
        """The environment of a correctly configured run, with `changes` (None removes)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")}
        env.update(
            JUPYTER_CONFIG_DIR=str(self.config_dir),
            NEVIS_AUTH_ISSUER=self.provider.issuer,
            NEVIS_AUTH_CLIENT_ID=self.client.client_id,
            NEVIS_AUTH_CLIENT_SECRET=self.client.client_secret,
            NEVIS_AUTH_REDIRECT_URI=REDIRECT_URI,
        )
        return apply(env, {k: REMOVE if v is None else v for k, v in changes.items()})

    def login_first_env(self, redirect_uri: str = REDIRECT_URI) -> dict[str, str]:
        """A run against the login-first provider, its client registered with REDIRECT_URI."""
        return self.env(
            NEVIS_AUTH_ISSUER=self.login_first.issuer,
            NEVIS_AUTH_CLIENT_ID=self.login_first_client.client_id,
            NEVIS_AUTH_CLIENT_SECRET=self.login_first_client.client_secret,
            NEVIS_AUTH_REDIRECT_URI=redirect_uri,
        )


def skewed_discovery(document: dict[str, Any]) -> ThreadingHTTPServer:
    """A loopback issuer serving `document` as its own, with a clock SKEW seconds ahead."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({**document, "issuer": issuer}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return formatdate(time.time() + SKEW, usegmt=True)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def weak_op() -> Iterator[FakeOP]:
    """A provider that signs with (and publishes) a 1024-bit RSA key, in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    op = FakeOP(KeyPool(), [REDIRECT_URI])
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the fault)
    op.signing_key = SigningKey("weak-1024", "RS256", weak)
    op.published = [op.signing_key]
    asyncio.run_coroutine_threadsafe(op.start(), loop).result(10)
    yield op
    asyncio.run_coroutine_threadsafe(op.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def login_first() -> Iterator[OIDCTestProvider]:
    """The test provider switched to sign a browser in before it looks at redirect_uri."""
    with OIDCTestProvider(login_first=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def setup(
    oidc_provider: OIDCTestProvider,
    login_first: OIDCTestProvider,
    weak_op: FakeOP,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Setup]:
    """Everything the runs need: clients, a skewed issuer, a closed port, a config dir."""
    client = oidc_provider.add_client([REDIRECT_URI])
    login_first_client = login_first.add_client([REDIRECT_URI])
    with requests.get(oidc_provider.discovery_url, timeout=10) as response:
        skewed = skewed_discovery(response.json())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    files_dir = tmp_path_factory.mktemp("jupyter-config-files")
    (files_dir / "jupyter_server_config.py").write_text(
        f"c.NevisAuth.client_id = {client.client_id!r}\n"
    )
    (files_dir / "jupyter_server_config.d").mkdir()
    (files_dir / "jupyter_server_config.d" / "nevis.json").write_text(
        json.dumps({"NevisAuth": {"redirect_uri": REDIRECT_URI}})
    )
    host, port = skewed.server_address[:2]
    yield Setup(
        oidc_provider,
        client,
        login_first,
        login_first_client,
        f"http://{host!s}:{port}",
        weak_op,
        closed_port,
        tmp_path_factory.mktemp("jupyter-config"),
        files_dir,
    )
    skewed.shutdown()
    skewed.server_close()


#: Each planted fault: the environment it changes, the check that fails, words of its line.
FAULTS: dict[str, tuple[Callable[[Setup], dict[str, str]], str, str]] = {
    "wrong issuer": (
        lambda s: {"NEVIS_AUTH_ISSUER": s.provider.issuer + "/"},
        "discovery",
        "(mind the trailing slash)",
    ),
    "unreachable issuer": (
        lambda s: {"NEVIS_AUTH_ISSUER": f"http://127.0.0.1:{s.closed_port}"},
        "discovery",
        "connection refused; check NevisAuth.issuer ($NEVIS_AUTH_ISSUER)",
    ),
    "wrong client secret": (
        lambda s: {"NEVIS_AUTH_CLIENT_SECRET": "not-the-registered-secret"},
        "client authentication",
        "invalid_client to client_secret_basic; check NevisAuth.client_id, NevisAuth.client_secret",
    ),
    "wrong auth method": (
        lambda s: {"NEVIS_AUTH_TOKEN_ENDPOINT_AUTH_METHOD": "none"},
        "client authentication",
        "refused none (invalid_client) but accepts client_secret_basic; "
        "set NevisAuth.token_endpoint_auth_method ($NEVIS_AUTH_TOKEN_ENDPOINT_AUTH_METHOD) to "
        "client_secret_basic.",
    ),
    "redirect URI not registered": (
        lambda s: {"NEVIS_AUTH_REDIRECT_URI": "http://127.0.0.1:8888/other/nevis/callback"},
        "redirect URI",
        "(HTTP 400, invalid_redirect_uri): it is not registered; register "
        "http://127.0.0.1:8888/other/nevis/callback exactly",
    ),
    "scope not offered": (
        lambda s: {"NEVIS_AUTH_SCOPES": "openid offline_access reports.write"},
        "scopes",
        "reports.write requested, but the provider offers",
    ),
    "clock skew": (
        lambda s: {"NEVIS_AUTH_ISSUER": s.skewed_issuer},
        "clock",
        "s ahead of this machine's, more than NevisAuth.clock_skew (60 s)",
    ),
    "weak key": (
        lambda s: {
            "NEVIS_AUTH_ISSUER": s.weak_op.issuer,
            "NEVIS_AUTH_CLIENT_ID": s.weak_op.client_id,
            "NEVIS_AUTH_CLIENT_SECRET": s.weak_op.client_secret,
        },
        "keys",
        "an RSA key of 1024 bits (at least 2048 are required) (RS256, kid \u201cweak-1024",
    ),
}


def runs_of(setup: Setup) -> dict[str, tuple[dict[str, str], list[str]]]:
    """Every run of this file: its environment and its command line."""
    runs = {
        name: (setup.env(**change(setup)), ["doctor"]) for name, (change, _, _) in FAULTS.items()
    }
    files = setup.env(NEVIS_AUTH_CLIENT_ID=None, NEVIS_AUTH_REDIRECT_URI=None)
    files["JUPYTER_CONFIG_DIR"] = str(setup.files_dir)
    unset = setup.env(NEVIS_AUTH_REDIRECT_URI=None)
    partner = {"issuer": setup.weak_op.issuer, "client_id": setup.weak_op.client_id}
    several = setup.env(
        NEVIS_AUTH_PROVIDERS=json.dumps({"partner": partner}),
        NEVIS_AUTH_PARTNER_CLIENT_SECRET=setup.weak_op.client_secret,
    )
    key_file = setup.config_dir.parent / "store-key"
    if not key_file.exists():
        key_file.write_text(STORE_KEY + "\n")
        key_file.chmod(0o600)
    file_store = "jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore"
    bad_file = setup.config_dir.parent / "bad-config" / "jupyter_server_config.json"
    bad_file.parent.mkdir(exist_ok=True)
    bad_file.write_text(json.dumps({"NevisAuth": {"http_timeout": "abc"}}))
    bad_files = setup.env() | {"JUPYTER_CONFIG_DIR": str(bad_file.parent)}
    return runs | {
        "bad file value": (bad_files, ["doctor"]),
        "store key file": (
            setup.env(
                NEVIS_AUTH_TOKEN_STORE_CLASS=file_store, NEVIS_AUTH_STORE_KEY_FILE=str(key_file)
            ),
            ["doctor", "--debug"],
        ),
        "no store key": (setup.env(NEVIS_AUTH_TOKEN_STORE_CLASS=file_store), ["doctor"]),
        "right": (setup.env(), ["doctor"]),
        "json": (setup.env(), ["doctor", "--json"]),
        "files": (files, ["doctor", "--NevisAuth.http_timeout=5"]),
        "files, bad env": (
            {**files, "NEVIS_AUTH_CLOCK_SKEW": "abc"},
            ["doctor", "--NevisAuth.http_timeout=5"],
        ),
        "server url": (unset, ["doctor", "--server-url=http://127.0.0.1:8888/"]),
        "no redirect URI": (unset, ["doctor"]),
        "incomplete": (setup.env(NEVIS_AUTH_ISSUER=None), ["doctor"]),
        "help": (setup.env(), ["doctor", "--help"]),
        "help-all": (setup.env(), ["doctor", "--help-all"]),
        "bad server url": (setup.env(), ["doctor", "--server-url=jupyter.example.org"]),
        "bad option value": (setup.env(), ["doctor", "--NevisAuth.http_timeout=abc"]),
        "no such option": (setup.env(), ["doctor", "--NevisAuth.http_timeot=5"]),
        "extension help": (setup.env(), ["--help"]),
        "several providers": (several, ["doctor"]),
        "login first": (setup.login_first_env(), ["doctor"]),
        "login first, json": (setup.login_first_env(), ["doctor", "--json"]),
        "login first, wrong path": (setup.login_first_env(WRONG_PATH), ["doctor"]),
        "login first, wrong host": (setup.login_first_env(WRONG_HOST), ["doctor"]),
    }


@pytest.fixture(scope="module")
def doctor(setup: Setup) -> Iterator[dict[str, Future[Result]]]:
    """Every run of this file, started together (a few at a time) when the first test asks."""

    def run(env: dict[str, str], args: list[str]) -> Result:
        done = subprocess.run(
            COMMAND + args, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        return Result(done.returncode, done.stdout, done.stderr)

    with ThreadPoolExecutor(PARALLEL) as pool:
        yield {name: pool.submit(run, env, args) for name, (env, args) in runs_of(setup).items()}


def result(doctor: dict[str, Future[Result]], setup: Setup, name: str) -> Result:
    """The run `name`, checked for secrets."""
    done = doctor[name].result(timeout=120)
    secrets = (setup.client, setup.login_first_client, setup.weak_op)
    for secret in (s.client_secret for s in secrets):
        assert secret not in done.stdout + done.stderr
    return done


def test_correct_configuration_passes_every_check(doctor, setup):
    done = result(doctor, setup, "right")
    assert done.code == 0, done.stdout + done.stderr
    assert done.names == STEPS
    assert all(line.startswith("\u2713 ") for line in done.lines), done.stdout
    issuer = setup.provider.issuer
    assert done.line("configuration") == (
        f"\u2713 configuration: issuer {issuer} (NEVIS_AUTH_ISSUER), client_id "
        f"{setup.client.client_id} (NEVIS_AUTH_CLIENT_ID), client_secret set "
        f"(NEVIS_AUTH_CLIENT_SECRET), redirect_uri {REDIRECT_URI} (NEVIS_AUTH_REDIRECT_URI), "
        "scopes openid offline_access (default)"
    )
    assert done.line("discovery").startswith(
        f"\u2713 discovery: {issuer}/.well-known/openid-configuration (issuer matches, "
    )
    assert done.line("provider features") == (
        "\u2713 provider features: PKCE S256, iss in responses, revocation, token exchange, "
        "no device flow"
    )
    assert done.line("keys").startswith(
        f"\u2713 keys: {issuer}/.well-known/jwks.json: RS256 RSA 2048"
    )
    assert (
        done.line("scopes") == "\u2713 scopes: openid offline_access, all offered by the provider"
    )
    assert done.line("client authentication") == (
        "\u2713 client authentication: client_secret_basic accepted (a made-up code was refused "
        "with invalid_grant)"
    )
    assert done.line("redirect URI") == (
        f"\u2713 redirect URI: {REDIRECT_URI} (NEVIS_AUTH_REDIRECT_URI) accepted: the provider "
        f"sends the browser to its sign-in page at {issuer}, and refused an unregistered one "
        "beside it (HTTP 400)"
    )
    assert done.line("clock").startswith("\u2713 clock: the provider's clock is within ")


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_fails_its_check_with_a_fix(doctor, setup, fault):
    done = result(doctor, setup, fault)
    _, step, words = FAULTS[fault]
    assert done.code == 1, done.stdout + done.stderr
    assert done.line(step).startswith(f"\u2717 {step}: "), done.stdout
    assert words in done.line(step)
    assert done.line(step).endswith("."), "a fix is one sentence"
    assert "Traceback" not in done.stderr
    assert done.names == STEPS
    before, after = STEPS[: STEPS.index(step)], STEPS[STEPS.index(step) + 1 :]
    assert all(done.line(name).startswith(f"{PASSED} ") for name in before), done.stdout
    if step == "discovery":
        # Nothing after a failed discovery passes, not even the clock its answer had a Date for.
        assert [done.line(name) for name in after] == [
            f"{NOT_RUN} {name}: not run, as discovery failed" for name in after
        ], done.stdout
    else:
        assert all(done.line(name).startswith(f"{PASSED} ") for name in after), done.stdout


def test_each_provider_is_checked(doctor, setup):
    done = result(doctor, setup, "several providers")
    assert done.code == 1
    assert done.names == STEPS + [f"partner: {step}" for step in STEPS]
    assert [line[0] for line in done.lines if line[0] != "\u2713"] == ["\u2717"]
    assert done.line("partner: keys").startswith(
        f"\u2717 partner: keys: {setup.weak_op.issuer}/jwks publishes an RSA key of 1024 bits"
    )
    assert (
        f'client_id {setup.weak_op.client_id} (NevisAuth.providers["partner"], from '
        "NEVIS_AUTH_PROVIDERS), client_secret set (NEVIS_AUTH_PARTNER_CLIENT_SECRET)"
    ) in done.line("partner: configuration")
    # What it inherits is said to come from the top level, not to be a default.
    assert (
        f"redirect_uri {REDIRECT_URI} (NevisAuth.redirect_uri, from NEVIS_AUTH_REDIRECT_URI)"
    ) in done.line("partner: configuration"), done.line("partner: configuration")


def test_json_for_scripts(doctor, setup):
    done = result(doctor, setup, "json")
    assert done.code == 0
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == STEPS
    assert all(c["ok"] and c["fix"] == "" and c["detail"] for c in report["checks"])
    assert {c["status"] for c in report["checks"]} == {"passed"}


@pytest.mark.parametrize("uri", [REDIRECT_URI, WRONG_PATH, WRONG_HOST])
def test_a_provider_that_signs_in_first_cannot_confirm_the_redirect_uri(doctor, setup, uri):
    """Registered or not, the URI gets the login page: the doctor says it cannot tell."""
    name = {REDIRECT_URI: "login first", WRONG_PATH: "login first, wrong path"}
    done = result(doctor, setup, name.get(uri, "login first, wrong host"))
    assert done.code == NOT_CONFIRMED_EXIT, done.stdout + done.stderr
    assert done.names == STEPS
    line = done.line("redirect URI")
    others = [other for other in done.lines if other != line]
    assert all(other.startswith(f"{PASSED} ") for other in others), done.stdout
    parts = urlsplit(uri)
    # The doctor's control: the URI with a random first path segment, registered by nobody.
    control = (
        re.escape(f"{parts.scheme}://{parts.netloc}/unregistered-")
        + "[0-9a-f]{8}"
        + re.escape(parts.path)
    )
    assert re.fullmatch(
        f"! redirect URI: {re.escape(uri)} \\(NEVIS_AUTH_REDIRECT_URI\\) not confirmed: the "
        f"provider answers {control}, which is certainly not registered, alike \\(it sends the "
        f"browser to its sign-in page at {re.escape(setup.login_first.issuer)}\\), so it "
        "checks redirect URIs only later, after a sign-in; sign in once through Jupyter to see "
        f"the provider send you back, or check that {re.escape(uri)} is exactly among the "
        "redirect \\(return\\) URIs registered for NevisAuth.client_id at the provider\\.",
        line,
    ), line


def test_a_check_not_confirmed_is_not_ok_in_json(doctor, setup):
    done = result(doctor, setup, "login first, json")
    assert done.code == NOT_CONFIRMED_EXIT
    report = json.loads(done.stdout)
    assert report["ok"] is False
    redirect = next(c for c in report["checks"] if c["name"] == "redirect URI")
    assert redirect["status"] == "not confirmed" and redirect["ok"] is False
    assert redirect["detail"].endswith("after a sign-in") and redirect["fix"].startswith("sign in")
    others = [c for c in report["checks"] if c is not redirect]
    assert {c["status"] for c in others} == {"passed"}


def test_the_login_first_provider_refuses_an_unregistered_uri_after_the_password(setup):
    """What the doctor warns of: the switch makes the provider behave as the issue says."""
    provider, client = setup.login_first, setup.login_first_client
    browser = requests.Session()
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": WRONG_PATH,
        "state": "s",
        "code_challenge": "A" * 43,
        "code_challenge_method": "S256",
    }
    first = browser.get(provider.authorization_endpoint, params=params, allow_redirects=False)
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?next=")
    signed_in = browser.post(
        provider.issuer + first.headers["Location"], data={"login": "alice", "password": "pw"}
    )
    assert signed_in.status_code == 400
    assert "redirect_uri did not match any of the client&#39;s registered" in signed_in.text


def test_where_each_value_came_from(doctor, setup):
    done = result(doctor, setup, "files")
    assert done.code == 0, done.stdout + done.stderr
    line = done.line("configuration")
    folder = setup.files_dir
    assert f"client_id {setup.client.client_id} ({folder}/jupyter_server_config.py)" in line
    assert f"redirect_uri {REDIRECT_URI} ({folder}/jupyter_server_config.d/nevis.json)" in line
    assert "client_secret set (NEVIS_AUTH_CLIENT_SECRET)" in line
    assert "http_timeout 5.0 (the command line)" in line


def test_redirect_uri_from_the_server_url(doctor, setup):
    done = result(doctor, setup, "server url")
    assert done.code == 0, done.stdout
    assert done.line("redirect URI").startswith(
        f"\u2713 redirect URI: {REDIRECT_URI} (from --server-url and ServerApp.base_url) accepted"
    )


def test_without_a_redirect_uri_it_says_what_to_give(doctor, setup):
    done = result(doctor, setup, "no redirect URI")
    assert done.code == 1
    assert done.line("redirect URI") == (
        "\u2717 redirect URI: not checked: NevisAuth.redirect_uri is not set, so the server "
        "derives it from each request; run the doctor with --server-url=<the URL users open "
        "Jupyter at> (or --redirect-uri=<URI>), or set NevisAuth.redirect_uri "
        "($NEVIS_AUTH_REDIRECT_URI)."
    )


def test_an_incomplete_configuration_stops_at_the_first_check(doctor, setup):
    done = result(doctor, setup, "incomplete")
    assert done.code == 1
    assert done.names == STEPS
    assert done.lines[1:] == [
        f"{NOT_RUN} {name}: not run, as the configuration failed" for name in STEPS[1:]
    ]
    assert done.line("configuration").startswith("\u2717 configuration: issuer not set, ")
    assert done.line("configuration").endswith("; set NevisAuth.issuer (or $NEVIS_AUTH_ISSUER).")


@pytest.mark.parametrize("flag", ["help", "help-all"])
def test_help(doctor, setup, flag):
    done = result(doctor, setup, flag)
    assert done.code == 0
    assert "--server-url" in done.stdout
    assert ("--NevisAuth.issuer" in done.stdout) == (flag == "help-all")


def test_a_command_line_it_cannot_use_exits_2(doctor, setup):
    done = result(doctor, setup, "bad server url")
    assert done.code == 2
    assert done.stdout == ""
    assert "--server-url must be an absolute http(s) URL" in done.stderr


@pytest.mark.parametrize(
    ("run", "sentence"),
    [
        ("bad option value", "--NevisAuth.http_timeout must be a float.\n"),
        ("no such option", "--NevisAuth.http_timeot is not an option; see --help-all.\n"),
    ],
)
def test_an_option_of_the_command_line_it_cannot_use_exits_2_with_a_sentence(
    doctor, setup, run, sentence
):
    done = result(doctor, setup, run)
    assert (done.code, done.stdout) == (2, "")
    assert done.stderr.endswith(sentence) and "Traceback" not in done.stderr, done.stderr


def test_a_malformed_env_var_is_said_once_whatever_the_files_and_command_line_set(doctor, setup):
    done = result(doctor, setup, "files, bad env")
    line = done.line("configuration")
    assert line.lower().count("ignoring nevis_auth_clock_skew: it is not an int") == 1, line


def test_a_value_a_config_file_gives_that_cannot_be_used_fails_the_configuration(doctor, setup):
    done = result(doctor, setup, "bad file value")
    assert done.code == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.names == STEPS and done.lines[1].startswith(f"{NOT_RUN} ")
    path = setup.config_dir.parent / "bad-config" / "jupyter_server_config.json"
    assert done.line("configuration") == (
        f"\u2717 configuration: NevisAuth.http_timeout is not a float; set it to a float in {path}"
    )


def test_the_subcommand_is_listed(doctor, setup):
    done = result(doctor, setup, "extension help")
    assert done.code == 0
    assert "doctor\n    Diagnose sign-in setup" in done.stdout


def test_the_store_key_may_come_from_a_file(doctor, setup):
    done = result(doctor, setup, "store key file")
    assert done.code == 0, done.stdout + done.stderr
    assert done.line("configuration").startswith("\u2713 configuration: ")
    assert STORE_KEY not in done.stdout + done.stderr


def test_a_missing_store_key_names_both_ways_to_give_it(doctor, setup):
    done = result(doctor, setup, "no store key")
    assert done.code == 1, done.stdout + done.stderr
    assert "set NevisAuth.store_key (or $NEVIS_AUTH_STORE_KEY, or $NEVIS_AUTH_STORE_KEY_FILE " in (
        done.line("configuration")
    )
