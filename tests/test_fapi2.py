"""profile = "fapi2": what it requires of the configuration and the provider, and the doctor."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from jupyter_nevis_auth.core.client_keys import new_client_key, parse_client_keys
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.oidc import OIDCClient
from jupyter_nevis_auth.oidc.profile import dpop_warning, fapi2_problems
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login

DOCTOR = [sys.executable, "-m", "jupyter_nevis_auth.server.app", "doctor"]
REDIRECT_URI = "http://127.0.0.1:8888/nevis/callback"


@pytest.fixture(scope="module")
def fapi_provider() -> Iterator[OIDCTestProvider]:
    """A provider with everything FAPI 2.0 asks for: PAR, private_key_jwt, DPoP, iss, S256."""
    with OIDCTestProvider(par=True, key_auth=True, dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def private_key() -> dict[str, Any]:
    return new_client_key("ES256")


@pytest.fixture
def key_file(tmp_path: Path, private_key: dict[str, Any]) -> Path:
    path = tmp_path / "client-key.json"
    path.write_text(json.dumps({"keys": [private_key]}))
    path.chmod(0o600)
    return path


def register(provider: OIDCTestProvider, redirect_uri: str, key: dict[str, Any]) -> Any:
    public = parse_client_keys(json.dumps(key), "key").public_jwks()
    return provider.add_client(
        [redirect_uri], token_endpoint_auth_method="private_key_jwt", jwks=public
    )


async def fapi2_metadata(provider: OIDCTestProvider) -> Any:
    """The provider's metadata as the server reads it from discovery."""
    config = NevisAuth(issuer=provider.issuer, client_id="c", client_secret="s")
    return await OIDCClient(config).metadata()


LACKING = [
    (
        {"pushed_authorization_request_endpoint": ""},
        "pushed authorization requests (no pushed_authorization_request_endpoint)",
    ),
    (
        {"token_endpoint_auth_methods_supported": ("client_secret_basic",)},
        "private_key_jwt (not in token_endpoint_auth_methods_supported)",
    ),
    (
        {"code_challenge_methods_supported": ("plain",)},
        "PKCE S256 (not in code_challenge_methods_supported)",
    ),
    (
        {"dpop_signing_alg_values_supported": ("EdDSA",)},
        "DPoP with ES256 (not in dpop_signing_alg_values_supported)",
    ),
    (
        {"authorization_response_iss_parameter_supported": False},
        "the iss authorization response parameter "
        "(no authorization_response_iss_parameter_supported)",
    ),
]


@pytest.mark.parametrize(("change", "piece"), LACKING)
async def test_each_piece_the_provider_lacks_is_named(
    fapi_provider: OIDCTestProvider, change: dict[str, Any], piece: str
):
    metadata = await fapi2_metadata(fapi_provider)
    config = NevisAuth(profile="fapi2", dpop=True)
    assert fapi2_problems(config, metadata) == []
    problems = fapi2_problems(config, dataclasses.replace(metadata, **change))
    assert problems == [
        f'NevisAuth.profile "fapi2" needs {piece}, which the provider does not advertise; '
        "enable it for the application at the provider."
    ]


async def test_dpop_without_fapi2_warns_when_the_provider_lists_no_es256_proofs(
    fapi_provider: OIDCTestProvider, oidc_provider: OIDCTestProvider
):
    config = NevisAuth(issuer=oidc_provider.issuer, client_id="c", client_secret="s", dpop=True)
    # The plain test provider has DPoP off, so its discovery names no proof algorithm.
    without = await OIDCClient(config).metadata()
    assert without.dpop_signing_alg_values_supported == ()
    warning = dpop_warning(config, without)
    assert warning.startswith("The provider does not list ES256 in dpop_signing_alg_values")
    assert warning in await OIDCClient(config).problems()
    assert "ES256" in (await fapi2_metadata(fapi_provider)).dpop_signing_alg_values_supported
    assert dpop_warning(config, await fapi2_metadata(fapi_provider)) == ""
    assert dpop_warning(NevisAuth(dpop=False), without) == ""


@pytest.mark.parametrize(
    ("settings", "phrase"),
    [
        ({}, 'NevisAuth.profile "fapi2" needs sender-constrained tokens: DPoP must be on'),
        ({"dpop": True, "client_key_file": ""}, "Set NevisAuth.client_key_file"),
        (
            {"dpop": True, "use_par": "never"},
            'NevisAuth.profile "fapi2" needs pushed authorization requests; unset '
            "NevisAuth.use_par",
        ),
        (
            {"dpop": True, "token_endpoint_auth_method": "client_secret_basic"},
            'NevisAuth.profile "fapi2" authenticates the client with private_key_jwt',
        ),
    ],
)
def test_a_configuration_short_of_fapi2_says_what_to_set(
    key_file: Path, settings: dict[str, Any], phrase: str
):
    config = NevisAuth(
        issuer="https://id.example",
        client_id="c",
        profile="fapi2",
        **{"client_key_file": str(key_file), **settings},
    )
    assert any(phrase in p for p in config.problems()), config.problems()


@pytest.fixture
def fapi_settings() -> dict[str, Any]:
    """What the test's server sets besides profile fapi2 and the key file."""
    return {"dpop": True}


@pytest.fixture
def oidc_client(
    fapi_provider: OIDCTestProvider, redirect_uri: str, private_key: dict[str, Any]
) -> RegisteredClient:
    return register(fapi_provider, redirect_uri, private_key)


@pytest.fixture
def nevis_config(
    fapi_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    key_file: Path,
    fapi_settings: dict[str, Any],
) -> dict[str, Any]:
    return oidc_client.nevis_settings(
        fapi_provider.issuer,
        http_timeout=5.0,
        client_secret="",
        profile="fapi2",
        client_key_file=str(key_file),
        **fapi_settings,
    )


@pytest.mark.parametrize("fapi_settings", [{}])
async def test_fapi2_without_dpop_refuses_sign_ins_with_a_sentence(
    fapi_settings: dict[str, Any], browser: Browser
):
    response = await browser.get("nevis", "login")
    assert response.code == 503
    text = html.unescape(response.body.decode())
    assert 'NevisAuth.profile "fapi2" needs sender-constrained tokens: DPoP must be on' in text
    assert "Traceback" not in text


async def test_a_fapi2_sign_in_pushes_its_request_and_checks_iss(
    browser: Browser,
    redirect_uri: str,
    username: str,
    fapi_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    url = await browser.start_login()
    assert set(parse_qs(urlparse(url).query)) == {"client_id", "request_uri"}
    stats = fapi_provider.stats(oidc_client.client_id)
    assert stats["client_auth"] == {"private_key_jwt": 1}
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body
    assert fapi_provider.stats(oidc_client.client_id)["token"]["authorization_code"]["ok"] == 1


async def test_a_fapi2_callback_without_iss_is_refused(
    browser: Browser, redirect_uri: str, username: str
):
    authorize = await browser.start_login()
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    query = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items() if k != "iss"}
    response = await browser.callback(f"{redirect_uri}?{urlencode(query)}")
    assert response.code == 400
    assert "lacks the issuer the provider promised" in html.unescape(response.body.decode())


def doctor(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")}
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    return subprocess.run(
        DOCTOR,
        env={**base, "JUPYTER_CONFIG_DIR": str(config_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def line(result: subprocess.CompletedProcess[str], name: str) -> str:
    return next(x for x in result.stdout.splitlines() if x[2:].startswith(name + ": "))


def fapi_env(
    provider: OIDCTestProvider, client: RegisteredClient, key_file: Path
) -> dict[str, str]:
    return {
        "NEVIS_AUTH_ISSUER": provider.issuer,
        "NEVIS_AUTH_CLIENT_ID": client.client_id,
        "NEVIS_AUTH_REDIRECT_URI": REDIRECT_URI,
        "NEVIS_AUTH_PROFILE": "fapi2",
        "NEVIS_AUTH_DPOP": "true",
        "NEVIS_AUTH_CLIENT_KEY_FILE": str(key_file),
    }


def test_the_doctor_passes_a_fapi2_setup_and_names_what_is_in_use(
    tmp_path: Path, fapi_provider: OIDCTestProvider, key_file: Path, private_key: dict[str, Any]
):
    client = register(fapi_provider, REDIRECT_URI, private_key)
    result = doctor(fapi_env(fapi_provider, client, key_file), tmp_path)
    features = line(result, "provider features")
    assert features.startswith("\u2713"), result.stdout
    assert "pushed authorization requests" in features
    assert f"private_key_jwt (ES256, kid {private_key['kid']}, 1 key(s) published)" in features
    assert "every FAPI 2.0 requirement" in features
    assert "DPoP (ES256 proofs)" in features
    authentication = line(result, "client authentication")
    assert authentication.startswith("\u2713 client authentication: private_key_jwt accepted")
    assert private_key["d"] not in result.stdout + result.stderr


def test_the_doctor_names_what_a_provider_lacks_for_fapi2(
    tmp_path: Path,
    oidc_provider: OIDCTestProvider,
    key_file: Path,
    private_key: dict[str, Any],
):
    client = oidc_provider.add_client([REDIRECT_URI])
    result = doctor(fapi_env(oidc_provider, client, key_file), tmp_path)
    assert result.returncode == 1
    features = line(result, "provider features")
    # Each lack once, each fix once.
    assert features.startswith(
        "\u2717 provider features: the provider lacks pushed authorization requests (no "
        "pushed_authorization_request_endpoint); private_key_jwt (not in "
        "token_endpoint_auth_methods_supported); DPoP with ES256 (not in "
        "dpop_signing_alg_values_supported); set NevisAuth.par_url ($NEVIS_AUTH_PAR_URL) if it "
        "has one. Enable it for the application at the provider."
    ), features
    assert "advertises" not in features


def test_the_doctor_blames_a_key_file_anybody_can_read_on_the_file_not_the_provider(
    tmp_path: Path, fapi_provider: OIDCTestProvider, key_file: Path, private_key: dict[str, Any]
):
    client = register(fapi_provider, REDIRECT_URI, private_key)
    key_file.chmod(0o644)
    result = doctor(fapi_env(fapi_provider, client, key_file), tmp_path)
    assert result.returncode == 1
    problem = f"the client key file {key_file} can be read or written by anybody"
    features = line(result, "provider features")
    assert features.startswith(f"\u2717 provider features: no usable client key: {problem}; ")
    assert "lacks" not in features
    pushed = line(result, "redirect URI")
    assert pushed.startswith(f"\u2717 redirect URI: {problem}; ") and "try again" not in pushed
    assert private_key["d"] not in result.stdout + result.stderr


def test_the_doctor_stops_at_the_configuration_without_dpop(
    tmp_path: Path, fapi_provider: OIDCTestProvider, key_file: Path, private_key: dict[str, Any]
):
    client = register(fapi_provider, REDIRECT_URI, private_key)
    env = {**fapi_env(fapi_provider, client, key_file), "NEVIS_AUTH_DPOP": "false"}
    result = doctor(env, tmp_path)
    assert result.returncode == 1
    assert "DPoP must be on" in line(result, "configuration")


@pytest.fixture(scope="module")
def par_required_provider() -> Iterator[OIDCTestProvider]:
    """A provider whose authorization endpoint takes pushed requests only."""
    with OIDCTestProvider(par="required") as provider:
        yield provider


@pytest.mark.parametrize(
    ("registered", "mark", "phrase"),
    [
        (
            REDIRECT_URI,
            "\u2713",
            f"{REDIRECT_URI} accepted by the pushed authorization request endpoint, which "
            "refused an unregistered one beside it (invalid_request)",
        ),
        (
            "http://127.0.0.1:8888/other/nevis/callback",
            "\u2717",
            f"{REDIRECT_URI}: the pushed authorization request endpoint refused it "
            "(invalid_request); register",
        ),
    ],
)
def test_the_doctor_asks_the_par_endpoint_about_the_redirect_uri(
    tmp_path: Path,
    par_required_provider: OIDCTestProvider,
    registered: str,
    mark: str,
    phrase: str,
):
    client = par_required_provider.add_client([registered])
    env = {
        "NEVIS_AUTH_ISSUER": par_required_provider.issuer,
        "NEVIS_AUTH_CLIENT_ID": client.client_id,
        "NEVIS_AUTH_CLIENT_SECRET": client.client_secret,
        "NEVIS_AUTH_REDIRECT_URI": REDIRECT_URI,
    }
    result = doctor(env, tmp_path)
    checked = line(result, "redirect URI")
    assert checked.startswith(mark), result.stdout
    assert phrase in checked
