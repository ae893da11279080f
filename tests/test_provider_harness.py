"""The test harness itself: a real OIDC provider with Nevis paths, and the protected test API."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.support.provider import (
    ACCESS_TOKEN_TYPE,
    DEFAULT_SCOPES,
    TOKEN_EXCHANGE,
    OIDCTestProvider,
    RegisteredClient,
    provider_login,
    provider_logout,
)
from tests.support.resource_server import (
    API_AUDIENCE,
    MODELS_AUDIENCE,
    SALES_AUDIENCE,
    ResourceServer,
)

# Works with or without a conftest that loads the same plugin.
pytest_plugins = ["tests.support.fixtures"]

REDIRECT_URI = "http://127.0.0.1:8888/nevis/callback"
TRICKY_SECRET = "s3:cr+et%41 /&=~"  # RFC 6749 2.3.1: form-encode before Basic
SALES_SCOPES = f"{DEFAULT_SCOPES} sales.read"


def basic_auth(client: RegisteredClient) -> str:
    """Authorization header value for client_secret_basic, encoded per RFC 6749 2.3.1."""
    credentials = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def authorize(
    provider: OIDCTestProvider,
    client: RegisteredClient,
    username: str = "alice",
    *,
    prompt: str | None = "consent",
    scope: str = DEFAULT_SCOPES,
    resources: Sequence[str] = (),
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Run the code flow up to the token response; return it with the callback parameters."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params: dict[str, str | list[str]] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": list(resources),
    }
    if prompt is not None:
        params["prompt"] = prompt
    callback = provider_login(
        f"{provider.authorization_endpoint}?{urlencode(params, doseq=True)}",
        username,
        redirect_prefix=REDIRECT_URI,
        session=session,
    )
    query = {key: values[0] for key, values in parse_qs(urlsplit(callback).query).items()}
    assert query["state"] == state
    assert query["iss"] == provider.issuer
    with requests.post(
        provider.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        headers={"Authorization": basic_auth(client)},
        timeout=10,
    ) as resp:
        assert resp.status_code == 200, resp.text
        tokens: dict[str, Any] = resp.json()
    tokens["nonce"] = nonce
    return tokens


def refresh(
    provider: OIDCTestProvider, client: RegisteredClient, refresh_token: str, **params: str
) -> requests.Response:
    """Call the token endpoint with a refresh token (params: resource, scope to narrow it)."""
    return token_request(
        provider, client, grant_type="refresh_token", refresh_token=refresh_token, **params
    )


def exchange(
    provider: OIDCTestProvider, client: RegisteredClient, subject_token: str, **params: str
) -> requests.Response:
    """RFC 8693 token exchange of an access token (params: resource, audience, scope...)."""
    return token_request(
        provider,
        client,
        **{
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            **params,
        },
    )


def token_request(
    provider: OIDCTestProvider, client: RegisteredClient, **data: str
) -> requests.Response:
    """POST to the token endpoint with client_secret_basic."""
    with requests.post(
        provider.token_endpoint,
        data=data,
        headers={"Authorization": basic_auth(client)},
        timeout=10,
    ) as resp:
        return resp


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the resource servers do the verifying)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def call_api(server: ResourceServer, token: str) -> requests.Response:
    """GET the protected endpoint with a bearer token."""
    with requests.get(
        server.hello_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as resp:
        return resp


def test_discovery_has_nevis_paths_and_iss_support(oidc_provider: OIDCTestProvider) -> None:
    with requests.get(oidc_provider.discovery_url, timeout=10) as resp:
        config = resp.json()
    issuer = oidc_provider.issuer
    assert config["issuer"] == issuer
    assert config["authorization_endpoint"] == f"{issuer}/auth/oauth2/authorize"
    assert config["token_endpoint"] == f"{issuer}/auth/oauth2/token"
    assert config["revocation_endpoint"] == f"{issuer}/auth/oauth2/revoke"
    assert config["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert config["end_session_endpoint"] == f"{issuer}/sso/logout"
    assert config["userinfo_endpoint"] == f"{issuer}/auth/oauth2/userinfo"
    assert config["authorization_response_iss_parameter_supported"] is True
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"api", "sales.read", "models.read"} <= set(config["scopes_supported"])
    assert TOKEN_EXCHANGE in config["grant_types_supported"]
    with requests.get(oidc_provider.jwks_uri, timeout=10) as resp:
        (key,) = resp.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["kid"]


def test_code_flow_gives_jwt_access_token_for_the_api(
    oidc_provider: OIDCTestProvider, resource_server: ResourceServer
) -> None:
    client = oidc_provider.add_client(REDIRECT_URI, client_secret=TRICKY_SECRET)
    tokens = authorize(oidc_provider, client)

    signing_key = jwt.PyJWKClient(oidc_provider.jwks_uri).get_signing_key_from_jwt(
        tokens["id_token"]
    )
    id_claims = jwt.decode(
        tokens["id_token"],
        signing_key.key,
        algorithms=["RS256"],
        audience=client.client_id,
        issuer=oidc_provider.issuer,
    )
    assert id_claims["sub"] == "alice"
    assert id_claims["nonce"] == tokens["nonce"]
    assert id_claims["name"] == "Alice Example"
    assert id_claims["email"] == "alice@example.test"
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600

    resource_server.reset()
    ok = call_api(resource_server, tokens["access_token"])
    assert ok.status_code == 200
    assert ok.json()["sub"] == "alice" and ok.json()["scope"] == "api"

    header, _payload, signature = tokens["access_token"].split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"mallory"}').rstrip(b"=").decode()
    for bad in (f"{header}.{forged}.{signature}", tokens["id_token"], "not-a-jwt"):
        denied = call_api(resource_server, bad)
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert resource_server.stats() == {"requests": 4, "unauthorized": 3}

    stats = oidc_provider.stats(client.client_id)
    assert stats["token"] == {"authorization_code": {"ok": 1, "error": 0, "total": 1}}
    assert stats["client_auth"] == {"client_secret_basic": 1}


def test_secret_must_be_form_encoded_in_basic_auth(oidc_provider: OIDCTestProvider) -> None:
    client = oidc_provider.add_client(REDIRECT_URI, client_secret=TRICKY_SECRET)
    raw = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    with requests.post(
        oidc_provider.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": f"Basic {raw}"},
        timeout=10,
    ) as resp:
        assert resp.status_code in (400, 401)
        assert resp.json()["error"] in ("invalid_request", "invalid_client")
    assert oidc_provider.stats(client.client_id)["token"]["refresh_token"]["error"] == 1


def test_refresh_token_needs_offline_access_and_prompt_consent(
    oidc_provider: OIDCTestProvider,
) -> None:
    client = oidc_provider.add_client(REDIRECT_URI)
    with requests.Session() as browser:
        assert "refresh_token" in authorize(oidc_provider, client, session=browser)
        # Signed in already and no prompt=consent: no pages, and offline_access is dropped.
        assert "refresh_token" not in authorize(oidc_provider, client, prompt=None, session=browser)


def test_refresh_token_rotation_and_reuse_detection(oidc_provider: OIDCTestProvider) -> None:
    client = oidc_provider.add_client(REDIRECT_URI, rotate_refresh_token=True, access_token_ttl=5)
    tokens = authorize(oidc_provider, client, "bob")
    assert tokens["expires_in"] == 5

    first = refresh(oidc_provider, client, tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert jwt.decode(rotated["id_token"], options={"verify_signature": False})["sub"] == "bob"

    # Reusing a rotated refresh token revokes the whole grant (RFC 9700 4.14.2).
    replay = refresh(oidc_provider, client, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (
        refresh(oidc_provider, client, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    )

    counts = oidc_provider.stats(client.client_id)["token"]
    assert counts["refresh_token"] == {"ok": 1, "error": 2, "total": 3}
    assert oidc_provider.token_calls(client.client_id) == 4


def test_a_reuse_grace_period_takes_a_rotated_refresh_token_again_for_its_seconds(
    oidc_provider: OIDCTestProvider,
) -> None:
    client = oidc_provider.add_client(
        REDIRECT_URI, rotate_refresh_token=True, refresh_reuse_grace=2
    )
    tokens = authorize(oidc_provider, client, "bob")
    first = refresh(oidc_provider, client, tokens["refresh_token"]).json()
    # Within the grace period: the used-up token is taken again (an answer lost on its way),
    # and both new refresh tokens work.
    again = refresh(oidc_provider, client, tokens["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] not in (first["refresh_token"], tokens["refresh_token"])
    latest = refresh(oidc_provider, client, again.json()["refresh_token"])
    assert latest.status_code == 200, latest.text
    assert oidc_provider.stats(client.client_id)["refresh_reused"] == 1
    # Counted from its first use, not from the reuse: after it, reuse ends the grant.
    time.sleep(2.2)
    late = refresh(oidc_provider, client, tokens["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    ended = refresh(oidc_provider, client, latest.json()["refresh_token"])
    assert ended.json()["error"] == "invalid_grant"


def test_refresh_without_rotation_can_omit_the_refresh_token(
    oidc_provider: OIDCTestProvider,
) -> None:
    echoing = oidc_provider.add_client(REDIRECT_URI)
    tokens = authorize(oidc_provider, echoing)
    assert (
        refresh(oidc_provider, echoing, tokens["refresh_token"]).json()["refresh_token"]
        == tokens["refresh_token"]
    )

    silent = oidc_provider.add_client(REDIRECT_URI, echo_refresh_token=False)
    tokens = authorize(oidc_provider, silent)
    answer = refresh(oidc_provider, silent, tokens["refresh_token"]).json()
    assert "refresh_token" not in answer and answer["access_token"]


def test_revoked_refresh_token_is_invalid_grant(oidc_provider: OIDCTestProvider) -> None:
    client = oidc_provider.add_client(REDIRECT_URI, client_secret=TRICKY_SECRET)
    tokens = authorize(oidc_provider, client)
    with requests.post(
        oidc_provider.revocation_endpoint,
        data={"token": tokens["refresh_token"]},
        headers={"Authorization": basic_auth(client)},
        timeout=10,
    ) as resp:
        assert resp.status_code == 200
    answer = refresh(oidc_provider, client, tokens["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    stats = oidc_provider.stats(client.client_id)
    assert stats["revocation"] == {"ok": 1, "error": 0, "total": 1}
    assert stats["token"]["refresh_token"]["error"] == 1


def test_denied_consent_redirects_with_access_denied(oidc_provider: OIDCTestProvider) -> None:
    client = oidc_provider.add_client(REDIRECT_URI)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "s1",
        "code_challenge": "A" * 43,
        "code_challenge_method": "S256",
    }
    url = provider_login(
        f"{oidc_provider.authorization_endpoint}?{urlencode(params)}",
        "carol",
        redirect_prefix=REDIRECT_URI,
        deny=True,
    )
    query = parse_qs(urlsplit(url).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s1"]
    assert query["iss"] == [oidc_provider.issuer]


def test_opaque_access_token_works_at_userinfo_and_logout(oidc_provider: OIDCTestProvider) -> None:
    bye = "http://127.0.0.1:8888/nevis/logged-out"
    client = oidc_provider.add_client(
        REDIRECT_URI, jwt_access_token=False, post_logout_redirect_uris=[bye]
    )
    with requests.Session() as browser:
        tokens = authorize(oidc_provider, client, "dave", session=browser)
        assert tokens["access_token"].count(".") == 0
        with requests.get(
            oidc_provider.userinfo_endpoint,
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=10,
        ) as resp:
            assert resp.json()["preferred_username"] == "dave"
        logout = f"{oidc_provider.end_session_endpoint}?" + urlencode(
            {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": bye, "state": "s2"}
        )
        assert provider_logout(logout, session=browser) == f"{bye}?state=s2"
    stats = oidc_provider.stats(client.client_id)
    assert stats["userinfo"]["ok"] == 1 and stats["end_session"]["ok"] == 1


def test_restart_on_same_port_keeps_clients_and_tokens() -> None:
    with OIDCTestProvider() as provider:
        client = provider.add_client(REDIRECT_URI)
        tokens = authorize(provider, client)
        issuer = provider.issuer
        provider.stop()
        with pytest.raises(requests.ConnectionError):
            refresh(provider, client, tokens["refresh_token"])
        provider.start()
        assert provider.issuer == issuer
        assert refresh(provider, client, tokens["refresh_token"]).status_code == 200


# ---------------------------------------------------------------- several APIs


@pytest.fixture(scope="module")
def sales_grant(oidc_provider: OIDCTestProvider) -> tuple[RegisteredClient, dict[str, Any]]:
    """A client whose user granted both https://api.test and https://sales.test."""
    client = oidc_provider.add_client(REDIRECT_URI)
    tokens = authorize(
        oidc_provider, client, "erin", scope=SALES_SCOPES, resources=[API_AUDIENCE, SALES_AUDIENCE]
    )
    return client, tokens


def test_code_exchange_gives_the_default_api_token_when_several_were_granted(
    sales_grant: tuple[RegisteredClient, dict[str, Any]],
) -> None:
    _client, tokens = sales_grant
    claims = claims_of(tokens["access_token"])
    assert claims["aud"] == API_AUDIENCE and claims["scope"] == "api"
    assert tokens["scope"] == "api"


@pytest.mark.parametrize("name_resources", [True, False], ids=["resources", "scopes-only"])
@pytest.mark.parametrize(
    "narrowing",
    [{"resource": SALES_AUDIENCE, "scope": "sales.read"}, {"resource": SALES_AUDIENCE}],
    ids=["resource+scope", "resource"],
)
def test_narrowed_refresh_gives_a_token_only_the_sales_api_accepts(
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
    sales_api: ResourceServer,
    name_resources: bool,
    narrowing: dict[str, str],
) -> None:
    client = oidc_provider.add_client(REDIRECT_URI)
    # Without resource parameters, the API scopes asked for select the resources.
    resources = [API_AUDIENCE, SALES_AUDIENCE] if name_resources else []
    tokens = authorize(oidc_provider, client, scope=SALES_SCOPES, resources=resources)

    answer = refresh(oidc_provider, client, tokens["refresh_token"], **narrowing)
    assert answer.status_code == 200, answer.text
    narrowed = answer.json()
    assert narrowed["scope"] == "sales.read"
    claims = claims_of(narrowed["access_token"])
    assert claims["aud"] == SALES_AUDIENCE and claims["sub"] == "alice"

    sales_api.reset()
    resource_server.reset()
    assert call_api(sales_api, narrowed["access_token"]).json()["scope"] == "sales.read"
    refused = call_api(sales_api, tokens["access_token"])
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert call_api(resource_server, narrowed["access_token"]).status_code == 401
    assert sales_api.stats() == {"requests": 2, "unauthorized": 1, "forbidden": 0}
    assert resource_server.stats() == {"requests": 1, "unauthorized": 1}

    # The refresh token still covers the default API.
    plain = refresh(oidc_provider, client, tokens["refresh_token"]).json()
    assert claims_of(plain["access_token"])["aud"] == API_AUDIENCE
    assert oidc_provider.stats(client.client_id)["token"]["refresh_token"]["ok"] == 2


def test_narrowed_refresh_by_scope_alone_picks_the_api_of_that_scope(
    oidc_provider: OIDCTestProvider, sales_grant: tuple[RegisteredClient, dict[str, Any]]
) -> None:
    client, tokens = sales_grant
    narrowed = refresh(oidc_provider, client, tokens["refresh_token"], scope="sales.read").json()
    assert claims_of(narrowed["access_token"])["aud"] == SALES_AUDIENCE
    # RFC 6749 section 6: without openid in the narrowed scope, no new ID token.
    assert narrowed["scope"] == "sales.read" and "id_token" not in narrowed


@pytest.mark.parametrize(
    ("narrowing", "error"),
    [
        ({"resource": MODELS_AUDIENCE}, "invalid_target"),
        ({"resource": "https://unknown.test"}, "invalid_target"),
        ({"scope": "models.read"}, "invalid_scope"),
        ({"resource": MODELS_AUDIENCE, "scope": "models.read"}, "invalid_scope"),
        ({"resource": SALES_AUDIENCE, "scope": "api"}, "invalid_scope"),
    ],
)
def test_narrowed_refresh_beyond_the_grant_is_refused(
    oidc_provider: OIDCTestProvider,
    sales_grant: tuple[RegisteredClient, dict[str, Any]],
    narrowing: dict[str, str],
    error: str,
) -> None:
    client, tokens = sales_grant
    answer = refresh(oidc_provider, client, tokens["refresh_token"], **narrowing)
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def test_client_can_be_refused_narrowed_refresh(oidc_provider: OIDCTestProvider) -> None:
    client = oidc_provider.add_client(REDIRECT_URI, narrow_refresh=False)
    tokens = authorize(oidc_provider, client, scope=SALES_SCOPES)
    by_resource = refresh(oidc_provider, client, tokens["refresh_token"], resource=SALES_AUDIENCE)
    assert by_resource.json()["error"] == "invalid_target"
    by_scope = refresh(oidc_provider, client, tokens["refresh_token"], scope="sales.read")
    assert by_scope.json()["error"] == "invalid_scope"
    assert refresh(oidc_provider, client, tokens["refresh_token"]).status_code == 200
    # The grant still covers the sales API: token exchange reaches it.
    assert exchange(oidc_provider, client, tokens["access_token"], resource=SALES_AUDIENCE).ok


def test_authorization_for_an_unknown_resource_is_invalid_target(
    oidc_provider: OIDCTestProvider,
) -> None:
    client = oidc_provider.add_client(REDIRECT_URI)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "s3",
        "resource": "https://unknown.test",
        "code_challenge": "A" * 43,
        "code_challenge_method": "S256",
    }
    url = provider_login(
        f"{oidc_provider.authorization_endpoint}?{urlencode(params)}",
        "frank",
        redirect_prefix=REDIRECT_URI,
    )
    query = parse_qs(urlsplit(url).query)
    assert query["error"] == ["invalid_target"] and query["state"] == ["s3"]


def test_resource_server_with_a_scope_answers_insufficient_scope(
    oidc_provider: OIDCTestProvider, sales_grant: tuple[RegisteredClient, dict[str, Any]]
) -> None:
    _client, tokens = sales_grant
    with ResourceServer(oidc_provider.issuer, scope="api.admin") as admin_api:
        refused = call_api(admin_api, tokens["access_token"])
        assert refused.status_code == 403
        assert refused.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="api.admin"'
        )
        assert call_api(admin_api, "not-a-jwt").status_code == 401
        assert admin_api.stats() == {"requests": 2, "unauthorized": 1, "forbidden": 1}


# ---------------------------------------------------------------- token exchange


def test_token_exchange_turns_the_default_token_into_a_sales_token(
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
    sales_api: ResourceServer,
) -> None:
    # Without offline_access: exchange needs no refresh token, only the grant.
    client = oidc_provider.add_client(REDIRECT_URI)
    tokens = authorize(oidc_provider, client, "grace", scope="openid api sales.read")
    assert "refresh_token" not in tokens

    answer = exchange(oidc_provider, client, tokens["access_token"], resource=SALES_AUDIENCE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    exchanged = answer.json()
    assert exchanged["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert exchanged["token_type"] == "Bearer" and exchanged["expires_in"] == 3600
    assert exchanged["scope"] == "sales.read"
    claims = claims_of(exchanged["access_token"])
    assert claims["aud"] == SALES_AUDIENCE and claims["sub"] == "grace"
    assert claims["client_id"] == client.client_id

    sales_api.reset()
    assert call_api(sales_api, exchanged["access_token"]).json()["sub"] == "grace"
    assert call_api(resource_server, exchanged["access_token"]).status_code == 401
    assert sales_api.stats() == {"requests": 1, "unauthorized": 0, "forbidden": 0}

    # audience names the API as well as resource; an exchanged token can be exchanged back.
    by_audience = exchange(oidc_provider, client, tokens["access_token"], audience=SALES_AUDIENCE)
    assert claims_of(by_audience.json()["access_token"])["aud"] == SALES_AUDIENCE
    back = exchange(oidc_provider, client, exchanged["access_token"])
    assert claims_of(back.json()["access_token"])["aud"] == API_AUDIENCE
    counts = oidc_provider.stats(client.client_id)["token"]
    assert counts[TOKEN_EXCHANGE] == {"ok": 3, "error": 0, "total": 3}


def test_token_exchange_follows_an_incremental_consent(oidc_provider: OIDCTestProvider) -> None:
    client = oidc_provider.add_client(REDIRECT_URI)
    with requests.Session() as browser:
        first = authorize(oidc_provider, client, session=browser)
        assert not exchange(
            oidc_provider, client, first["access_token"], resource=SALES_AUDIENCE
        ).ok
        # Asking for a new scope brings the consent page up again, without prompt=consent.
        authorize(oidc_provider, client, prompt=None, scope="openid sales.read", session=browser)
    # The grant grew; the old refresh token keeps the resources it was issued for.
    assert exchange(oidc_provider, client, first["access_token"], resource=SALES_AUDIENCE).ok
    narrowed = refresh(oidc_provider, client, first["refresh_token"], resource=SALES_AUDIENCE)
    assert narrowed.json()["error"] == "invalid_target"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"resource": "https://unknown.test"}, "invalid_target"),
        ({"audience": "https://unknown.test"}, "invalid_target"),
        ({"resource": MODELS_AUDIENCE}, "invalid_target"),  # a known API not granted
        ({"resource": SALES_AUDIENCE, "audience": API_AUDIENCE}, "invalid_target"),
        ({"resource": SALES_AUDIENCE, "scope": "api"}, "invalid_scope"),
        ({"resource": SALES_AUDIENCE, "scope": "sales.write"}, "invalid_scope"),
        ({"subject_token": ""}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
    ],
)
def test_token_exchange_request_errors(
    oidc_provider: OIDCTestProvider,
    sales_grant: tuple[RegisteredClient, dict[str, Any]],
    params: dict[str, str],
    error: str,
) -> None:
    client, tokens = sales_grant
    params = dict(params)
    subject = params.pop("subject_token", tokens["access_token"])
    answer = exchange(oidc_provider, client, subject, **params)
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def forged(token: str) -> str:
    """The token with another subject and its original signature."""
    header, _payload, signature = token.split(".")
    payload = base64.urlsafe_b64encode(b'{"sub":"mallory"}').rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize(
    "bad_subject",
    [
        lambda tokens: "not-a-token",
        lambda tokens: forged(tokens["access_token"]),
        lambda tokens: tokens["id_token"],
    ],
    ids=["garbage", "forged", "id-token"],
)
def test_token_exchange_of_a_bad_subject_token_is_invalid_grant(
    oidc_provider: OIDCTestProvider,
    sales_grant: tuple[RegisteredClient, dict[str, Any]],
    bad_subject: Callable[[dict[str, Any]], str],
) -> None:
    client, tokens = sales_grant
    answer = exchange(oidc_provider, client, bad_subject(tokens), resource=SALES_AUDIENCE)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_token_exchange_refuses_stale_or_foreign_subject_tokens(
    oidc_provider: OIDCTestProvider,
) -> None:
    client = oidc_provider.add_client(REDIRECT_URI, access_token_ttl=1)
    tokens = authorize(oidc_provider, client, scope=SALES_SCOPES)
    other = oidc_provider.add_client(REDIRECT_URI)
    foreign = exchange(oidc_provider, other, tokens["access_token"], resource=SALES_AUDIENCE)
    assert foreign.json()["error"] == "invalid_grant"

    time.sleep(max(0.0, claims_of(tokens["access_token"])["exp"] - time.time()) + 0.05)
    expired = exchange(oidc_provider, client, tokens["access_token"], resource=SALES_AUDIENCE)
    assert expired.json()["error"] == "invalid_grant"

    fresh = refresh(oidc_provider, client, tokens["refresh_token"]).json()
    with requests.post(
        oidc_provider.revocation_endpoint,
        data={"token": tokens["refresh_token"]},
        headers={"Authorization": basic_auth(client)},
        timeout=10,
    ) as resp:
        assert resp.status_code == 200
    # Revoking the refresh token revokes the grant, and every exchange from it.
    revoked = exchange(oidc_provider, client, fresh["access_token"], resource=SALES_AUDIENCE)
    assert revoked.json()["error"] == "invalid_grant"


def test_clients_can_be_refused_token_exchange(oidc_provider: OIDCTestProvider) -> None:
    refused = oidc_provider.add_client(REDIRECT_URI, token_exchange=False)
    tokens = authorize(oidc_provider, refused, scope=SALES_SCOPES)
    answer = exchange(oidc_provider, refused, tokens["access_token"], resource=SALES_AUDIENCE)
    assert answer.status_code == 400 and answer.json()["error"] == "unauthorized_client"

    # oidc-provider itself answers invalid_request for a grant type the client lacks.
    unregistered = oidc_provider.add_client(
        REDIRECT_URI, grant_types=["authorization_code", "refresh_token"]
    )
    tokens = authorize(oidc_provider, unregistered, scope=SALES_SCOPES)
    answer = exchange(oidc_provider, unregistered, tokens["access_token"])
    assert answer.json()["error"] == "invalid_request"
    assert oidc_provider.token_calls(refused.client_id, TOKEN_EXCHANGE) == 1


# ---------------------------------------------------------------- a second provider


def test_second_provider_is_independent(
    oidc_provider: OIDCTestProvider,
    second_oidc_provider: OIDCTestProvider,
    sales_api: ResourceServer,
    models_api: ResourceServer,
    sales_grant: tuple[RegisteredClient, dict[str, Any]],
) -> None:
    assert second_oidc_provider.issuer != oidc_provider.issuer
    keys = [
        requests.get(p.jwks_uri, timeout=10).json()["keys"][0]["n"]
        for p in (oidc_provider, second_oidc_provider)
    ]
    assert keys[0] != keys[1]

    client = second_oidc_provider.add_client(REDIRECT_URI)
    tokens = authorize(second_oidc_provider, client, "heidi", scope=f"{DEFAULT_SCOPES} models.read")
    models = refresh(
        second_oidc_provider, client, tokens["refresh_token"], resource=MODELS_AUDIENCE
    )
    models_token = models.json()["access_token"]
    assert claims_of(models_token)["iss"] == second_oidc_provider.issuer

    sales_client, sales_tokens = sales_grant
    sales = exchange(
        oidc_provider,
        sales_client,
        sales_tokens["access_token"],
        scope="sales.read",
        resource=SALES_AUDIENCE,
    )
    models_api.reset()
    sales_api.reset()
    assert call_api(models_api, models_token).json()["scope"] == "models.read"
    assert call_api(sales_api, models_token).status_code == 401
    assert call_api(models_api, sales.json()["access_token"]).status_code == 401
    assert models_api.stats() == {"requests": 2, "unauthorized": 1, "forbidden": 0}
    assert sales_api.stats() == {"requests": 1, "unauthorized": 1, "forbidden": 0}

    # Clients and counters are per provider.
    assert second_oidc_provider.token_calls(client.client_id) == 2
    assert oidc_provider.token_calls(client.client_id) == 0
    unknown = refresh(oidc_provider, client, tokens["refresh_token"])
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
